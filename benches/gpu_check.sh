#!/usr/bin/env bash
# GPU checks for a CUDA build of relate (`cargo build --release --features cuda`):
# parity with the sentence-transformers reference in f32, f16 and bf16 (sample
# abstracts and odd inputs), texts/s at batch sizes 32 to 512, and, when the
# Python given has sentence-transformers with CUDA, the same sweep for it.
#
# Usage: benches/gpu_check.sh [RELATE_BINARY] [PYTHON]
#   RELATE_BINARY  default target/release/relate
#   PYTHON         default python3 (needs numpy; sentence-transformers optional)
# Needs the model folder (models/fetch.sh) and a GPU. Exits 1 when parity
# falls below f32 cosine 0.9999 or f16/bf16 cosine 0.999 on any text.
set -uo pipefail
cd "$(dirname "$0")/.."
RELATE=${1:-target/release/relate}
PYTHON=${2:-python3}
MODEL=${RELATE_MODEL:-models/all-MiniLM-L6-v2}
REF=tests/fixtures/all-MiniLM-L6-v2.abstracts.jsonl
ODD=tests/fixtures/odd-inputs.reference.jsonl
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

failures=0

parity() { # LABEL REFERENCE OUTPUT THRESHOLD: fails when a cosine is below THRESHOLD
  "$PYTHON" - "$@" <<'PY'
import json, sys
import numpy as np
label, ref_path, out_path, threshold = sys.argv[1:5]
ref = [json.loads(l) for l in open(ref_path) if l.strip()]
out = [json.loads(l) for l in open(out_path) if l.strip()]
if len(ref) != len(out):
    print(f"parity {label}: FAILED, {len(out)} vectors for {len(ref)} texts")
    sys.exit(1)
cos = np.array([
    float(np.dot(a["embedding"], b["embedding"])
          / np.linalg.norm(a["embedding"]) / np.linalg.norm(b["embedding"]))
    for a, b in zip(ref, out)])
ok = cos.min() >= float(threshold)
print(f"parity {label}: {len(cos)} texts, lowest cosine {cos.min():.7f}, "
      f"mean {cos.mean():.7f}, below {threshold}: {(cos < float(threshold)).sum()}"
      + ("" if ok else "  FAILED"))
sys.exit(0 if ok else 1)
PY
}

for dtype in f32 f16 bf16; do
  threshold=0.999
  [ "$dtype" = f32 ] && threshold=0.9999
  for set in "$REF" "$ODD"; do
    name=$(basename "$set" .jsonl)
    "$RELATE" embed --model "$MODEL" --device cuda --dtype "$dtype" -i "$set" 2>&1 > "$work/out.jsonl" | tail -n 1
    parity "$name cuda $dtype" "$set" "$work/out.jsonl" "$threshold" || failures=$((failures + 1))
  done
done

# 1,952 texts: the 61 abstracts 32 times. One warm-up run first.
"$PYTHON" -c 'import json,sys
t=[json.loads(l)["text"] for l in open(sys.argv[1])]
print("".join(json.dumps({"text": x})+"\n" for x in (t*32)[:1952]), end="")' "$REF" >"$work/big.jsonl"
"$RELATE" embed --model "$MODEL" --device cuda -i "$work/big.jsonl" 2>&1 > /dev/null | tail -n 1
for dtype in f32 bf16 f16; do
  for size in 32 64 128 256 512; do
    echo -n "relate cuda $dtype batch $size: "
    "$RELATE" embed --model "$MODEL" --device cuda --dtype "$dtype" --batch-size "$size" \
      --batch-tokens $((size * 256)) -i "$work/big.jsonl" 2>&1 > /dev/null | tail -n 1
  done
done

if "$PYTHON" -c 'import sentence_transformers, torch; assert torch.cuda.is_available()' 2>/dev/null; then
  HF_HUB_OFFLINE=1 "$PYTHON" - "$work/big.jsonl" "$MODEL" <<'PY'
import json, sys, time
import torch
from sentence_transformers import SentenceTransformer
texts = [json.loads(l)["text"] for l in open(sys.argv[1])]
model = SentenceTransformer(sys.argv[2], device="cuda")
for dtype in ["fp32", "fp16"]:
    if dtype == "fp16":
        model = model.half()
    model.encode(texts[:256], batch_size=64)
    for size in [32, 64, 128, 256, 512]:
        best = float("inf")
        for _ in range(3):
            torch.cuda.synchronize(); start = time.perf_counter()
            model.encode(texts, batch_size=size)
            torch.cuda.synchronize(); best = min(best, time.perf_counter() - start)
        print(f"sentence-transformers cuda {dtype} batch {size}: {len(texts) / best:.0f} texts/s (best of 3)")
PY
else
  echo "sentence-transformers with CUDA not found in $PYTHON; skipping its sweep"
fi

if [ "$failures" -gt 0 ]; then
  echo "gpu_check: $failures parity check(s) FAILED"
  exit 1
fi
echo "gpu_check: parity passed in f32, f16 and bf16"
