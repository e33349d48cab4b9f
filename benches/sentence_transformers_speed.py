"""Embedding throughput of the Python reference implementation
(sentence-transformers) on the sample abstracts, for side-by-side comparison
with `relate embed` (see benches/compare_speed.sh).

Prints one line: texts/s and tokens/s over the encode call alone.
"""
import json
import sys
import time

import torch
from sentence_transformers import SentenceTransformer


def main(model_dir: str, texts_path: str, repeat: int, batch_size: int) -> None:
    torch.set_num_threads(int(sys.argv[5]) if len(sys.argv) > 5 else torch.get_num_threads())
    texts = [json.loads(line)["text"] for line in open(texts_path, encoding="utf-8") if line.strip()]
    texts = texts * repeat
    model = SentenceTransformer(model_dir, device="cpu")
    tokens = sum(min(len(model.tokenizer(t)["input_ids"]), model.max_seq_length) for t in texts)
    model.encode(texts[:batch_size], batch_size=batch_size)  # warm-up
    start = time.perf_counter()
    model.encode(texts, batch_size=batch_size, normalize_embeddings=True)
    secs = time.perf_counter() - start
    print(f"sentence-transformers: {len(texts)} texts ({tokens} tokens) in {secs:.2f}s: "
          f"{len(texts) / secs:.1f} texts/s, {tokens / secs:.0f} tokens/s "
          f"(torch {torch.__version__}, {torch.get_num_threads()} threads)")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
