//! End-to-end tests: run the `corpus` binary on the bundled sample data (`tests/data`). One test binary
//! (docs/ARCHITECTURE.md §10), one module per property.

#![allow(clippy::unwrap_used)]

mod accounting;
mod bad_config;
mod build;
mod decontam;
mod dedup;
mod determinism;
mod mix;
mod quality;
mod restart;
mod s3;
mod stage_command;
mod train;
