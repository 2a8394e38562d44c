//! The GPT-2/GPT-3 decoder (Radford et al. 2019; Brown et al. 2020, §2.1): token and learned position
//! embeddings, `layers` pre-LayerNorm blocks of causal self-attention and a GELU MLP, a final LayerNorm and
//! an output projection tied to the token embedding. Parameters live in one flat buffer in the order of
//! [`PARAM_NAMES`] (llm.c's order), so the optimiser, the gradient norm and the checkpoint see one slice.

use std::ops::Range;

use crate::config::{ConfigError, GptConfig};
use crate::float::Float;
use crate::matmul::{matmul_backward, matmul_forward};
use crate::ops::{
    attention_backward, attention_forward, encoder_backward, encoder_forward, gelu_backward,
    gelu_forward, layernorm_backward, layernorm_forward, residual_backward, residual_forward,
    softmax_cross_entropy_backward, softmax_cross_entropy_forward,
};
use crate::rng::SplitMix64;

/// The parameter tensors in buffer order. Per-layer tensors are stacked over layers (leading dimension
/// `layers`); matrices are `out × in` like PyTorch's `nn.Linear.weight`.
pub const PARAM_NAMES: [&str; 16] = [
    "wte", "wpe", "ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb", "ln2w", "ln2b", "fcw",
    "fcb", "fcprojw", "fcprojb", "lnfw", "lnfb",
];

/// Standard deviation of GPT-2's initial weights.
const INIT_STD: f64 = 0.02;

/// Why the model refused a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// The configuration is not a valid shape.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The sequence is longer than the position embedding.
    #[error("sequence length {seq_len} exceeds the model's context of {context}")]
    SeqTooLong {
        /// The `T` asked for.
        seq_len: usize,
        /// The model's context.
        context: usize,
    },
    /// Inputs or targets do not hold `batch × seq_len` tokens, or the batch is empty.
    #[error("expected {expected} tokens (batch × seq_len, at least 1), got {got}")]
    BadBatch {
        /// `batch × seq_len`.
        expected: usize,
        /// Tokens given.
        got: usize,
    },
    /// A token id is not in the vocabulary (shards of another tokenizer?).
    #[error(
        "token {token} is outside the model's vocabulary of {vocab}; were the shards made with another tokenizer?"
    )]
    TokenOutOfRange {
        /// The token.
        token: u32,
        /// The vocabulary size.
        vocab: usize,
    },
    /// A parameter buffer of the wrong length.
    #[error("expected {expected} parameters for this shape, got {got}")]
    ParamCount {
        /// Parameters of the shape.
        expected: usize,
        /// Parameters given.
        got: usize,
    },
    /// [`Gpt::backward`] without a [`Gpt::forward`] before it.
    #[error("backward needs a forward pass first")]
    NoForward,
}

/// One parameter tensor: its name, shape, place in the flat buffer and whether weight decay applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    /// One of [`PARAM_NAMES`].
    pub name: &'static str,
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Elements of the flat parameter buffer it occupies.
    pub range: Range<usize>,
    /// True for matrices (embeddings and projections): AdamW decays these only.
    pub decayed: bool,
}

/// The parameter tensors of a shape, in buffer order.
pub fn param_specs(config: &GptConfig) -> Vec<TensorSpec> {
    let (l, c, vp, t) = (
        config.layers,
        config.width,
        config.padded_vocab(),
        config.context,
    );
    let shapes: [Vec<usize>; 16] = [
        vec![vp, c],
        vec![t, c],
        vec![l, c],
        vec![l, c],
        vec![l, 3 * c, c],
        vec![l, 3 * c],
        vec![l, c, c],
        vec![l, c],
        vec![l, c],
        vec![l, c],
        vec![l, 4 * c, c],
        vec![l, 4 * c],
        vec![l, c, 4 * c],
        vec![l, c],
        vec![c],
        vec![c],
    ];
    let mut offset = 0;
    PARAM_NAMES
        .iter()
        .zip(shapes)
        .map(|(&name, shape)| {
            let len: usize = shape.iter().product();
            let range = offset..offset + len;
            offset += len;
            let decayed = matches!(
                name,
                "wte" | "wpe" | "qkvw" | "attprojw" | "fcw" | "fcprojw"
            );
            TensorSpec {
                name,
                shape,
                range,
                decayed,
            }
        })
        .collect()
}

