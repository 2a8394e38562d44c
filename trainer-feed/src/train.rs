//! The training loop's state and step: a [`Gpt`] in `f32`, its [`AdamW`] state, the step count and the data
//! position, one step = gradient accumulation over micro-batches, clipping and one update; saved to and
//! restored from one safetensors checkpoint, so a resumed run continues with exactly the losses of an
//! uninterrupted one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::checkpoint::{CheckpointError, TensorFile, TensorRef, write};
use crate::config::GptConfig;
use crate::feeder::Batch;
use crate::model::{Gpt, ModelError};
use crate::optim::{AdamW, LrSchedule, clip_grad_norm};
use crate::windows::{SamplerPosition, WindowError, WindowSampler};

/// The `__metadata__` key of a checkpoint's training state (JSON).
const STATE_KEY: &str = "corpus.trainer";
/// Version of the checkpoint layout.
const CHECKPOINT_FORMAT: u32 = 1;

/// Everything that determines a training run; a resumed run must be given the same.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The model's shape.
    pub model: GptConfig,
    /// `B`: sequences per micro-batch.
    pub batch: usize,
    /// `T`: tokens per sequence, at most the model's context.
    pub seq_len: usize,
    /// Micro-batches whose gradients are summed into one step (token batch = `B · T · accum_steps` per
    /// rank).
    pub accum_steps: usize,
    /// Steps of the run (the horizon of the cosine decay).
    pub steps: u64,
    /// Peak learning rate.
    pub max_lr: f64,
    /// Learning rate at the end of the cosine decay.
    pub min_lr: f64,
    /// Steps of linear warmup.
    pub warmup: u64,
    /// AdamW's decoupled weight decay of matrices.
    pub weight_decay: f64,
    /// Maximum global gradient norm.
    pub grad_clip: f64,
    /// Seed of the initial weights and of the window order.
    pub seed: u64,
    /// This process's data-parallel rank.
    pub rank: usize,
    /// Number of data-parallel ranks.
    pub world_size: usize,
}

impl TrainConfig {
    /// The learning-rate schedule of this run.
    pub fn schedule(&self) -> LrSchedule {
        LrSchedule {
            max_lr: self.max_lr,
            min_lr: self.min_lr,
            warmup: self.warmup,
            steps: self.steps,
        }
    }

    /// Tokens trained on per step by this rank.
    pub fn tokens_per_step(&self) -> usize {
        self.batch * self.seq_len * self.accum_steps
    }
}

/// Why training could not go on.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A setting is out of range; `field` names it as the command line does.
    #[error("{field}: {message}")]
    Invalid {
        /// The setting, e.g. `batch`.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The model refused a batch.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The data could not be read.
    #[error(transparent)]
    Data(#[from] WindowError),
    /// The feeder stopped handing out batches.
    #[error("the data feeder stopped")]
    FeedEnded,
    /// A checkpoint could not be read.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// A checkpoint was written by a run with other settings.
    #[error("the checkpoint was written with {field} = {saved}, this run asks for {requested}")]
    Mismatch {
        /// The setting that differs.
        field: &'static str,
        /// Its value in the checkpoint.
        saved: String,
        /// Its value now.
        requested: String,
    },
}

/// What one [`Trainer::train_step`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    /// Steps done, counting this one.
    pub step: u64,
    /// Mean training loss over the step's micro-batches.
    pub loss: f32,
    /// Learning rate of the update.
    pub lr: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
}

/// The JSON of a checkpoint's [`STATE_KEY`] metadata.
#[derive(Debug, Serialize, Deserialize)]
struct SavedState {
    format: u32,
    config: TrainConfig,
    step: u64,
    adam_updates: u64,
    data_epoch: u64,
    data_index: u64,
}

/// A training run in progress.
#[derive(Debug)]
pub struct Trainer {
    config: TrainConfig,
    model: Gpt<f32>,
    optimizer: AdamW<f32>,
    step: u64,
    position: SamplerPosition,
}

impl Trainer {
    /// A run at step 0 with GPT-2-initialised weights drawn from `config.seed`.
    ///
    /// Fails with [`TrainError::Invalid`] naming the setting (`batch`, `seq`, `accum_steps`, `steps`,
    /// `lr`) when one is out of range, or [`TrainError::Model`] for an invalid model shape.
    pub fn new(config: TrainConfig) -> Result<Trainer, TrainError> {
        validate(&config)?;
        let model = Gpt::new(config.model, config.seed)?;
        let optimizer = AdamW::new(model.params().len(), config.weight_decay);
        Ok(Trainer {
            config,
            model,
            optimizer,
            step: 0,
            position: SamplerPosition { epoch: 0, index: 0 },
        })
    }

