//! Quality filtering of documents (docs/ARCHITECTURE.md §1, stage `quality`).
//!
//! Two families of filters, both pure functions of a document's text:
//!
//! - [`classifier`]: the GPT-3 quality classifier (Brown et al. 2020, App. A): hashed term counts and a
//!   logistic regression separating curated text from raw Common Crawl, with [`pareto`] resampling that keeps
//!   a document with probability `(2 - score)^-alpha`;
//! - [`rules`]: the published heuristic filters (Gopher quality and repetition, C4, FineWeb), each returning
//!   a [`Rejection`] that names the rule and the measured value.
//!
//! plus [`langid`], language identification with `whatlang`.

pub mod classifier;
pub mod langid;
pub mod pareto;
pub mod rules;

/// Why a filter removed a document: the filter, the rule inside it, the measured value and the threshold it
/// crossed. `reason` uses datatrove's names where datatrove has the same rule, so reports can be compared.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// The filter (`gopher_quality`, `gopher_repetition`, `c4`, `fineweb`, `language`, `classifier`).
    pub filter: &'static str,
    /// The rule inside the filter (e.g. `gopher_below_avg_threshold`).
    pub reason: &'static str,
    /// The measured value.
    pub value: f64,
    /// The threshold the value crossed.
    pub threshold: f64,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} = {} (threshold {})",
            self.filter, self.reason, self.value, self.threshold
        )
    }
}