/// Splits a flat buffer into the 16 tensors of [`PARAM_NAMES`].
fn split<'a, F>(mut rest: &'a [F], specs: &[TensorSpec]) -> [&'a [F]; 16] {
    std::array::from_fn(|i| {
        let (head, tail) = rest.split_at(specs[i].range.len());
        rest = tail;
        head
    })
}

/// Splits a flat buffer into the 16 tensors of [`PARAM_NAMES`], mutably.
fn split_mut<'a, F>(mut rest: &'a mut [F], specs: &[TensorSpec]) -> [&'a mut [F]; 16] {
    let mut slices: Vec<&'a mut [F]> = Vec::with_capacity(16);
    for spec in specs {
        let (head, tail) = std::mem::take(&mut rest).split_at_mut(spec.range.len());
        slices.push(head);
        rest = tail;
    }
    let mut slices = slices.into_iter();
    std::array::from_fn(|_| slices.next().unwrap_or_default())
}

/// Layer `l` of a tensor stacked over layers.
fn layer<F>(tensor: &[F], l: usize, layers: usize) -> &[F] {
    let size = tensor.len() / layers;
    &tensor[l * size..(l + 1) * size]
}

/// Layer `l` of a tensor stacked over layers, mutably.
fn layer_mut<F>(tensor: &mut [F], l: usize, layers: usize) -> &mut [F] {
    let size = tensor.len() / layers;
    &mut tensor[l * size..(l + 1) * size]
}

/// What the forward pass keeps for the backward pass, for one `(batch, seq_len)`; per-layer buffers are
/// stacked over layers.
#[derive(Debug, Default)]
struct Activations<F> {
    b: usize,
    t: usize,
    encoded: Vec<F>,
    ln1: Vec<F>,
    ln1_mean: Vec<F>,
    ln1_rstd: Vec<F>,
    qkv: Vec<F>,
    atty: Vec<F>,
    att: Vec<F>,
    attproj: Vec<F>,
    residual2: Vec<F>,
    ln2: Vec<F>,
    ln2_mean: Vec<F>,
    ln2_rstd: Vec<F>,
    fch: Vec<F>,
    fch_gelu: Vec<F>,
    fcproj: Vec<F>,
    residual3: Vec<F>,
    lnf: Vec<F>,
    lnf_mean: Vec<F>,
    lnf_rstd: Vec<F>,
    /// Logits, then probabilities, then (during backward) their gradient.
    logits: Vec<F>,
    losses: Vec<F>,
    inputs: Vec<u32>,
    targets: Vec<u32>,
}

impl<F: Float> Activations<F> {
    fn resize(&mut self, config: &GptConfig, b: usize, t: usize) {
        if (self.b, self.t) == (b, t) {
            return;
        }
        let (l, c, nh, bt) = (config.layers, config.width, config.heads, b * t);
        let sized = |len: usize| vec![F::ZERO; len];
        *self = Activations {
            b,
            t,
            encoded: sized(bt * c),
            ln1: sized(l * bt * c),
            ln1_mean: sized(l * bt),
            ln1_rstd: sized(l * bt),
            qkv: sized(l * bt * 3 * c),
            atty: sized(l * bt * c),
            att: sized(l * bt * nh * t),
            attproj: sized(l * bt * c),
            residual2: sized(l * bt * c),
            ln2: sized(l * bt * c),
            ln2_mean: sized(l * bt),
            ln2_rstd: sized(l * bt),
            fch: sized(l * bt * 4 * c),
            fch_gelu: sized(l * bt * 4 * c),
            fcproj: sized(l * bt * c),
            residual3: sized(l * bt * c),
            lnf: sized(bt * c),
            lnf_mean: sized(bt),
            lnf_rstd: sized(bt),
            logits: sized(bt * config.padded_vocab()),
            losses: sized(bt),
            inputs: Vec::with_capacity(bt),
            targets: Vec::with_capacity(bt),
        };
    }
}

