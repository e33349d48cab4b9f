#!/usr/bin/env bash
# GPU checks for a CUDA build of relate (`cargo build --release --features cuda`):
# parity with the sentence-transformers reference in f32, f16 and bf16 (sample
# abstracts and odd inputs), texts/s at batch sizes 32 to 512, then volume:
# `relate embed` and `relate ingest` on 20,480 distinct abstracts at the
# default batch limits, beside sentence-transformers on the same GPU and texts
# when the Python given has it with CUDA.
#
# Usage: benches/gpu_check.sh [RELATE_BINARY] [PYTHON]
#   RELATE_BINARY  default target/release/relate
#   PYTHON         default python3 (needs numpy; sentence-transformers optional)
#   RELATE_GPU_TEXTS  texts in the volume runs (default 20480)
# Needs the model folder (models/fetch.sh) and a GPU. When the CUDA libraries
# (cuBLAS, cuRAND, the runtime) are not on the loader's path, they are looked
# for in the Python's NVIDIA wheels. Exits 1 when parity falls below f32
# cosine 0.9999 or f16/bf16 cosine 0.999 on any text. Every run is bounded
# (timeout), so the whole check takes a few minutes.
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

# CUDA libraries from the Python's NVIDIA wheels when the loader lacks them.
if ! ldconfig -p 2>/dev/null | grep -q 'libcublas\.so\.1'; then
  wheel_libs=$("$PYTHON" - <<'PY' 2>/dev/null
import glob, os, site
roots = site.getsitepackages() + [site.getusersitepackages()]
dirs = {os.path.dirname(p) for r in roots
        for p in glob.glob(os.path.join(r, "nvidia", "**", "lib*.so*"), recursive=True)}
print(":".join(sorted(dirs)))
PY
)
  if [ -n "$wheel_libs" ]; then
    export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$wheel_libs"
    echo "CUDA libraries from the Python's NVIDIA wheels: $wheel_libs"
  fi
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
"$RELATE" --version

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
    timeout 120 "$RELATE" embed --model "$MODEL" --device cuda --dtype "$dtype" -i "$set" 2>&1 > "$work/out.jsonl" | tail -n 1
    parity "$name cuda $dtype" "$set" "$work/out.jsonl" "$threshold" || failures=$((failures + 1))
  done
done

# 1,952 texts: the 61 abstracts 32 times. One warm-up run first; the batch-size sweep runs last.
"$PYTHON" -c 'import json,sys
t=[json.loads(l)["text"] for l in open(sys.argv[1])]
print("".join(json.dumps({"text": x})+"\n" for x in (t*32)[:1952]), end="")' "$REF" >"$work/big.jsonl"
timeout 120 "$RELATE" embed --model "$MODEL" --device cuda -i "$work/big.jsonl" 2>&1 > /dev/null | tail -n 1

# Volume: distinct abstract-like texts (the sample abstracts with their
# sentences rotated, each under its own title), embedded at the default batch
# limits, then ingested into a fresh library.
texts=${RELATE_GPU_TEXTS:-20480}
"$PYTHON" - "$REF" "$texts" >"$work/volume.jsonl" <<'PY'
import json, re, sys
base = [json.loads(l)["text"] for l in open(sys.argv[1]) if l.strip()]
for i in range(int(sys.argv[2])):
    sentences = re.split(r"(?<=[.!?]) ", base[i % len(base)])
    turn = (i // len(base)) % len(sentences)
    abstract = " ".join(sentences[turn:] + sentences[:turn])
    print(json.dumps({"id": f"v{i}", "title": f"Study {i} of {len(base)} themes",
                      "abstract": abstract}))
PY
for dtype in f32 bf16 f16; do
  echo -n "relate embed cuda $dtype, $texts texts, default batches: "
  timeout 240 "$RELATE" embed --model "$MODEL" --device cuda --dtype "$dtype" \
    -i "$work/volume.jsonl" 2>&1 > "$work/volume.$dtype.jsonl" | tail -n 1
done
if [ -s "$work/volume.f32.jsonl" ]; then
  # The f16 and bf16 vectors of the volume texts against f32.
  "$PYTHON" - "$work/volume.f32.jsonl" "$work/volume.f16.jsonl" "$work/volume.bf16.jsonl" <<'PY'
import json, sys
import numpy as np
def load(p):
    try:
        return np.array([json.loads(l)["embedding"] for l in open(p) if l.strip()], dtype=np.float64)
    except (OSError, KeyError, ValueError):
        return None
f32 = load(sys.argv[1])
for path, name in [(sys.argv[2], "f16"), (sys.argv[3], "bf16")]:
    other = load(path)
    if other is None or other.shape != f32.shape:
        print(f"volume {name} vs f32: no comparable output")
        continue
    cos = (f32 * other).sum(1) / np.linalg.norm(f32, axis=1) / np.linalg.norm(other, axis=1)
    print(f"volume {name} vs f32: {len(cos)} texts, lowest cosine {cos.min():.6f}, mean {cos.mean():.6f}")
PY
fi
start=$(date +%s.%N)
timeout 300 "$RELATE" ingest "$work/volume.jsonl" --store "$work/library" --model "$MODEL" \
  --device cuda 2>&1 | tail -n 2
end=$(date +%s.%N)
"$PYTHON" -c 'import sys; n, a, b = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]); print(f"relate ingest cuda f32, {n} papers: {b - a:.1f} s wall including model load, {n / (b - a):.0f} papers/s")' "$texts" "$start" "$end"

if "$PYTHON" -c 'import sentence_transformers, torch; assert torch.cuda.is_available()' 2>/dev/null; then
  HF_HUB_OFFLINE=1 timeout 300 "$PYTHON" - "$work/big.jsonl" "$MODEL" "$work/volume.jsonl" <<'PY'
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
# The volume texts, composed as relate composes them, at batch 256.
volume = [json.loads(l) for l in open(sys.argv[3]) if l.strip()]
volume = [f"{v['title']}. {v['abstract']}" for v in volume]
for dtype in ["fp32", "fp16", "bf16"]:
    model = SentenceTransformer(sys.argv[2], device="cuda")
    if dtype == "fp16":
        model = model.half()
    if dtype == "bf16":
        model = model.to(torch.bfloat16)
    model.encode(volume[:1024], batch_size=256)
    torch.cuda.synchronize(); start = time.perf_counter()
    model.encode(volume, batch_size=256)
    torch.cuda.synchronize(); took = time.perf_counter() - start
    print(f"sentence-transformers cuda {dtype}, {len(volume)} texts, batch 256: {len(volume) / took:.0f} texts/s")
PY
else
  echo "sentence-transformers with CUDA not found in $PYTHON; skipping its sweep"
fi

# Batch-size sweep of relate on the 1,952 texts.
for dtype in f32 bf16 f16; do
  for size in 32 64 128 256 512; do
    echo -n "relate cuda $dtype batch $size: "
    timeout 60 "$RELATE" embed --model "$MODEL" --device cuda --dtype "$dtype" --batch-size "$size" \
      --batch-tokens $((size * 256)) -i "$work/big.jsonl" 2>&1 > /dev/null | tail -n 1
  done
done

if [ "$failures" -gt 0 ]; then
  echo "gpu_check: $failures parity check(s) FAILED"
  exit 1
fi
echo "gpu_check: parity passed in f32, f16 and bf16"
