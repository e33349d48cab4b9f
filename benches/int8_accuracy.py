"""How close `relate embed --dtype int8` stays to sentence-transformers on
texts of every length: 1,500 arXiv titles and 1,000 titles with abstracts
from data/arxiv-categories.jsonl, 300 random one- to eight-word phrases
made of their words, and a few dozen odd strings (single words, symbols,
code, other scripts). Prints, per group, the lowest cosine to the
reference, the 1st percentile and the median, then the worst texts.

Run with a Python that has sentence-transformers and NumPy, from the
repository, after `cargo build --release` and `models/fetch.sh`:
    python benches/int8_accuracy.py [--dtype int8] [--relate target/release/relate]
RELATE_SIMD and RELATE_INT8_KERNEL pass through to relate.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile

import numpy as np

ODD = [
    "GAN", "BERT", "the", "?", "a", "x", "LLM", "RLHF", "3.14159", "2024",
    "arXiv:2106.09685", "https://arxiv.org/abs/1706.03762", "O(n log n)",
    "$\\mathcal{O}(n^2)$ lower bounds", "def f(x): return x**2",
    "SELECT * FROM papers WHERE year > 2020;", "AAAAAAAAAAAAAAAAAAAA",
    "e^{i\\pi} + 1 = 0", "\u2200x \u2203y: x < y", "Schr\u00f6dinger equation",
    "\u00dcber die Quantentheorie", "\u0422\u0435\u043e\u0440\u0438\u044f \u0433\u0440\u0430\u0444\u043e\u0432",
    "\u30b0\u30e9\u30d5\u7406\u8ad6", "\uadf8\ub798\ud504 \uc774\ub860", "\u0928\u0947\u091f\u0935\u0930\u094d\u0915",
    "\U0001f642", "\U0001f680\U0001f680\U0001f680", "...", "\u2014", "#", "@@@",
    "transformer transformer transformer transformer", "attention is all you need",
    "ATTENTION IS ALL YOU NEED", "neural nets", "Deep reinforcement learning for robotics",
    "quantum", "protein folding", "dark matter halo", "1 2 3 4 5 6 7 8 9 10",
    "[CLS] [SEP] [MASK]", "<html><body>paper</body></html>",
    "\\begin{equation} x \\end{equation}",
]


def texts_by_group(corpus):
    papers = [json.loads(line) for line in open(corpus, encoding="utf-8")]
    rng = random.Random(7)
    words = " ".join(p["abstract"] for p in papers[:300]).split()
    phrases = [
        " ".join(rng.choice(words) for _ in range(rng.choice([1, 1, 2, 3, 5, 8])))
        for _ in range(300)
    ]
    return {
        "titles": [p["title"] for p in papers[:1500]],
        "abstracts": [p["title"] + ". " + p["abstract"] for p in papers[1500:2500]],
        "short phrases": phrases,
        "odd strings": ODD,
    }


def relate_vectors(relate, model, dtype, texts):
    with tempfile.TemporaryDirectory() as tmp:
        given, got = os.path.join(tmp, "in.jsonl"), os.path.join(tmp, "out.jsonl")
        with open(given, "w", encoding="utf-8") as out:
            for t in texts:
                out.write(json.dumps({"text": t}) + "\n")
        run = subprocess.run(
            [relate, "embed", "--device", "cpu", "--dtype", dtype, "--model", model,
             "-i", given, "-o", got],
            stderr=subprocess.PIPE, text=True)
        if run.returncode != 0:
            sys.exit(f"relate embed failed: {run.stderr.strip()}")
        print(run.stderr.strip().splitlines()[-1])
        v = np.array([json.loads(line)["embedding"] for line in open(got)], dtype=np.float32)
    return v / (np.linalg.norm(v, axis=1, keepdims=True) + 1e-12)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--relate", default="target/release/relate")
    parser.add_argument("--model", default="models/all-MiniLM-L6-v2")
    parser.add_argument("--corpus", default="data/arxiv-categories.jsonl")
    parser.add_argument("--dtype", default="int8")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    groups = texts_by_group(args.corpus)
    texts = [t for group in groups.values() for t in group]
    reference = SentenceTransformer(args.model, device="cpu").encode(
        texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
    cosines = (relate_vectors(args.relate, args.model, args.dtype, texts) * reference).sum(1)
    start = 0
    for name, group in groups.items():
        c = cosines[start:start + len(group)]
        start += len(group)
        print(f"{name:14s} {len(group):5d} texts: lowest {c.min():.4f}  "
              f"1st percentile {np.percentile(c, 1):.4f}  median {np.median(c):.4f}")
    print("worst:")
    for i in np.argsort(cosines)[:8]:
        print(f"  {cosines[i]:.4f}  {texts[i][:70]!r}")


if __name__ == "__main__":
    main()
