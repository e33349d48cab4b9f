"""Side-by-side reference for `relate index`: builds an hnswlib index with the
same M and ef_construction over a library's stored vectors and reports build
time and recall@10 against exact search, on the same sample size as relate's
self-check.

Usage: PYTHON benches/hnswlib_compare.py LIBRARY_DIR [M] [EF_CONSTRUCTION] [THREADS]
Needs numpy and hnswlib (`pip install hnswlib`). Run `relate index --store
LIBRARY_DIR` right before or after it on the same machine to compare.
"""

import sys
import time

import hnswlib
import numpy as np

HEADER_BYTES = 64  # relate's vector file header (magic, version, dim, count, generation)


def main():
    store = sys.argv[1]
    m = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    ef_construction = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    raw = np.fromfile(f"{store}/vectors.f32", dtype="<f4", offset=HEADER_BYTES)
    dim = int(np.frombuffer(open(f"{store}/vectors.f32", "rb").read(16)[12:16], "<u4")[0])
    vectors = raw.reshape(-1, dim)
    n = len(vectors)
    index = hnswlib.Index(space="ip", dim=dim)
    index.init_index(max_elements=n, M=m, ef_construction=ef_construction, random_seed=42)
    index.set_num_threads(threads)
    start = time.perf_counter()
    index.add_items(vectors, np.arange(n))
    build = time.perf_counter() - start
    rng = np.random.default_rng(42)
    queries = rng.choice(n, size=min(200, n), replace=False)
    truth = np.argsort(-(vectors[queries] @ vectors.T), axis=1)[:, :10]
    print(f"hnswlib n={n} dim={dim} M={m} ef_construction={ef_construction} threads={threads}: build {build:.1f} s")
    for ef in (32, 64, 100, 128, 200, 400, 800):
        index.set_ef(ef)
        labels, _ = index.knn_query(vectors[queries], k=10)
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(labels, truth)])
        worst = min(len(set(a) & set(b)) / 10 for a, b in zip(labels, truth))
        self_found = np.mean([q in set(a) for q, a in zip(queries, labels)])
        print(f"  ef={ef}: recall@10 {recall:.4f} (worst query {worst:.2f}, self found {self_found:.4f})")


if __name__ == "__main__":
    main()
