//! What several stages share about text (docs/ARCHITECTURE.md §2): Python's string semantics (the
//! quality rules and the decontamination matcher reproduce Python tools), and Spark ML's `Tokenizer` and
//! `HashingTF` (the GPT-3 quality classifier's features and GPT-3-mode fuzzy dedup's sets).

pub mod python;
pub mod spark;
pub mod tokens;