/// A GPT decoder with its parameters, gradients and the activations of the last forward pass.
#[derive(Debug)]
pub struct Gpt<F> {
    config: GptConfig,
    specs: Vec<TensorSpec>,
    params: Vec<F>,
    grads: Vec<F>,
    acts: Activations<F>,
    /// True between a forward pass and the backward pass that uses its activations.
    ready_for_backward: bool,
}

impl<F: Float> Gpt<F> {
    /// A model with GPT-2's initialisation drawn from `seed`: weights N(0, 0.02), the two residual
    /// projections of each block N(0, 0.02 / √(2 · layers)) (Radford et al. 2019, §2.3), biases 0,
    /// LayerNorm gains 1; the padding rows of the token embedding are 0.
    pub fn new(config: GptConfig, seed: u64) -> Result<Self, ModelError> {
        config.validate()?;
        let specs = param_specs(&config);
        let mut params = vec![F::ZERO; specs.last().map_or(0, |s| s.range.end)];
        let residual_std = INIT_STD / (2.0 * config.layers as f64).sqrt();
        let real_embeddings = config.vocab * config.width;
        for (index, spec) in specs.iter().enumerate() {
            let tensor = &mut params[spec.range.clone()];
            let mut rng = SplitMix64::for_stream(seed, index as u64);
            match spec.name {
                "ln1w" | "ln2w" | "lnfw" => tensor.fill(F::ONE),
                "attprojw" | "fcprojw" => tensor
                    .iter_mut()
                    .for_each(|w| *w = F::from_f64(residual_std * rng.normal())),
                "wte" => tensor[..real_embeddings]
                    .iter_mut()
                    .for_each(|w| *w = F::from_f64(INIT_STD * rng.normal())),
                _ if spec.decayed => tensor
                    .iter_mut()
                    .for_each(|w| *w = F::from_f64(INIT_STD * rng.normal())),
                _ => {}
            }
        }
        Self::from_params(config, params)
    }

    /// A model with the given parameters, in the order and shapes of [`param_specs`].
    pub fn from_params(config: GptConfig, params: Vec<F>) -> Result<Self, ModelError> {
        config.validate()?;
        let specs = param_specs(&config);
        let expected = specs.last().map_or(0, |s| s.range.end);
        if params.len() != expected {
            return Err(ModelError::ParamCount {
                expected,
                got: params.len(),
            });
        }
        Ok(Gpt {
            config,
            specs,
            grads: vec![F::ZERO; expected],
            params,
            acts: Activations::default(),
            ready_for_backward: false,
        })
    }

    /// The model's shape.
    pub fn config(&self) -> &GptConfig {
        &self.config
    }

    /// The parameter tensors, in buffer order.
    pub fn specs(&self) -> &[TensorSpec] {
        &self.specs
    }

    /// All parameters, flat, in the order of [`Gpt::specs`].
    pub fn params(&self) -> &[F] {
        &self.params
    }

    /// The gradients accumulated since the last [`Gpt::zero_grad`], laid out like [`Gpt::params`].
    pub fn grads(&self) -> &[F] {
        &self.grads
    }

    /// The tensor specs, parameters and gradients together, for the optimiser.
    pub fn params_and_grads_mut(&mut self) -> (&[TensorSpec], &mut [F], &mut [F]) {
        (&self.specs, &mut self.params, &mut self.grads)
    }

    /// Sets every gradient to 0.
    pub fn zero_grad(&mut self) {
        self.grads.fill(F::ZERO);
    }

