#!/usr/bin/env bash
# How much the int8 mode changes the related papers: ingests a corpus twice,
# in f32 and with --dtype int8, and reports, over every paper, the share of
# its ten nearest neighbours (cosine, itself excluded) that the two
# libraries have in common, and the cosine between each paper's two vectors.
#
# Usage: benches/int8_agreement.sh [CORPUS]   (default: the bundled sample)
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
python3 - "$work/f32.jsonl" "$work/int8.jsonl" <<'PY'
import json, sys

def load(path):
    rows = [json.loads(line) for line in open(path)]
    return {r["id"]: r["embedding"] for r in rows}

f32, int8 = load(sys.argv[1]), load(sys.argv[2])
ids = sorted(f32)
assert sorted(int8) == ids, "the two libraries hold different papers"

def dot(a, b):
    return sum(x * y for x, y in zip(a, b))

def nearest(vectors, i, k=10):
    scores = sorted(((dot(vectors[i], vectors[j]), j) for j in ids if j != i), reverse=True)
    return {j for _, j in scores[:k]}

k = min(10, len(ids) - 1)
shared = [len(nearest(f32, i, k) & nearest(int8, i, k)) / k for i in ids]
cosines = [dot(f32[i], int8[i]) for i in ids]
print(f"papers: {len(ids)}")
print(f"top-{k} neighbours shared with f32: mean {100 * sum(shared) / len(shared):.1f}%, "
      f"lowest {100 * min(shared):.0f}%")
print(f"cosine int8 to f32: mean {sum(cosines) / len(cosines):.5f}, lowest {min(cosines):.5f}")
PY
