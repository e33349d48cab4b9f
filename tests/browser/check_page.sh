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
# shellcheck source=../serve_lib.sh
. tests/serve_lib.sh
trap 'stop_relate_server; rm -rf "$work"' EXIT

"$relate" ingest data/daily-papers-sample.txt --store "$work/library" 2>/dev/null
"$relate" topics --store "$work/library" >/dev/null 2>&1
start_relate_server "$relate" "$work/library" "$work"
echo "check_page: server at $base, Chromium at $chromium"
node tests/browser/drive.js "$chromium" "$base" "$out"
