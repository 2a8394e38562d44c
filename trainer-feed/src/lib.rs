//! Feeding token shards to the trainer (DESIGN.md §7).
//!
//! The trainer consumes batches of `B` windows of `T + 1` consecutive tokens cut from llm.c-format shards
//! (DESIGN.md §5): the first `T` tokens are the inputs, the last `T` the next-token targets. This crate owns
//! the host side of that feed:
//!
//! - [`WindowSampler`] cuts validated in-memory shards into windows, visits them in a seeded order per epoch,
//!   gives data-parallel ranks disjoint windows and saves/restores its [`SamplerPosition`] so a resumed run
//!   sees exactly the batches it would have seen.

mod windows;

pub use windows::{SamplerConfig, SamplerPosition, WindowError, WindowSampler};
