"""Writes Tests/LoopTokenizerTests/Fixtures/gpt2_reference.json: texts and the ids tiktoken's
gpt2 encoding gives them (ordinary text, and with <|endoftext|> allowed).

    pip install tiktoken && bash scripts/setup.sh && python3 scripts/tokenizer/make_fixture.py
"""
import json
import os
import random

import tiktoken_gpt2

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "Tests", "LoopTokenizerTests", "Fixtures", "gpt2_reference.json")

HANDWRITTEN = [
    "", "a", " ", "  ", "\n", "Hello world", "hello  world", "Hello, world!  How are you?\n",
    "I'm sure you'll see they've done it; she'd said we're fine, 'tis true", "don't DON'T 'S 'll",
    "It's 2024: 3.14159, 1,000,000 and 42nd street; 0x1F600",
    "    indented code:\n\tif x == 1:\n\t\treturn  y  \n\n\n",
    "trailing spaces   ", "   leading spaces", "\r\n\r\nwindows lines\r\n",
    "naïve café — résumé, Größe, São Paulo", "Привет, мир! Как дела?", "東京は日本の首都です。",
    "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "🎭 emoji 👩‍👩‍👧 and flags 🇫🇷🇯🇵!!",
    "mixed: ABCабв漢字123٣٤٥ Ⅻ ½ ²", "non\u00a0breaking\u2003em\u3000ideographic space",
    "tabs\tand\u000bvertical\u000cform feeds", "a" * 300, " " * 257 + "x", "!!!???...;;;",
    "<|endoftext|>", "before<|endoftext|>after", "e\u0301 combining accents a\u0308", "'s's's 'S",
    "ROMEO:\nBut, soft! what light through yonder window breaks?\nIt is the east, and Juliet is the sun.",
]

POOL = ("abcXYZ éüß ЖЩ 漢字 ٣٤ Ⅻ½ 0123456789 .,;:!?'\"-_()[]{} \t\n\r\u00a0\u2003\u3000"
        "🎭👍🏽 \u0301 <|>")


def random_texts(count, seed=1234):
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        length = rng.randint(1, 60)
        texts.append("".join(rng.choice(POOL) for _ in range(length)))
    return texts


def main():
    enc = tiktoken_gpt2.encoding()
    cases = []
    for text in HANDWRITTEN + random_texts(300):
        cases.append({"text": text, "ids": enc.encode_ordinary(text),
                      "ids_allowing_special": enc.encode(text, allowed_special={"<|endoftext|>"})})
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump({"encoding": "tiktoken gpt2", "cases": cases}, f, ensure_ascii=False, indent=0)
    print(f"{len(cases)} cases → {OUT}")


if __name__ == "__main__":
    main()
