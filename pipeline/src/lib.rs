//! `corpus`: builds GPT-3-style pre-training corpora from raw sources into llm.c-compatible token shards.
//!
//! This crate is the composition layer (docs/ARCHITECTURE.md §2): configuration, the run plan, the
//! stage runner and its executors, the stages (thin adapters over the library crates), and the CLI.
//! Readers live in `corpus-readers`, storage and the document tables in `corpus-store`, algorithms in
//! the stage crates (`corpus-quality`, `corpus-dedup`, `corpus-contamination`, `corpus-tokenizer`,
//! `corpus-sharder`, `corpus-shuffle`).

pub mod cli;
pub mod config;
pub mod plan;
pub mod progress;
pub mod runner;
pub mod stages;
