"""Writes the PyTorch reference fixtures the Swift tests compare against.

    python3 scripts/reference/make_fixtures.py   # needs torch (pip install torch)

For each case: a checkpoint (config.json + model.safetensors, float32 weights) and
reference.safetensors with the batch, logits, loss, every parameter gradient, and the
losses of 10 AdamW steps (gradient clipping on) on that batch. The reference runs in
float64 on the float32 weights, so it is the exact answer the Swift float32 code approaches.
"""
import json
import os

import numpy as np
import torch

import looped_gpt2 as lg
import safetensors_io

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "Tests", "LoopModelTests", "Fixtures")

TRAIN = dict(lr=3e-3, weight_decay=0.1, betas=(0.9, 0.95), eps=1e-8, clip=0.5, steps=10)

CASES = {
    "plain": dict(prelude=0, looped=3, coda=0, loops=1),
    "looped": dict(prelude=1, looped=2, coda=1, loops=3),
}


def config(layout):
    n_layer = layout["prelude"] + layout["looped"] + layout["coda"]
    return {
        "model_type": "gpt2", "architectures": ["GPT2LMHeadModel"],
        "vocab_size": 101, "n_positions": 16, "n_ctx": 16, "n_embd": 32, "n_head": 4,
        "n_layer": n_layer, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
        "tie_word_embeddings": True, "loop_prelude": layout["prelude"],
        "loop_looped": layout["looped"], "loop_coda": layout["coda"],
        "loop_count": layout["loops"], "looplm_tokenizer": "bytes", "looplm_format_version": 1,
    }


def make_case(name, layout, seed):
    cfg = config(layout)
    gen = torch.Generator().manual_seed(seed)
    weights = {}
    for key, shape in lg.parameter_shapes(cfg).items():
        w = torch.randn(shape, generator=gen) * 0.02
        if key.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")):
            w = 1.0 + 5 * w  # not exactly one, so LayerNorm weight gradients matter
        elif len(shape) >= 2:
            w = w * 4  # larger than GPT-2's init so the loss is far from uniform
        weights[key] = w.float()
    B, T = 2, 16
    tokens = torch.randint(0, cfg["vocab_size"], (B, T + 1), generator=gen)
    idx, targets = tokens[:, :-1], tokens[:, 1:]

    p = {k: v.double().clone().requires_grad_(True) for k, v in weights.items()}
    logits, loss = lg.forward(p, cfg, idx, targets)
    loss.backward()
    reference = {
        "tokens": idx.numpy().astype(np.int32), "targets": targets.numpy().astype(np.int32),
        "logits": logits.detach().float().numpy(), "loss": np.array([loss.item()], np.float32),
    }
    for k, t in p.items():
        reference["grad." + k] = t.grad.float().numpy()

    opt = lg.make_optimizer(p, TRAIN["lr"], TRAIN["weight_decay"], TRAIN["betas"], TRAIN["eps"])
    losses, norms = [], []
    for _ in range(TRAIN["steps"]):
        opt.zero_grad()
        _, loss = lg.forward(p, cfg, idx, targets)
        loss.backward()
        norms.append(torch.nn.utils.clip_grad_norm_(list(p.values()), TRAIN["clip"]).item())
        opt.step()
        losses.append(loss.item())
    reference["losses"] = np.array(losses, np.float32)
    reference["grad_norms"] = np.array(norms, np.float32)

    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
    safetensors_io.write(os.path.join(folder, "model.safetensors"),
                         {k: v.numpy() for k, v in weights.items()}, {"format": "pt"})
    meta = {"lr": TRAIN["lr"], "weight_decay": TRAIN["weight_decay"], "beta1": TRAIN["betas"][0],
            "beta2": TRAIN["betas"][1], "eps": TRAIN["eps"], "clip": TRAIN["clip"],
            "steps": TRAIN["steps"], "batch": B, "time": T, "torch": torch.__version__}
    safetensors_io.write(os.path.join(folder, "reference.safetensors"), reference, meta)
    print(f"{name}: loss {reference['loss'][0]:.6f}, step losses {losses[0]:.4f} → {losses[-1]:.4f}, "
          f"grad norms {min(norms):.3f}–{max(norms):.3f} (clip {TRAIN['clip']})")


if __name__ == "__main__":
    for i, (name, layout) in enumerate(CASES.items()):
        make_case(name, layout, seed=1234 + i)
