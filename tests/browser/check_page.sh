#!/usr/bin/env bash
# Browser check of `relate serve`'s page: headless Chromium loads the page,
# types a query, and the rendered text is checked; screenshots go to
# target/browser/ (or $OUT). Skips, saying why, when Chromium or Node.js is
# missing. Builds the debug binary when $RELATE is not given.
set -euo pipefail
cd "$(dirname "$0")/../.."

chromium=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
if [ -z "$chromium" ]; then
  echo "check_page: skipped: Chromium is not installed (apt-get install -y chromium)"
  exit 0
fi
if ! command -v node >/dev/null; then
  echo "check_page: skipped: Node.js is not installed, and it drives the browser"
  exit 0
fi
relate=${RELATE:-target/debug/relate}
if [ -z "${RELATE:-}" ]; then
  cargo build --quiet --bin relate
fi
out=${OUT:-target/browser}
mkdir -p "$out"
work=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$relate" ingest data/daily-papers-sample.txt --store "$work/library" 2>/dev/null
"$relate" topics --store "$work/library" >/dev/null 2>&1
"$relate" serve --store "$work/library" --addr 127.0.0.1:0 >"$work/stdout" 2>"$work/stderr" &
server=$!
for _ in $(seq 1 600); do
  grep -q '^listening on ' "$work/stdout" && break
  kill -0 "$server" 2>/dev/null || { cat "$work/stderr"; echo "check_page: the server stopped"; exit 1; }
  sleep 0.1
done
base=$(sed -n 's/^listening on //p' "$work/stdout")
[ -n "$base" ] || { cat "$work/stderr"; echo "check_page: the server never listened"; exit 1; }
echo "check_page: server at $base, Chromium at $chromium"
node tests/browser/drive.js "$chromium" "$base" "$out"
