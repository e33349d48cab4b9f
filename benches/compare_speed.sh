#!/usr/bin/env bash
# Side-by-side CPU throughput: `relate embed` at every SIMD level this CPU
# has (baseline, AVX2, AVX-512; see RELATE_SIMD), in f32 and in the int8
# mode, against sentence-transformers on the same texts (the 61 sample
# abstracts, repeated), alternating runs, with the same number of threads.
# Prints the CPU model and flags first. sentence-transformers runs up to
# three times per round: with its best kernels, held to AVX2 (on a CPU with
# AVX-512: the counterpart of relate's avx2 level) and held to SSE (no
# AVX), the counterpart of relate's baseline level.
#
# Usage: benches/compare_speed.sh PYTHON [RUNS] [REPEAT] [THREADS]
#   PYTHON   a Python with sentence-transformers installed
#   THREADS  threads for both (default: all cores)
#   RELATE_BINARY  a relate binary built elsewhere (default: build
#                  target/release/relate here), for a machine without Rust
# Both report their internal encode time only (model load excluded).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${1:?usage: benches/compare_speed.sh PYTHON [RUNS] [REPEAT] [THREADS]}
RUNS=${2:-5}
REPEAT=${3:-2}
THREADS=${4:-$(nproc)}
MODEL=models/all-MiniLM-L6-v2
TEXTS=tests/fixtures/all-MiniLM-L6-v2.abstracts.jsonl

models/fetch.sh >/dev/null
RELATE=${RELATE_BINARY:-target/release/relate}
[ -n "${RELATE_BINARY:-}" ] || cargo build --release --quiet
input=$(mktemp)
trap 'rm -f "$input"' EXIT
for _ in $(seq "$REPEAT"); do
  "$PYTHON" -c 'import json,sys
for l in open(sys.argv[1]): print(json.dumps({"text": json.loads(l)["text"]}))' "$TEXTS"
done >"$input"

echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') ($(nproc) cores, $THREADS threads)"
echo "flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(sse4_2|avx|avx2|fma|avx512f|avx512_vnni|avx512vl|avx512bw|avx_vnni)$' | tr '\n' ' ')"

levels=()
for level in baseline avx2 avx512; do
  got=$(RELATE_SIMD=$level "$RELATE" embed --device cpu --model "$MODEL" \
    -i <(head -n 1 "$input") 2>&1 >/dev/null | tail -n 1 | grep -o 'cpu ([a-z0-9]*)' || true)
  if [ "$got" = "cpu ($level)" ]; then levels+=("$level"); fi
done
echo "relate levels on this CPU: ${levels[*]}"

for run in $(seq "$RUNS"); do
  echo "run $run"
  for level in "${levels[@]}"; do
    for dtype in f32 int8; do
      RAYON_NUM_THREADS=$THREADS RELATE_SIMD=$level "$RELATE" embed --device cpu \
        --dtype "$dtype" --model "$MODEL" -i "$input" 2>&1 >/dev/null | tail -n 1
    done
    if [ "$level" = avx2 ] && grep -qw avx_vnni /proc/cpuinfo; then
      # The int8 mode of an AVX2 CPU without AVX-VNNI (most AMD CPUs before
      # Zen 4, Intel's before 2021).
      RAYON_NUM_THREADS=$THREADS RELATE_SIMD=$level RELATE_INT8_KERNEL=avx2 \
        "$RELATE" embed --device cpu --dtype int8 --model "$MODEL" -i "$input" \
        2>&1 >/dev/null | tail -n 1
    fi
  done
  echo -n "(best instructions) "
  HF_HUB_OFFLINE=1 "$PYTHON" benches/sentence_transformers_speed.py "$MODEL" "$TEXTS" "$REPEAT" 16 "$THREADS" 2>/dev/null
  if [[ " ${levels[*]} " == *" avx512 "* ]]; then
    # torch's kernels held to AVX2: the counterpart of relate's avx2 level.
    echo -n "(AVX2) "
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 \
      HF_HUB_OFFLINE=1 "$PYTHON" benches/sentence_transformers_speed.py "$MODEL" "$TEXTS" "$REPEAT" 16 "$THREADS" 2>/dev/null
  fi
  # torch's kernels held to SSE (no AVX): the counterpart of relate's
  # baseline level on a CPU without AVX2. MKL ignores MKL_ENABLE_INSTRUCTIONS
  # on AMD CPUs and keeps its AVX2/FMA kernels there; MKL_CBWR=COMPATIBLE
  # holds it to SSE2 on every vendor, and the glibc tunable keeps libm's
  # expf off its FMA variant.
  echo -n "(no AVX) "
  ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41 MKL_ENABLE_INSTRUCTIONS=SSE4_2 \
    MKL_CBWR=COMPATIBLE GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX,-AVX2,-FMA,-AVX512F \
    HF_HUB_OFFLINE=1 "$PYTHON" benches/sentence_transformers_speed.py "$MODEL" "$TEXTS" "$REPEAT" 16 "$THREADS" 2>/dev/null
done
