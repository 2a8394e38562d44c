//! `corpus`: builds GPT-3-style pre-training corpora from raw sources into llm.c-compatible token shards.
//!
//! This crate is the composition layer (DESIGN.md §2): configuration, source readers, storage over
//! `object_store`, the stage runner and its stages, reports, and the CLI. Algorithms live in the stage
//! crates (`corpus-quality`, `corpus-tokenizer`, `corpus-sharder`, `corpus-dedup`,
//! `corpus-contamination`).

pub mod bench;
pub mod cli;
pub mod config;
pub mod docs;
pub mod inspect;
pub mod plan;
pub mod progress;
pub mod quality_tool;
pub mod report_sql;
pub mod runner;
pub mod sources;
pub mod stages;
pub mod storage;
pub mod train;
