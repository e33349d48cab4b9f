"""Vector sets of other shapes than `examples/synthetic_library`'s clusters,
to check `relate index` (its tuned beam, recall and build time) on data it
was not tuned on.

Usage: PYTHON benches/vector_shapes.py SHAPE PAPERS SEED OUT
SHAPE is one of: uniform (no structure: uniform on the sphere), lowdim
(16-dimensional data embedded in 384), mix1000 (1,000 Gaussian clusters of
varied spread), topics (20 topics of 20 subtopics each), aniso (a shared mean
direction and a decaying spectrum, as sentence embeddings have).
Writes OUT.csv (id, title, abstract) and OUT.npy (PAPERS x 384 unit vectors,
row i for record i). Then:

    relate ingest OUT.csv --vectors OUT.npy --model-id all-MiniLM-L6-v2 --store DIR
    relate index --store DIR
    PYTHON benches/hnswlib_compare.py DIR      # side by side, same vectors

Needs numpy.
"""

import csv
import sys

import numpy as np

DIM = 384


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def vectors(shape, n, rng):
    if shape == "uniform":
        return rng.standard_normal((n, DIM))
    if shape == "lowdim":
        return rng.standard_normal((n, 16)) @ rng.standard_normal((16, DIM))
    if shape == "mix1000":
        centres = unit(rng.standard_normal((1000, DIM)))
        member = rng.integers(0, 1000, n)
        spread = rng.uniform(0.3, 1.5, 1000)
        noise = rng.standard_normal((n, DIM)) / np.sqrt(DIM)
        return centres[member] + spread[member, None] * noise
    if shape == "topics":
        top = unit(rng.standard_normal((20, DIM)))
        noise = rng.standard_normal((400, DIM)) / np.sqrt(DIM)
        sub = unit(top[rng.integers(0, 20, 400)] + 0.8 * noise)
        member = rng.integers(0, 400, n)
        return sub[member] + 0.6 * rng.standard_normal((n, DIM)) / np.sqrt(DIM)
    if shape == "aniso":
        scale = 1.0 / np.sqrt(np.arange(1, DIM + 1))
        mean = unit(rng.standard_normal((1, DIM)))
        centres = rng.standard_normal((300, DIM)) * scale
        member = rng.integers(0, 300, n)
        return 1.5 * mean + centres[member] + 0.5 * rng.standard_normal((n, DIM)) * scale
    sys.exit(f"unknown shape {shape!r}: uniform, lowdim, mix1000, topics or aniso")


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    shape, n, seed, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    rng = np.random.default_rng(seed)
    np.save(out + ".npy", unit(vectors(shape, n, rng)).astype(np.float32))
    with open(out + ".csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "title", "abstract"])
        for i in range(n):
            writer.writerow([f"{shape}-{i}", f"Paper {i} of set {shape}", f"Abstract {i} of {shape}."])


if __name__ == "__main__":
    main()
