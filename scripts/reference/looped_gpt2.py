"""A looped GPT-2 in plain PyTorch, written independently of the Swift code.

Used to make the reference fixtures (make_fixtures.py) and by the benchmark peer
(bench/torch_train_bench.py). Hugging Face GPT-2 names and Conv1D [in, out] weights.
"""
import math

import torch
import torch.nn.functional as F


def execution_order(prelude, looped, coda, loops):
    """Unique block index of each application: prelude once, looped `loops` times, coda once."""
    order = list(range(prelude))
    for _ in range(loops):
        order += list(range(prelude, prelude + looped))
    order += list(range(prelude + looped, prelude + looped + coda))
    return order


BLOCK_TENSORS = [  # (suffix, shape as a function of C)
    ("ln_1.weight", lambda c: (c,)), ("ln_1.bias", lambda c: (c,)),
    ("attn.c_attn.weight", lambda c: (c, 3 * c)), ("attn.c_attn.bias", lambda c: (3 * c,)),
    ("attn.c_proj.weight", lambda c: (c, c)), ("attn.c_proj.bias", lambda c: (c,)),
    ("ln_2.weight", lambda c: (c,)), ("ln_2.bias", lambda c: (c,)),
    ("mlp.c_fc.weight", lambda c: (c, 4 * c)), ("mlp.c_fc.bias", lambda c: (4 * c,)),
    ("mlp.c_proj.weight", lambda c: (4 * c, c)), ("mlp.c_proj.bias", lambda c: (c,)),
]


def parameter_shapes(cfg):
    c = cfg["n_embd"]
    shapes = {"wte.weight": (cfg["vocab_size"], c), "wpe.weight": (cfg["n_positions"], c)}
    for i in range(cfg["n_layer"]):
        for suffix, shape in BLOCK_TENSORS:
            shapes[f"h.{i}.{suffix}"] = shape(c)
    shapes["ln_f.weight"] = (c,)
    shapes["ln_f.bias"] = (c,)
    return shapes


def block(x, p, i, n_head):
    B, T, C = x.shape
    h = F.layer_norm(x, (C,), p[f"h.{i}.ln_1.weight"], p[f"h.{i}.ln_1.bias"], eps=1e-5)
    qkv = h @ p[f"h.{i}.attn.c_attn.weight"] + p[f"h.{i}.attn.c_attn.bias"]
    q, k, v = qkv.split(C, dim=2)
    q, k, v = (t.view(B, T, n_head, C // n_head).transpose(1, 2) for t in (q, k, v))
    att = (q @ k.transpose(-2, -1)) / math.sqrt(C // n_head)
    mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
    att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
    y = (att @ v).transpose(1, 2).reshape(B, T, C)
    x = x + (y @ p[f"h.{i}.attn.c_proj.weight"] + p[f"h.{i}.attn.c_proj.bias"])
    h = F.layer_norm(x, (C,), p[f"h.{i}.ln_2.weight"], p[f"h.{i}.ln_2.bias"], eps=1e-5)
    h = F.gelu(h @ p[f"h.{i}.mlp.c_fc.weight"] + p[f"h.{i}.mlp.c_fc.bias"], approximate="tanh")
    return x + (h @ p[f"h.{i}.mlp.c_proj.weight"] + p[f"h.{i}.mlp.c_proj.bias"])


def forward(p, cfg, idx, targets=None, loops=None):
    """Logits (B, T, V) and, with targets, the mean cross-entropy."""
    B, T = idx.shape
    x = p["wte.weight"][idx] + p["wpe.weight"][:T]
    order = execution_order(cfg["loop_prelude"], cfg["loop_looped"], cfg["loop_coda"],
                            loops or cfg["loop_count"])
    for i in order:
        x = block(x, p, i, cfg["n_head"])
    x = F.layer_norm(x, (x.shape[-1],), p["ln_f.weight"], p["ln_f.bias"], eps=1e-5)
    logits = x @ p["wte.weight"].T
    loss = None
    if targets is not None:
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
    return logits, loss


def make_optimizer(p, lr, weight_decay, betas, eps, fused=False):
    """AdamW with decay on tensors of two or more dimensions only (nanoGPT)."""
    decay = [t for t in p.values() if t.dim() >= 2]
    no_decay = [t for t in p.values() if t.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, fused=fused)
