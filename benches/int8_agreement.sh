#!/usr/bin/env bash
# How much the int8 mode changes the related papers: ingests a corpus twice,
# in f32 and with --dtype int8, and reports, over every paper, the share of
# its ten nearest neighbours (cosine, itself excluded) that the two
# libraries have in common, and the cosine between each paper's two vectors.
#
# Also how many papers keep each number of their ten, and how far below
# f32's tenth neighbour (in f32's cosines) the papers that int8 brings into
# a top ten lie: small gaps are near ties trading places, large ones would
# be a ranking that really changed.
#
# Usage: benches/int8_agreement.sh [CORPUS]   (default: the bundled sample)
#   PYTHON  the Python that compares the two (default python3); with NumPy,
#           large corpora take seconds instead of hours
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS=${1:-data/daily-papers-sample.txt}

models/fetch.sh >/dev/null
cargo build --release --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for dtype in f32 int8; do
  target/release/relate ingest "$CORPUS" --device cpu --dtype "$dtype" \
    --store "$work/$dtype" 2>/dev/null >/dev/null
  target/release/relate export --store "$work/$dtype" -o "$work/$dtype.jsonl" 2>/dev/null
done
"${PYTHON:-python3}" - "$work/f32.jsonl" "$work/int8.jsonl" <<'PY'
import json, sys

try:
    import numpy as np
except ImportError:  # plain Python: fine for a few hundred papers
    np = None

def load(path):
    rows = [json.loads(line) for line in open(path)]
    return {r["id"]: r["embedding"] for r in rows}

f32, int8 = load(sys.argv[1]), load(sys.argv[2])
ids = sorted(f32)
assert sorted(int8) == ids, "the two libraries hold different papers"
k = min(10, len(ids) - 1)

def dot(a, b):
    return sum(x * y for x, y in zip(a, b))

def ranked(vectors):
    """Each paper's k nearest (by cosine, itself excluded), best first, and
    a function giving the cosine of two papers by position."""
    if np is not None:
        m = np.array([vectors[i] for i in ids], dtype=np.float64)
        sims = m @ m.T
        np.fill_diagonal(sims, -np.inf)
        top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        return [list(row) for row in top], lambda a, b: float(sims[a, b])
    vs = [vectors[i] for i in ids]
    top = [
        [j for _, j in sorted(((dot(vs[a], vs[b]), b) for b in range(len(ids)) if b != a),
                              reverse=True)[:k]]
        for a in range(len(ids))
    ]
    return top, lambda a, b: dot(vs[a], vs[b])

top_f32, sim_f32 = ranked(f32)
top_int8, _ = ranked(int8)
shared, gaps = [], []
for a in range(len(ids)):
    kept = set(top_f32[a])
    shared.append(len(kept & set(top_int8[a])))
    tenth = sim_f32(a, top_f32[a][-1])
    # How far below f32's tenth neighbour (in f32's own cosines) each
    # paper the int8 mode brought into the ten lies.
    gaps += [tenth - sim_f32(a, b) for b in top_int8[a] if b not in kept]
cosines = [dot(f32[i], int8[i]) for i in ids]
print(f"papers: {len(ids)}")
print(f"top-{k} neighbours shared with f32: mean {100 * sum(shared) / (k * len(shared)):.1f}%, "
      f"lowest {100 * min(shared) / k:.0f}%")
print("papers keeping n of their " + str(k) + ": " + ", ".join(
    f"{n}: {shared.count(n)}" for n in range(k, -1, -1) if shared.count(n)))
if gaps:
    gaps.sort()
    print(f"papers brought into a top {k} by int8: {len(gaps)}, below f32's tenth by "
          f"{gaps[len(gaps) // 2]:.4f} (median), {gaps[-1]:.4f} (largest) in f32's cosine")
print(f"cosine int8 to f32: mean {sum(cosines) / len(cosines):.5f}, lowest {min(cosines):.5f}")
PY
