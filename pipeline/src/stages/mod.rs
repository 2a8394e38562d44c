//! The stages of a run, in order. Adding a stage is one module implementing [`Stage`] plus one line here;
//! dedup, decontamination and mixing slot in between `quality` and `tokenize`.

mod ingest;
mod quality;
pub mod shard;
mod tokenize;

pub use ingest::Ingest;
pub use quality::{Quality, QualityPlan};
pub use shard::{MANIFEST, Shard};
pub use tokenize::Tokenize;

use crate::runner::Stage;

/// Every stage, in execution order.
pub fn all() -> Vec<Box<dyn Stage>> {
    vec![
        Box::new(Ingest),
        Box::new(Quality),
        Box::new(Tokenize),
        Box::new(Shard),
    ]
}

/// Names of every stage, for CLI help and errors.
pub fn names() -> Vec<&'static str> {
    all().iter().map(|s| s.name()).collect()
}
