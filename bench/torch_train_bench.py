"""The PyTorch peer for `looplm bench`: the same model, the same step, the same machine.

    python3 bench/torch_train_bench.py [--compile] [--json]

A nanoGPT-style GPT-2 (pre-LayerNorm, tanh GELU, tied head, scaled_dot_product_attention
with is_causal) on the reference configuration: 6 blocks, 6 heads, width 384, vocabulary
50304, context 256, batch 4, 2 threads; AdamW (fused) with decay on matrices only,
gradient clipping at 1.0. Prints tokens/s and GFLOP/s counted exactly as looplm counts
them. Needs torch (pip install torch); LoopLM itself never does.
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, c, n_head):
        super().__init__()
        self.n_head = n_head
        self.ln_1, self.ln_2 = nn.LayerNorm(c), nn.LayerNorm(c)
        self.c_attn, self.c_proj = nn.Linear(c, 3 * c), nn.Linear(c, c)
        self.c_fc, self.mlp_proj = nn.Linear(c, 4 * c), nn.Linear(4 * c, c)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.c_proj(y.transpose(1, 2).reshape(B, T, C))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class LoopGPT(nn.Module):
    def __init__(self, vocab, context, c, n_head, unique_blocks, loops):
        super().__init__()
        self.loops = loops
        self.wte, self.wpe = nn.Embedding(vocab, c), nn.Embedding(context, c)
        self.h = nn.ModuleList(Block(c, n_head) for _ in range(unique_blocks))
        self.ln_f = nn.LayerNorm(c)
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * unique_blocks * loops) if name.endswith("proj.weight") else 0.02
                nn.init.normal_(p, std=std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for _ in range(self.loops):
            for block in self.h:
                x = block(x)
        logits = self.ln_f(x) @ self.wte.weight.T
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--blocks", type=int, default=6)
    ap.add_argument("--loops", type=int, default=1)
    ap.add_argument("--width", type=int, default=384)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--vocab", type=int, default=50304)
    ap.add_argument("--time", type=int, default=256)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--compile", action="store_true", help="torch.compile the model")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(1337)
    model = LoopGPT(a.vocab, a.time, a.width, a.heads, a.blocks, a.loops)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": rest, "weight_decay": 0.0}],
                            lr=1e-4, betas=(0.9, 0.95), eps=1e-8, fused=True)
    step_model = torch.compile(model) if a.compile else model
    idx = torch.randint(0, a.vocab, (a.batch, a.time))
    targets = torch.randint(0, a.vocab, (a.batch, a.time))
    seconds = []
    for step in range(a.warmup + a.steps):
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = step_model(idx, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step >= a.warmup:
            seconds.append(time.perf_counter() - start)
    median = sorted(seconds)[len(seconds) // 2]
    tokens = a.batch * a.time
    c, L = a.width, a.blocks * a.loops
    forward_flops = L * (24 * c * c + 4 * a.time * c) + 2 * c * a.vocab  # as looplm counts
    tps = tokens / median
    result = {"implementation": "pytorch-compile" if a.compile else "pytorch-eager",
              "torch": torch.__version__, "threads": a.threads, "batch": a.batch, "time": a.time,
              "step_seconds": seconds, "median_step_seconds": median, "tokens_per_second": tps,
              "gflops": 3 * forward_flops * tps / 1e9}
    if a.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print(f"{result['implementation']} {torch.__version__}: median step {median:.3f} s · "
              f"{tps:.0f} tokens/s · {result['gflops']:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