    /// Runs the model on `batch` sequences of `seq_len` tokens (`inputs`, row-major) and returns the mean
    /// cross-entropy of predicting `targets`; keeps the activations for [`Gpt::backward`].
    pub fn forward(
        &mut self,
        inputs: &[u32],
        targets: &[u32],
        batch: usize,
        seq_len: usize,
    ) -> Result<F, ModelError> {
        self.ready_for_backward = false;
        let config = self.config;
        if seq_len > config.context {
            return Err(ModelError::SeqTooLong {
                seq_len,
                context: config.context,
            });
        }
        let expected = batch * seq_len;
        for tokens in [inputs, targets] {
            if tokens.len() != expected || expected == 0 {
                return Err(ModelError::BadBatch {
                    expected,
                    got: tokens.len(),
                });
            }
            if let Some(&token) = tokens.iter().find(|&&t| t as usize >= config.vocab) {
                return Err(ModelError::TokenOutOfRange {
                    token,
                    vocab: config.vocab,
                });
            }
        }
        let (l_n, c, nh, vp) = (
            config.layers,
            config.width,
            config.heads,
            config.padded_vocab(),
        );
        let (t, bt) = (seq_len, expected);
        let acts = &mut self.acts;
        acts.resize(&config, batch, seq_len);
        acts.inputs.clear();
        acts.inputs.extend_from_slice(inputs);
        acts.targets.clear();
        acts.targets.extend_from_slice(targets);
        let [
            wte,
            wpe,
            ln1w,
            ln1b,
            qkvw,
            qkvb,
            attprojw,
            attprojb,
            ln2w,
            ln2b,
            fcw,
            fcb,
            fcprojw,
            fcprojb,
            lnfw,
            lnfb,
        ] = split(&self.params, &self.specs);
        encoder_forward(&mut acts.encoded, inputs, wte, wpe, t, c);
        for l in 0..l_n {
            let residual = if l == 0 {
                &acts.encoded[..]
            } else {
                layer(&acts.residual3, l - 1, l_n)
            };
            let ln1 = layer_mut(&mut acts.ln1, l, l_n);
            layernorm_forward(
                ln1,
                layer_mut(&mut acts.ln1_mean, l, l_n),
                layer_mut(&mut acts.ln1_rstd, l, l_n),
                residual,
                layer(ln1w, l, l_n),
                layer(ln1b, l, l_n),
                c,
            );
            let qkv = layer_mut(&mut acts.qkv, l, l_n);
            matmul_forward(
                qkv,
                ln1,
                layer(qkvw, l, l_n),
                Some(layer(qkvb, l, l_n)),
                bt,
                c,
                3 * c,
            );
            let atty = layer_mut(&mut acts.atty, l, l_n);
            attention_forward(atty, layer_mut(&mut acts.att, l, l_n), qkv, t, c, nh);
            let attproj = layer_mut(&mut acts.attproj, l, l_n);
            matmul_forward(
                attproj,
                atty,
                layer(attprojw, l, l_n),
                Some(layer(attprojb, l, l_n)),
                bt,
                c,
                c,
            );
            let residual2 = layer_mut(&mut acts.residual2, l, l_n);
            residual_forward(residual2, residual, attproj);
            let ln2 = layer_mut(&mut acts.ln2, l, l_n);
            layernorm_forward(
                ln2,
                layer_mut(&mut acts.ln2_mean, l, l_n),
                layer_mut(&mut acts.ln2_rstd, l, l_n),
                residual2,
                layer(ln2w, l, l_n),
                layer(ln2b, l, l_n),
                c,
            );
            let fch = layer_mut(&mut acts.fch, l, l_n);
            matmul_forward(
                fch,
                ln2,
                layer(fcw, l, l_n),
                Some(layer(fcb, l, l_n)),
                bt,
                c,
                4 * c,
            );
            let fch_gelu = layer_mut(&mut acts.fch_gelu, l, l_n);
            gelu_forward(fch_gelu, fch);
            let fcproj = layer_mut(&mut acts.fcproj, l, l_n);
            matmul_forward(
                fcproj,
                fch_gelu,
                layer(fcprojw, l, l_n),
                Some(layer(fcprojb, l, l_n)),
                bt,
                4 * c,
                c,
            );
            residual_forward(layer_mut(&mut acts.residual3, l, l_n), residual2, fcproj);
        }
        let last = layer(&acts.residual3, l_n - 1, l_n);
        layernorm_forward(
            &mut acts.lnf,
            &mut acts.lnf_mean,
            &mut acts.lnf_rstd,
            last,
            lnfw,
            lnfb,
            c,
        );
        matmul_forward(&mut acts.logits, &acts.lnf, wte, None, bt, c, vp);
        softmax_cross_entropy_forward(
            &mut acts.logits,
            &mut acts.losses,
            targets,
            config.vocab,
            vp,
        );
        self.ready_for_backward = true;
        let sum: F = acts.losses.iter().copied().sum();
        Ok(sum / F::from_f64(bt as f64))
    }

