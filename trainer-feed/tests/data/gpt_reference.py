"""PyTorch reference for the CPU GPT of corpus-trainer-feed (the tests of src/model.rs read its output).

Builds the same GPT-2-style decoder with plain torch ops in float64, with weights and a batch that both
sides derive from the same SplitMix64 streams (bit for bit: integer arithmetic, then values exact in float64
rounded once to float32), and writes gpt_reference.json: the loss and gradients on that batch and the losses
of a few AdamW steps with global-norm clipping.

    python3 gpt_reference.py        # needs torch; writes gpt_reference.json beside this file
"""

import json
import math
import os

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

LAYERS, HEADS, WIDTH, CONTEXT, VOCAB = 2, 2, 32, 16, 300
PADDED = (VOCAB + 127) // 128 * 128
BATCH, SEQ = 2, 12
SEED = 1234
ADAM_STEPS, LR, WEIGHT_DECAY = 3, 1e-2, 0.1
M64 = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15


def mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


class SplitMix64:
    """crate::rng::SplitMix64::for_stream."""

    def __init__(self, seed, stream):
        self.state = mix64(mix64(seed) ^ stream)

    def next_u64(self):
        self.state = (self.state + GAMMA) & M64
        return mix64(self.state)

    def uniform(self):
        return (self.next_u64() >> 11) * 2.0**-53


L, C = LAYERS, WIDTH
SPECS = [
    ("wte", [PADDED, C]), ("wpe", [CONTEXT, C]), ("ln1w", [L, C]), ("ln1b", [L, C]),
    ("qkvw", [L, 3 * C, C]), ("qkvb", [L, 3 * C]), ("attprojw", [L, C, C]), ("attprojb", [L, C]),
    ("ln2w", [L, C]), ("ln2b", [L, C]), ("fcw", [L, 4 * C, C]), ("fcb", [L, 4 * C]),
    ("fcprojw", [L, C, 4 * C]), ("fcprojb", [L, C]), ("lnfw", [C]), ("lnfb", [C]),
]
DECAYED = {"wte", "wpe", "qkvw", "attprojw", "fcw", "fcprojw"}


def reference_params():
    """Tensor i from stream i of SEED: base + 0.1 * (2u - 1), base 1 for LayerNorm gains, rounded to float32."""
    params = {}
    for i, (name, shape) in enumerate(SPECS):
        rng = SplitMix64(SEED, i)
        base = 1.0 if name in ("ln1w", "ln2w", "lnfw") else 0.0
        n = math.prod(shape)
        values = [base + 0.1 * (2.0 * rng.uniform() - 1.0) for _ in range(n)]
        t = torch.tensor(values, dtype=torch.float64).to(torch.float32).to(torch.float64)
        params[name] = t.reshape(shape).requires_grad_(True)
    return params


def reference_batch():
    """Inputs then targets, each BATCH x SEQ tokens next_u64() % VOCAB from stream 100 of SEED."""
    rng = SplitMix64(SEED, 100)
    tokens = [rng.next_u64() % VOCAB for _ in range(2 * BATCH * SEQ)]
    inputs = torch.tensor(tokens[: BATCH * SEQ]).reshape(BATCH, SEQ)
    targets = torch.tensor(tokens[BATCH * SEQ :]).reshape(BATCH, SEQ)
    return inputs, targets


def forward(p, idx, targets):
    b, t = idx.shape
    hs = C // HEADS
    x = p["wte"][idx] + p["wpe"][:t]
    mask = torch.tril(torch.ones(t, t, dtype=torch.bool))
    for l in range(L):
        h = F.layer_norm(x, (C,), p["ln1w"][l], p["ln1b"][l], eps=1e-5)
        qkv = h @ p["qkvw"][l].T + p["qkvb"][l]
        q, k, v = (z.view(b, t, HEADS, hs).transpose(1, 2) for z in qkv.split(C, dim=2))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
        att = F.softmax(att.masked_fill(~mask, float("-inf")), dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, C)
        x = x + y @ p["attprojw"][l].T + p["attprojb"][l]
        h = F.layer_norm(x, (C,), p["ln2w"][l], p["ln2b"][l], eps=1e-5)
        h = F.gelu(h @ p["fcw"][l].T + p["fcb"][l], approximate="tanh")
        x = x + h @ p["fcprojw"][l].T + p["fcprojb"][l]
    x = F.layer_norm(x, (C,), p["lnfw"], p["lnfb"], eps=1e-5)
    logits = x @ p["wte"].T
    padding = torch.arange(PADDED) >= VOCAB
    logits = logits.masked_fill(padding, float("-inf"))
    return F.cross_entropy(logits.reshape(-1, PADDED), targets.reshape(-1))


def main():
    inputs, targets = reference_batch()
    params = reference_params()
    loss = forward(params, inputs, targets)
    loss.backward()
    grads = {name: params[name].grad for name, _ in SPECS}
    out = {
        "torch_version": torch.__version__,
        "config": {"layers": L, "heads": HEADS, "width": C, "context": CONTEXT, "vocab": VOCAB},
        "batch": BATCH,
        "seq": SEQ,
        "seed": SEED,
        "inputs": inputs.reshape(-1).tolist(),
        "targets": targets.reshape(-1).tolist(),
        "loss": loss.item(),
        "grad_norms": {name: g.norm().item() for name, g in grads.items()},
        "grad_heads": {name: g.reshape(-1)[:6].tolist() for name, g in grads.items()},
    }

    params = reference_params()
    groups = [
        {"params": [params[n] for n, _ in SPECS if n in DECAYED], "weight_decay": WEIGHT_DECAY},
        {"params": [params[n] for n, _ in SPECS if n not in DECAYED], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=LR, betas=(0.9, 0.95), eps=1e-8, foreach=False)
    losses = []
    for _ in range(ADAM_STEPS):
        opt.zero_grad()
        loss = forward(params, inputs, targets)
        losses.append(loss.item())
        loss.backward()
        torch.nn.utils.clip_grad_norm_([params[n] for n, _ in SPECS], 1.0)
        opt.step()
    with torch.no_grad():
        losses.append(forward(params, inputs, targets).item())
    out["adamw"] = {"lr": LR, "weight_decay": WEIGHT_DECAY, "grad_clip": 1.0, "losses": losses}

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gpt_reference.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"loss {out['loss']:.12f}; wrote {path}")


if __name__ == "__main__":
    main()