    /// The run's settings.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The model.
    pub fn model(&self) -> &Gpt<f32> {
        &self.model
    }

    /// Steps done.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// Where the training data stands: seek the training sampler here before feeding this trainer.
    pub fn data_position(&self) -> SamplerPosition {
        self.position
    }

    /// One optimisation step: `accum_steps` micro-batches from `batches`, forward and backward each with
    /// gradient `1 / accum_steps`, the global norm clipped, one AdamW update at the schedule's rate.
    ///
    /// Not generic (nor is anything on the way to the model), so the model is compiled, optimised, in this
    /// crate rather than in each caller's.
    pub fn train_step(
        &mut self,
        batches: &mut dyn Iterator<Item = Result<Batch, WindowError>>,
    ) -> Result<StepStats, TrainError> {
        let TrainConfig {
            batch,
            seq_len,
            accum_steps,
            ..
        } = self.config;
        self.model.zero_grad();
        let scale = 1.0 / accum_steps as f32;
        let mut loss = 0.0f32;
        let mut position = self.position;
        for _ in 0..accum_steps {
            let micro = batches.next().ok_or(TrainError::FeedEnded)??;
            loss += self
                .model
                .forward(&micro.inputs, &micro.targets, batch, seq_len)?
                * scale;
            self.model.backward(scale)?;
            position = micro.position;
        }
        let lr = self.config.schedule().at(self.step);
        let (specs, params, grads) = self.model.params_and_grads_mut();
        let grad_norm = clip_grad_norm(grads, self.config.grad_clip);
        self.optimizer.update(params, grads, specs, lr);
        self.step += 1;
        self.position = position;
        Ok(StepStats {
            step: self.step,
            loss,
            lr,
            grad_norm,
        })
    }

    /// Mean loss over the first `batches` batches of `sampler` (a validation split), always the same
    /// windows: the sampler is moved to its start first.
    pub fn evaluate<S: AsRef<[u8]>>(
        &mut self,
        sampler: &mut WindowSampler<S>,
        batches: usize,
    ) -> Result<f32, TrainError> {
        sampler.seek(SamplerPosition { epoch: 0, index: 0 })?;
        let (mut inputs, mut targets) = (Vec::new(), Vec::new());
        let mut total = 0.0f32;
        for _ in 0..batches {
            sampler.next_batch(self.config.batch, &mut inputs, &mut targets)?;
            total += self.loss(&inputs, &targets)?;
        }
        Ok(total / batches.max(1) as f32)
    }

    /// The mean loss of one batch of the run's shape, without training on it.
    pub fn loss(&mut self, inputs: &[u32], targets: &[u32]) -> Result<f32, TrainError> {
        Ok(self
            .model
            .forward(inputs, targets, self.config.batch, self.config.seq_len)?)
    }

    /// The whole state as one safetensors file: parameters under their [`crate::PARAM_NAMES`], AdamW's
    /// moments as `adam_m.NAME` and `adam_v.NAME`, and the settings, step, update count and data position
    /// as JSON in the metadata key `corpus.trainer`. (The only randomness, the initial weights and the
    /// window order, derives from the seed and the data position, which the file holds.)
    pub fn checkpoint(&self) -> Vec<u8> {
        let state = SavedState {
            format: CHECKPOINT_FORMAT,
            config: self.config.clone(),
            step: self.step,
            adam_updates: self.optimizer.updates(),
            data_epoch: self.position.epoch,
            data_index: self.position.index,
        };
        let state = serde_json::to_string(&state).unwrap_or_default();
        let specs = self.model.specs();
        let names: Vec<[String; 3]> = specs
            .iter()
            .map(|s| {
                [
                    s.name.to_string(),
                    format!("adam_m.{}", s.name),
                    format!("adam_v.{}", s.name),
                ]
            })
            .collect();
        let mut tensors = Vec::with_capacity(3 * specs.len());
        for (buffer, which) in [
            (self.model.params(), 0),
            (self.optimizer.m(), 1),
            (self.optimizer.v(), 2),
        ] {
            for (spec, names) in specs.iter().zip(&names) {
                tensors.push(TensorRef {
                    name: &names[which],
                    shape: &spec.shape,
                    data: &buffer[spec.range.clone()],
                });
            }
        }
        write(&tensors, &BTreeMap::from([(STATE_KEY.to_string(), state)]))
    }

