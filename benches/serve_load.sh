#!/usr/bin/env bash
# Load test of `relate serve` (not part of CI): requests/s and latency
# percentiles (p50, p99) of /api/similar and /api/search at 1, 8 and 64
# concurrent clients, the server's start time (launch to /healthz 200) and
# its peak resident memory. Uses wrk (Debian package `wrk`) or, when wrk is
# missing, oha (`cargo install oha`). Prints the CPU model first and writes
# every figure to OUT (default target/serve-load.txt).
#
# Usage: benches/serve_load.sh DIR [SECONDS] [OUT]
#   DIR      a library; index it first (`relate index --store DIR`) to
#            measure HNSW search. A 100,000-paper synthetic one:
#            cargo run --release --example synthetic_library -- DIR 100000 100 42
#   SECONDS  length of each run (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:?usage: benches/serve_load.sh DIR [SECONDS] [OUT]}
SECONDS_PER_RUN=${2:-10}
OUT=${3:-target/serve-load.txt}
RELATE=${RELATE:-target/release/relate}
[ -n "${RELATE_SKIP_BUILD:-}" ] || cargo build --release --quiet --bin relate
command -v wrk >/dev/null || command -v oha >/dev/null || {
  echo "serve_load: install wrk (apt-get install -y wrk) or oha (cargo install oha)" >&2
  exit 1
}

work=$(mktemp -d)
# shellcheck source=../tests/serve_lib.sh
. tests/serve_lib.sh
trap 'stop_relate_server; rm -rf "$work"' EXIT

mkdir -p "$(dirname "$OUT")"
exec > >(tee "$OUT") 2>&1
echo "# relate serve load test, $(date -u +%Y-%m-%dT%H:%MZ)"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

start=$(date +%s.%N)
start_relate_server "$RELATE" "$DIR" "$work"
until curl -sf "$base/healthz" >/dev/null; do
  kill -0 "$server" 2>/dev/null || { cat "$work/stderr"; exit 1; }
  sleep 0.01
done
ready=$(date +%s.%N)
echo "start (launch to /healthz 200): $(echo "$ready - $start" | bc) s"
info() { curl -s "$base/api/info" | python3 -c "import json,sys; i=json.load(sys.stdin); print($1)"; }
# Exact search answers until a saved index is loaded; measure with the index.
if [ "$(info 'i["hnsw_index"]')" = fresh ]; then
  until [ "$(info 'i["server"]["search"]')" = hnsw ]; do sleep 0.05; done
  echo "HNSW index in service (launch to swap): $(echo "$(date +%s.%N) - $start" | bc) s"
fi
echo "server: $(info 'i["server"]["papers"], "papers,", i["server"]["search"], "search"')"
echo "memory after start: $(grep VmRSS "/proc/$server/status" | awk '{print $2/1024 " MiB"}')"

# Paper ids to ask about, and sentences to search for.
curl -s "$base/api/search?q=learning%20from%20data&k=1000" | python3 -c '
import json, sys
for r in json.load(sys.stdin)["results"]:
    print(r["id"])' >"$work/ids"
cat >"$work/texts" <<'TEXTS'
graph neural networks for molecule property prediction
differentially private training of language models
reinforcement learning for robot grasping in clutter
efficient attention for long documents
theorem proving with large language models
federated learning with heterogeneous clients
diffusion models for image generation
bayesian optimisation of hyperparameters
TEXTS

python3 - "$work" <<'PY'
import sys, urllib.parse
work = sys.argv[1]
def lua(name, paths):
    with open(f"{work}/{name}.lua", "w") as f:
        f.write("paths = {" + ",".join('"%s"' % p for p in paths) + "}\n")
        f.write("request = function() return wrk.format('GET', paths[math.random(#paths)]) end\n")
    with open(f"{work}/{name}.urls", "w") as f:
        f.write("\n".join(paths) + "\n")
ids = [l.strip() for l in open(f"{work}/ids") if l.strip()]
texts = [l.strip() for l in open(f"{work}/texts") if l.strip()]
lua("similar", ["/api/similar?k=10&paper=" + urllib.parse.quote(i, safe="") for i in ids])
lua("search", ["/api/search?k=10&q=" + urllib.parse.quote(t, safe="") for t in texts])
PY

run() {
  local name=$1 clients=$2 threads=$(( $2 < 2 ? 1 : 2 ))
  echo
  echo "## $name, $clients clients, ${SECONDS_PER_RUN}s"
  if command -v wrk >/dev/null; then
    echo "\$ wrk -t$threads -c$clients -d${SECONDS_PER_RUN}s --latency -s $name.lua $base"
    wrk -t"$threads" -c"$clients" -d"${SECONDS_PER_RUN}s" --latency -s "$work/$name.lua" "$base" \
      | grep -E 'Requests/sec|^ +(50|75|90|99)%|requests in|Non-2xx|Socket errors'
  else
    local url
    url=$(head -1 "$work/$name.urls")
    echo "\$ oha -c $clients -z ${SECONDS_PER_RUN}s $base$url"
    oha --no-tui -c "$clients" -z "${SECONDS_PER_RUN}s" "$base$url" \
      | grep -E 'Requests/sec|50\.00%|99\.00%|Success rate'
  fi
}
for clients in 1 8 64; do run similar "$clients"; done
for clients in 1 8 64; do run search "$clients"; done
echo
echo "peak memory (VmHWM): $(grep VmHWM "/proc/$server/status" | awk '{print $2/1024 " MiB"}')"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
