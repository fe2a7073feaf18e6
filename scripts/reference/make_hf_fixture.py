"""Proves `looplm export-hf` writes what transformers loads, and records what it computes.

    swift build -c release && pip install torch transformers
    python3 scripts/reference/make_hf_fixture.py

Exports the looped reference checkpoint (Tests/LoopModelTests/Fixtures/looped, 1+2×3+1) with
the real binary, loads the folder with transformers.GPT2LMHeadModel.from_pretrained, runs the
reference batch, and writes its logits to Tests/LoopCheckpointTests/Fixtures/transformers_logits.safetensors.
The Swift test compares LoopLM's own logits (looped, and the re-imported export) with them.
"""
import os
import subprocess
import tempfile

import numpy as np
import torch
import transformers

import safetensors_io

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
SOURCE = os.path.join(ROOT, "Tests", "LoopModelTests", "Fixtures", "looped")
FIXTURES = os.path.join(ROOT, "Tests", "LoopCheckpointTests", "Fixtures")
OUT = os.path.join(FIXTURES, "transformers_logits.safetensors")
HF_TINY = os.path.join(FIXTURES, "hf-gpt2-tiny")


def read_int32(path, name):
    import json
    import struct
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    entry = header[name]
    start, end = entry["data_offsets"]
    return np.frombuffer(data[start:end], dtype="<i4").reshape(entry["shape"])


def main():
    with tempfile.TemporaryDirectory() as folder:
        exported = os.path.join(folder, "hf")
        subprocess.run([os.path.join(ROOT, ".build", "release", "looplm"), "export-hf", SOURCE, "--output", exported],
                       check=True)
        model = transformers.GPT2LMHeadModel.from_pretrained(exported, torch_dtype=torch.float32).eval()
        tokens = read_int32(os.path.join(SOURCE, "reference.safetensors"), "tokens")
        with torch.no_grad():
            logits = model(torch.tensor(tokens, dtype=torch.long)).logits.float().numpy()
        n_layer = model.config.n_layer
    safetensors_io.write(OUT, {"tokens": tokens.astype(np.int32), "logits": logits},
                         {"transformers": transformers.__version__, "torch": torch.__version__, "n_layer": n_layer})
    print(f"transformers {transformers.__version__} loaded the export ({n_layer} blocks); logits {logits.shape} → {OUT}")
    make_tiny_hf_model(tokens)


def make_tiny_hf_model(tokens):
    """A GPT-2 saved by transformers itself (random weights, GPT-2's tensor names and shapes),
    for testing import-hf on a real Hugging Face folder, with the logits transformers computes."""
    torch.manual_seed(7)
    config = transformers.GPT2Config(vocab_size=101, n_positions=16, n_embd=32, n_layer=4, n_head=4,
                                     bos_token_id=None, eos_token_id=None)
    model = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():  # move LayerNorms and biases off their trivial initial values
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.add_(0.1 * torch.randn_like(p))
    model.save_pretrained(HF_TINY, safe_serialization=True)
    for extra in ("generation_config.json",):
        path = os.path.join(HF_TINY, extra)
        if os.path.exists(path):
            os.remove(path)
    with torch.no_grad():
        logits = model(torch.tensor(tokens, dtype=torch.long)).logits.float().numpy()
    safetensors_io.write(os.path.join(HF_TINY, "reference_logits.safetensors"),
                         {"tokens": tokens.astype(np.int32), "logits": logits}, {"transformers": transformers.__version__})
    print(f"tiny GPT-2 saved by transformers → {HF_TINY}")


if __name__ == "__main__":
    main()