    /// The run saved in `bytes` by [`Trainer::checkpoint`], which must have been written with `config`.
    ///
    /// Fails with [`TrainError::Mismatch`] naming the first setting that differs, or
    /// [`TrainError::Checkpoint`] when the file is not a complete checkpoint.
    pub fn resume(bytes: &[u8], config: TrainConfig) -> Result<Trainer, TrainError> {
        validate(&config)?;
        let file = TensorFile::parse(bytes)?;
        let state: SavedState = serde_json::from_str(file.metadata(STATE_KEY)?).map_err(|e| {
            CheckpointError::Metadata {
                key: STATE_KEY.to_string(),
                problem: e.to_string(),
            }
        })?;
        if state.format != CHECKPOINT_FORMAT {
            return Err(CheckpointError::Metadata {
                key: STATE_KEY.to_string(),
                problem: format!("format {} is not {CHECKPOINT_FORMAT}", state.format),
            }
            .into());
        }
        compare(&state.config, &config)?;
        let mut trainer = Trainer::new(config)?;
        let total = trainer.model.params().len();
        let mut buffers = [
            vec![0.0f32; total],
            vec![0.0f32; total],
            vec![0.0f32; total],
        ];
        for spec in trainer.model.specs() {
            let names = [
                spec.name.to_string(),
                format!("adam_m.{}", spec.name),
                format!("adam_v.{}", spec.name),
            ];
            for (buffer, name) in buffers.iter_mut().zip(&names) {
                buffer[spec.range.clone()].copy_from_slice(&file.tensor_f32(name, &spec.shape)?);
            }
        }
        let [params, m, v] = buffers;
        trainer.model = Gpt::from_params(trainer.config.model, params)?;
        trainer.optimizer = trainer.optimizer.restore(m, v, state.adam_updates);
        trainer.step = state.step;
        trainer.position = SamplerPosition {
            epoch: state.data_epoch,
            index: state.data_index,
        };
        Ok(trainer)
    }
}

/// Refuses settings no run can use.
fn validate(config: &TrainConfig) -> Result<(), TrainError> {
    let invalid = |field, message: String| Err(TrainError::Invalid { field, message });
    config.model.validate().map_err(ModelError::from)?;
    if config.batch == 0 {
        return invalid("batch", "must be at least 1".into());
    }
    if config.seq_len == 0 || config.seq_len > config.model.context {
        return invalid(
            "seq",
            format!(
                "{} is not in 1..={} (the model's context)",
                config.seq_len, config.model.context
            ),
        );
    }
    if config.accum_steps == 0 {
        return invalid("accum_steps", "must be at least 1".into());
    }
    if config.steps == 0 {
        return invalid("steps", "must be at least 1".into());
    }
    if !(config.max_lr > 0.0 && config.min_lr >= 0.0 && config.min_lr <= config.max_lr) {
        return invalid(
            "lr",
            format!(
                "need 0 <= min_lr <= lr and lr > 0, got lr {} and min_lr {}",
                config.max_lr, config.min_lr
            ),
        );
    }
    Ok(())
}

