#!/usr/bin/env bash
# Side-by-side CPU throughput: `relate embed` against sentence-transformers on
# the same texts (the 61 sample abstracts, repeated), alternating runs.
#
# Usage: benches/compare_speed.sh PYTHON [RUNS] [REPEAT]
#   PYTHON  a Python with sentence-transformers installed
# Both report their internal encode time only (model load excluded).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${1:?usage: benches/compare_speed.sh PYTHON [RUNS] [REPEAT]}
RUNS=${2:-5}
REPEAT=${3:-2}
MODEL=models/all-MiniLM-L6-v2
TEXTS=tests/fixtures/all-MiniLM-L6-v2.abstracts.jsonl

models/fetch.sh >/dev/null
cargo build --release --quiet
input=$(mktemp)
trap 'rm -f "$input"' EXIT
for _ in $(seq "$REPEAT"); do
  "$PYTHON" -c 'import json,sys
for l in open(sys.argv[1]): print(json.dumps({"text": json.loads(l)["text"]}))' "$TEXTS"
done >"$input"

for run in $(seq "$RUNS"); do
  echo "run $run"
  target/release/relate embed --device cpu --model "$MODEL" -i "$input" 2>&1 >/dev/null | tail -n 1
  HF_HUB_OFFLINE=1 "$PYTHON" benches/sentence_transformers_speed.py "$MODEL" "$TEXTS" "$REPEAT" 16 2>/dev/null
done
