#!/usr/bin/env bash
# The main job on the bundled sample corpus: fetch the model if missing, build
# relate, ingest the sample daily-papers page into a library under target/,
# ask it a few questions, and group it into topics with a map.
set -euo pipefail
cd "$(dirname "$0")"

models/fetch.sh
cargo build --release
relate=target/release/relate
store=${RELATE_STORE:-target/sample-library}

echo
echo "== relate ingest data/daily-papers-sample.txt --store $store"
"$relate" ingest data/daily-papers-sample.txt --store "$store"
echo
echo "== relate info"
"$relate" info --store "$store"
echo
echo "== relate topics --map target/sample-topics.svg"
"$relate" topics --map target/sample-topics.svg --store "$store"
echo
echo "== relate similar \"Faster Rates of Convergence to Stationary Points in Differentially Private Optimization\" -k 5"
"$relate" similar "Faster Rates of Convergence to Stationary Points in Differentially Private Optimization" -k 5 --store "$store"
echo
echo "== relate search \"federated learning with many clients\" -k 5"
"$relate" search "federated learning with many clients" -k 5 --store "$store"
echo
echo "Topic map of the sample library: target/sample-topics.svg"
