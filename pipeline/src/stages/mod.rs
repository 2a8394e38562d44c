//! The stages of a run, in order. Adding a stage is one module implementing [`Stage`] plus one line here.

mod decontam;
mod dedup;
mod ingest;
pub mod mix;
mod quality;
mod runs;
pub mod shard;
mod tokenize;

pub use decontam::{DecontamCount, Decontaminate};
pub use dedup::{DedupCandidates, DedupClusters, DedupComponents, DedupFilter, DedupSignatures};
pub use ingest::Ingest;
pub use mix::Mix;
pub use quality::{Quality, quality_output_schema};
pub use shard::Shard;
pub use tokenize::Tokenize;

use crate::runner::Stage;

/// Every stage, in execution order.
pub fn all() -> Vec<Box<dyn Stage>> {
    vec![
        Box::new(Ingest),
        Box::new(Quality),
        Box::new(DedupSignatures),
        Box::new(DedupCandidates),
        Box::new(DedupComponents),
        Box::new(DedupClusters),
        Box::new(DedupFilter),
        Box::new(DecontamCount),
        Box::new(Decontaminate),
        Box::new(Tokenize),
        Box::new(Mix),
        Box::new(Shard),
    ]
}

/// Names of every stage, for CLI help and errors.
pub fn names() -> Vec<&'static str> {
    all().iter().map(|s| s.name()).collect()
}
