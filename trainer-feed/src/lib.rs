//! Feeding token shards to the trainer, and the bundled GPT trainer's CPU reference (docs/ARCHITECTURE.md §7).
//!
//! The trainer consumes batches of `B` windows of `T + 1` consecutive tokens cut from llm.c-format shards
//! (docs/ARCHITECTURE.md §5): the first `T` tokens are the inputs, the last `T` the next-token targets. This crate owns
//! the host side of that feed and the CPU trainer:
//!
//! - [`WindowSampler`] cuts validated in-memory shards into windows, visits them in a seeded order per epoch,
//!   gives data-parallel ranks disjoint windows and saves/restores its [`SamplerPosition`] so a resumed run
//!   sees exactly the batches it would have seen; [`Feeder`] runs it on a background thread, a bounded
//!   queue of batches ahead of the training step.
//! - [`Gpt`] is a GPT-2/GPT-3 decoder ([`GptConfig`], presets `tiny`, `gpt2-124m`, `gpt2-350m`,
//!   `gpt3-125m`) with the forward and backward pass written out per operation ([`ops`], [`matmul`]),
//!   generic over [`Float`] so the gradient checks run the training code in `f64`.
//! - [`AdamW`] with [`LrSchedule`] and global-norm clipping, and [`Trainer`], which steps them with
//!   gradient accumulation and saves and restores everything in one [`checkpoint`] file.

pub mod checkpoint;
mod config;
mod feeder;
mod float;
pub mod matmul;
mod model;
pub mod ops;
mod optim;
mod rng;
mod train;
mod windows;

pub use config::{ConfigError, GPT2_VOCAB, GptConfig, PRESETS, VOCAB_PAD_MULTIPLE};
pub use feeder::{Batch, Feeder};
pub use float::Float;
pub use model::{Gpt, ModelError, PARAM_NAMES, TensorSpec, param_specs};
pub use optim::{AdamW, LrSchedule, clip_grad_norm};
pub use train::{StepStats, TrainConfig, TrainError, Trainer};
pub use windows::{SamplerConfig, SamplerPosition, WindowError, WindowSampler};