    /// Adds to the gradients the gradient of `grad_scale ×` the mean loss of the last [`Gpt::forward`]
    /// (`grad_scale = 1 / micro-batches` for gradient accumulation). The logits' buffer becomes their
    /// gradient, so a second backward needs a second forward.
    pub fn backward(&mut self, grad_scale: F) -> Result<(), ModelError> {
        if !self.ready_for_backward {
            return Err(ModelError::NoForward);
        }
        self.ready_for_backward = false;
        let config = self.config;
        let (l_n, c, nh, vp) = (
            config.layers,
            config.width,
            config.heads,
            config.padded_vocab(),
        );
        let acts = &mut self.acts;
        let (b, t) = (acts.b, acts.t);
        let bt = b * t;
        let [
            wte,
            _,
            ln1w,
            _,
            qkvw,
            _,
            attprojw,
            _,
            ln2w,
            _,
            fcw,
            _,
            fcprojw,
            _,
            lnfw,
            _,
        ] = split(&self.params, &self.specs);
        let [
            dwte,
            dwpe,
            dln1w,
            dln1b,
            dqkvw,
            dqkvb,
            dattprojw,
            dattprojb,
            dln2w,
            dln2b,
            dfcw,
            dfcb,
            dfcprojw,
            dfcprojb,
            dlnfw,
            dlnfb,
        ] = split_mut(&mut self.grads, &self.specs);
        let zeros = |len: usize| vec![F::ZERO; len];
        // `dres`: gradient of the residual stream entering the current point going backwards; `dres2`: of
        // the stream between a block's attention and its MLP; `dbranch`: of a branch's output.
        let (mut dres, mut dres2, mut dbranch) = (zeros(bt * c), zeros(bt * c), zeros(bt * c));
        let (mut dln, mut datty, mut dqkv) = (zeros(bt * c), zeros(bt * c), zeros(bt * 3 * c));
        let (mut dfch, mut dfch_gelu) = (zeros(bt * 4 * c), zeros(bt * 4 * c));

        let dloss = grad_scale / F::from_f64(bt as f64);
        softmax_cross_entropy_backward(&mut acts.logits, &acts.targets, dloss, vp);
        matmul_backward(
            &mut dln,
            dwte,
            None,
            &acts.logits,
            &acts.lnf,
            wte,
            bt,
            c,
            vp,
        );
        layernorm_backward(
            &mut dres,
            dlnfw,
            dlnfb,
            &dln,
            layer(&acts.residual3, l_n - 1, l_n),
            lnfw,
            &acts.lnf_mean,
            &acts.lnf_rstd,
            c,
        );
        for l in (0..l_n).rev() {
            let residual = if l == 0 {
                &acts.encoded[..]
            } else {
                layer(&acts.residual3, l - 1, l_n)
            };
            // residual3 = residual2 + fcproj(gelu(fc(ln2(residual2))))
            dres2.fill(F::ZERO);
            dbranch.fill(F::ZERO);
            residual_backward(&mut dres2, &mut dbranch, &dres);
            dfch_gelu.fill(F::ZERO);
            matmul_backward(
                &mut dfch_gelu,
                layer_mut(dfcprojw, l, l_n),
                Some(layer_mut(dfcprojb, l, l_n)),
                &dbranch,
                layer(&acts.fch_gelu, l, l_n),
                layer(fcprojw, l, l_n),
                bt,
                4 * c,
                c,
            );
            dfch.fill(F::ZERO);
            gelu_backward(&mut dfch, layer(&acts.fch, l, l_n), &dfch_gelu);
            dln.fill(F::ZERO);
            matmul_backward(
                &mut dln,
                layer_mut(dfcw, l, l_n),
                Some(layer_mut(dfcb, l, l_n)),
                &dfch,
                layer(&acts.ln2, l, l_n),
                layer(fcw, l, l_n),
                bt,
                c,
                4 * c,
            );
            layernorm_backward(
                &mut dres2,
                layer_mut(dln2w, l, l_n),
                layer_mut(dln2b, l, l_n),
                &dln,
                layer(&acts.residual2, l, l_n),
                layer(ln2w, l, l_n),
                layer(&acts.ln2_mean, l, l_n),
                layer(&acts.ln2_rstd, l, l_n),
                c,
            );
            // residual2 = residual + attproj(attention(qkv(ln1(residual))))
            dres.fill(F::ZERO);
            dbranch.fill(F::ZERO);
            residual_backward(&mut dres, &mut dbranch, &dres2);
            datty.fill(F::ZERO);
            matmul_backward(
                &mut datty,
                layer_mut(dattprojw, l, l_n),
                Some(layer_mut(dattprojb, l, l_n)),
                &dbranch,
                layer(&acts.atty, l, l_n),
                layer(attprojw, l, l_n),
                bt,
                c,
                c,
            );
            dqkv.fill(F::ZERO);
            attention_backward(
                &mut dqkv,
                &datty,
                layer(&acts.qkv, l, l_n),
                layer(&acts.att, l, l_n),
                b,
                t,
                c,
                nh,
            );
            dln.fill(F::ZERO);
            matmul_backward(
                &mut dln,
                layer_mut(dqkvw, l, l_n),
                Some(layer_mut(dqkvb, l, l_n)),
                &dqkv,
                layer(&acts.ln1, l, l_n),
                layer(qkvw, l, l_n),
                bt,
                c,
                3 * c,
            );
            layernorm_backward(
                &mut dres,
                layer_mut(dln1w, l, l_n),
                layer_mut(dln1b, l, l_n),
                &dln,
                residual,
                layer(ln1w, l, l_n),
                layer(&acts.ln1_mean, l, l_n),
                layer(&acts.ln1_rstd, l, l_n),
                c,
            );
        }
        encoder_backward(dwte, dwpe, &dres, &acts.inputs, t, c);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    //! The whole model against PyTorch (`tests/data/gpt_reference.py` wrote `gpt_reference.json` with
    //! torch 2.15 in float64) and against finite differences.

    use super::*;
    use crate::optim::{AdamW, clip_grad_norm};
    use serde_json::Value;

    const REFERENCE: &str = include_str!("../tests/data/gpt_reference.json");

    fn reference() -> Value {
        serde_json::from_str(REFERENCE).unwrap()
    }

    fn reference_config(r: &Value) -> GptConfig {
        let c = &r["config"];
        let get = |k: &str| c[k].as_u64().unwrap() as usize;
        GptConfig {
            layers: get("layers"),
            heads: get("heads"),
            width: get("width"),
            context: get("context"),
            vocab: get("vocab"),
        }
    }

    /// The script's weights: tensor `i` from stream `i` of the seed, `base + 0.1 · (2u − 1)` rounded to `f32`.
    fn reference_params<F: Float>(config: &GptConfig, seed: u64) -> Vec<F> {
        let mut params = Vec::new();
        for (i, spec) in param_specs(config).iter().enumerate() {
            let mut rng = SplitMix64::for_stream(seed, i as u64);
            let base = if matches!(spec.name, "ln1w" | "ln2w" | "lnfw") {
                1.0
            } else {
                0.0
            };
            params.extend(spec.range.clone().map(|_| {
                let value = (base + 0.1 * (2.0 * rng.uniform() - 1.0)) as f32;
                F::from_f64(f64::from(value))
            }));
        }
        params
    }

    fn tokens(r: &Value, key: &str) -> Vec<u32> {
        r[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_u64().unwrap() as u32)
            .collect()
    }

    /// Loss and gradients of the reference batch, compared within `tolerance` (relative).
    fn matches_pytorch<F: Float>(tolerance: f64) {
        let r = reference();
        let config = reference_config(&r);
        let (b, t) = (
            r["batch"].as_u64().unwrap() as usize,
            r["seq"].as_u64().unwrap() as usize,
        );
        let params = reference_params::<F>(&config, r["seed"].as_u64().unwrap());
        let mut model = Gpt::from_params(config, params).unwrap();
        let (inputs, targets) = (tokens(&r, "inputs"), tokens(&r, "targets"));
        let loss = model.forward(&inputs, &targets, b, t).unwrap().to_f64();
        let want = r["loss"].as_f64().unwrap();
        assert!(
            (loss - want).abs() <= tolerance * want,
            "loss {loss} vs {want}"
        );
        model.backward(F::ONE).unwrap();
        let close = |got: f64, want: f64, scale: f64| (got - want).abs() <= tolerance * scale;
        for spec in model.specs() {
            let grad = &model.grads()[spec.range.clone()];
            let norm = grad
                .iter()
                .map(|g| g.to_f64() * g.to_f64())
                .sum::<f64>()
                .sqrt();
            let want_norm = r["grad_norms"][spec.name].as_f64().unwrap();
            assert!(
                close(norm, want_norm, want_norm),
                "{}: norm {norm} vs {want_norm}",
                spec.name
            );
            for (i, want) in r["grad_heads"][spec.name]
                .as_array()
                .unwrap()
                .iter()
                .enumerate()
            {
                let (got, want) = (grad[i].to_f64(), want.as_f64().unwrap());
                assert!(
                    close(got, want, want_norm),
                    "{}[{i}]: {got} vs {want}",
                    spec.name
                );
            }
        }
    }

    #[test]
    fn loss_and_gradients_match_pytorch_in_f64() {
        matches_pytorch::<f64>(1e-10);
    }

    #[test]
    fn loss_and_gradients_match_pytorch_in_f32() {
        matches_pytorch::<f32>(2e-5);
    }

    #[test]
    fn adamw_steps_with_clipping_match_pytorch() {
        let r = reference();
        let config = reference_config(&r);
        let (b, t) = (
            r["batch"].as_u64().unwrap() as usize,
            r["seq"].as_u64().unwrap() as usize,
        );
        let adam = &r["adamw"];
        let params = reference_params::<f64>(&config, r["seed"].as_u64().unwrap());
        let mut model = Gpt::from_params(config, params).unwrap();
        let mut optimizer =
            AdamW::new(model.params().len(), adam["weight_decay"].as_f64().unwrap());
        let (inputs, targets) = (tokens(&r, "inputs"), tokens(&r, "targets"));
        let want: Vec<f64> = adam["losses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_f64().unwrap())
            .collect();
        for (step, &want) in want.iter().enumerate() {
            model.zero_grad();
            let loss = model.forward(&inputs, &targets, b, t).unwrap();
            assert!(
                (loss - want).abs() < 1e-9 * want,
                "step {step}: loss {loss} vs {want}"
            );
            model.backward(1.0).unwrap();
            let (specs, params, grads) = model.params_and_grads_mut();
            clip_grad_norm(grads, adam["grad_clip"].as_f64().unwrap());
            optimizer.update(params, grads, specs, adam["lr"].as_f64().unwrap());
        }
    }

    #[test]
    fn model_gradient_matches_finite_differences() {
        // A GPT-2-initialised model in f64: every tensor's first and last element against a central
        // difference of the whole model's loss.
        let config = GptConfig {
            layers: 2,
            heads: 2,
            width: 8,
            context: 6,
            vocab: 20,
        };
        let mut model = Gpt::<f64>::new(config, 5).unwrap();
        let inputs = [1, 5, 19, 0, 7, 7, 3, 2];
        let targets = [5, 19, 0, 7, 7, 3, 2, 11];
        model.forward(&inputs, &targets, 2, 4).unwrap();
        model.backward(1.0).unwrap();
        let grads = model.grads().to_vec();
        let h = 1e-6;
        for spec in param_specs(&config) {
            // The padding rows of wte get no gradient; check a real row's end instead.
            let last = if spec.name == "wte" {
                config.vocab * config.width - 1
            } else {
                spec.range.len() - 1
            };
            for i in [spec.range.start, spec.range.start + last] {
                let at = |delta: f64| {
                    let mut params = model.params().to_vec();
                    params[i] += delta;
                    let mut probe = Gpt::from_params(config, params).unwrap();
                    probe.forward(&inputs, &targets, 2, 4).unwrap()
                };
                let numeric = (at(h) - at(-h)) / (2.0 * h);
                let err = (numeric - grads[i]).abs() / numeric.abs().max(grads[i].abs()).max(1e-3);
                assert!(
                    err < 1e-6,
                    "{}[{}]: numeric {numeric} vs {}",
                    spec.name,
                    i - spec.range.start,
                    grads[i]
                );
            }
        }
    }

    #[test]
    fn init_follows_gpt2() {
        let config = GptConfig::preset("tiny").unwrap();
        let model = Gpt::<f32>::new(config, 1).unwrap();
        let std = |name: &str| {
            let spec = model.specs().iter().find(|s| s.name == name).unwrap();
            let v = &model.params()[spec.range.clone()];
            let n = if name == "wte" {
                config.vocab * config.width
            } else {
                v.len()
            };
            (v[..n]
                .iter()
                .map(|&x| f64::from(x) * f64::from(x))
                .sum::<f64>()
                / n as f64)
                .sqrt()
        };
        assert!((std("wte") - 0.02).abs() < 0.0005);
        assert!((std("fcw") - 0.02).abs() < 0.001);
        assert!(
            (std("attprojw") - 0.01).abs() < 0.001,
            "0.02 / sqrt(2 * 2 layers)"
        );
        assert_eq!(std("qkvb"), 0.0);
        assert_eq!(std("ln1w"), 1.0);
        let wte = &model.params()[..config.padded_vocab() * config.width];
        assert!(
            wte[config.vocab * config.width..].iter().all(|&x| x == 0.0),
            "padding rows are 0"
        );
    }

    #[test]
    fn bad_batches_are_refused() {
        let config = GptConfig {
            layers: 1,
            heads: 1,
            width: 4,
            context: 4,
            vocab: 10,
        };
        let mut model = Gpt::<f32>::new(config, 0).unwrap();
        assert_eq!(model.backward(1.0), Err(ModelError::NoForward));
        assert_eq!(
            model.forward(&[0; 5], &[0; 5], 1, 5),
            Err(ModelError::SeqTooLong {
                seq_len: 5,
                context: 4
            })
        );
        assert_eq!(
            model.forward(&[0; 3], &[0; 4], 1, 4),
            Err(ModelError::BadBatch {
                expected: 4,
                got: 3
            })
        );
        assert_eq!(
            model.forward(&[0, 1, 10, 2], &[0; 4], 1, 4),
            Err(ModelError::TokenOutOfRange {
                token: 10,
                vocab: 10
            })
        );
        assert!(model.forward(&[0, 1, 9, 2], &[1; 4], 1, 4).is_ok());
    }
}