/// The first setting in which `requested` differs from `saved`.
fn compare(saved: &TrainConfig, requested: &TrainConfig) -> Result<(), TrainError> {
    let fields: [(&'static str, String, String); 13] = [
        (
            "model",
            saved.model.to_string(),
            requested.model.to_string(),
        ),
        (
            "batch",
            saved.batch.to_string(),
            requested.batch.to_string(),
        ),
        (
            "seq",
            saved.seq_len.to_string(),
            requested.seq_len.to_string(),
        ),
        (
            "accum_steps",
            saved.accum_steps.to_string(),
            requested.accum_steps.to_string(),
        ),
        (
            "steps",
            saved.steps.to_string(),
            requested.steps.to_string(),
        ),
        ("lr", saved.max_lr.to_string(), requested.max_lr.to_string()),
        (
            "min_lr",
            saved.min_lr.to_string(),
            requested.min_lr.to_string(),
        ),
        (
            "warmup",
            saved.warmup.to_string(),
            requested.warmup.to_string(),
        ),
        (
            "weight_decay",
            saved.weight_decay.to_string(),
            requested.weight_decay.to_string(),
        ),
        (
            "grad_clip",
            saved.grad_clip.to_string(),
            requested.grad_clip.to_string(),
        ),
        ("seed", saved.seed.to_string(), requested.seed.to_string()),
        ("rank", saved.rank.to_string(), requested.rank.to_string()),
        (
            "world_size",
            saved.world_size.to_string(),
            requested.world_size.to_string(),
        ),
    ];
    match fields.into_iter().find(|(_, a, b)| a != b) {
        Some((field, saved, requested)) => Err(TrainError::Mismatch {
            field,
            saved,
            requested,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::feeder::Feeder;
    use crate::windows::SamplerConfig;
    use corpus_sharder::{ShardWriter, TokenWidth};

    /// A shard of a repeating pattern over 32 tokens: easy to learn.
    fn shard() -> Vec<u8> {
        let tokens: Vec<u32> = (0..4000u32).map(|i| (i * 7 + i / 5) % 32).collect();
        let mut writer =
            ShardWriter::new(Vec::new(), TokenWidth::U16, tokens.len() as u64).unwrap();
        writer.push(&tokens).unwrap();
        writer.finish().unwrap().0
    }

    fn config() -> TrainConfig {
        TrainConfig {
            model: GptConfig {
                layers: 2,
                heads: 2,
                width: 32,
                context: 32,
                vocab: 32,
            },
            batch: 4,
            seq_len: 16,
            accum_steps: 2,
            steps: 40,
            max_lr: 1e-2,
            min_lr: 1e-3,
            warmup: 4,
            weight_decay: 0.1,
            grad_clip: 1.0,
            seed: 7,
            rank: 0,
            world_size: 1,
        }
    }

    fn feeder(trainer: &Trainer) -> Feeder {
        let c = trainer.config();
        let sampler_config = SamplerConfig {
            seq_len: c.seq_len,
            seed: c.seed,
            rank: c.rank,
            world_size: c.world_size,
        };
        let mut sampler = WindowSampler::new(vec![shard()], sampler_config).unwrap();
        sampler.seek(trainer.data_position()).unwrap();
        Feeder::spawn(sampler, c.batch, 4)
    }

    /// Losses of steps `trainer.step()..until`.
    fn run(trainer: &mut Trainer, until: u64) -> Vec<f32> {
        let mut batches = feeder(trainer);
        (trainer.step()..until)
            .map(|_| trainer.train_step(&mut batches).unwrap().loss)
            .collect()
    }

    #[test]
    fn training_lowers_the_loss_and_resuming_repeats_it_exactly() {
        let mut uninterrupted = Trainer::new(config()).unwrap();
        let losses = run(&mut uninterrupted, 40);
        assert!(losses[0] > 3.0, "starts near ln(32): {losses:?}");
        assert!(losses[39] < 1.5, "learns the pattern: {losses:?}");

        let mut first = Trainer::new(config()).unwrap();
        assert_eq!(run(&mut first, 15), losses[..15]);
        let saved = first.checkpoint();
        drop(first);
        let mut resumed = Trainer::resume(&saved, config()).unwrap();
        assert_eq!(resumed.step(), 15);
        assert_eq!(run(&mut resumed, 40), losses[15..]);
        assert_eq!(resumed.model().params(), uninterrupted.model().params());
    }

    #[test]
    fn evaluation_is_repeatable() {
        let mut trainer = Trainer::new(config()).unwrap();
        let c = trainer.config().clone();
        let sampler_config = SamplerConfig {
            seq_len: c.seq_len,
            seed: 0,
            rank: 0,
            world_size: 1,
        };
        let mut val = WindowSampler::new(vec![shard()], sampler_config).unwrap();
        let first = trainer.evaluate(&mut val, 3).unwrap();
        assert_eq!(trainer.evaluate(&mut val, 3).unwrap(), first);
        assert!((first - 32f32.ln()).abs() < 0.3, "{first}");
    }

    #[test]
    fn resuming_with_other_settings_is_refused() {
        let trainer = Trainer::new(config()).unwrap();
        let saved = trainer.checkpoint();
        let other = TrainConfig {
            batch: 8,
            ..config()
        };
        let err = Trainer::resume(&saved, other).unwrap_err();
        assert!(
            matches!(err, TrainError::Mismatch { field: "batch", .. }),
            "{err}"
        );
        assert!(matches!(
            Trainer::resume(&saved[..100], config()),
            Err(TrainError::Checkpoint(_))
        ));
    }

    #[test]
    fn bad_settings_are_refused_by_name() {
        let field = |config: TrainConfig| match Trainer::new(config) {
            Err(TrainError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(TrainConfig {
                batch: 0,
                ..config()
            }),
            "batch"
        );
        assert_eq!(
            field(TrainConfig {
                seq_len: 33,
                ..config()
            }),
            "seq"
        );
        assert_eq!(
            field(TrainConfig {
                steps: 0,
                ..config()
            }),
            "steps"
        );
        assert_eq!(
            field(TrainConfig {
                max_lr: 0.0,
                ..config()
            }),
            "lr"
        );
    }
}
