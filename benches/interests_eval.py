"""How `recommend` shares its first results among the interests of a
reading list, through the `relate` binary on labelled papers.

Usage: PYTHON benches/interests_eval.py LIBRARY LABELS.jsonl [DRAWS] [RELATE:SCORER ...]

LIBRARY is a library made by `relate ingest LABELS.jsonl` (records with
`id` and `label`, such as `data/arxiv-categories.jsonl`). Each draw likes
papers of one or more labels (2; 4; 2 + 2; 3 + 1; 2 + 2 + 2) and asks for
the top 10 with dense ranking. Printed per case: the share of the top 10 in
any liked label ("either"), the mean share of the least represented one
("lesser") and how often a liked label has none of the top 10 ("none").
DRAWS per case (default 200, seed 11). Each RELATE:SCORER names a binary
and a `--scorer` (default `target/release/relate:centroid` and `:multi`).
"""

import json
import os
import random
import statistics
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CASES = {"2": [2], "4": [4], "2+2": [2, 2], "3+1": [3, 1], "2+2+2": [2, 2, 2]}


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    store, labels_file = sys.argv[1], sys.argv[2]
    draws_per_case = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    default = os.path.join(ROOT, "target/release/relate")
    specs = sys.argv[4:] or [f"{default}:centroid", f"{default}:multi"]
    label = {}
    for line in open(labels_file):
        if line.strip():
            record = json.loads(line)
            label[record["id"]] = record["label"]
    members = {}
    for paper_id in sorted(label):
        members.setdefault(label[paper_id], []).append(paper_id)
    rng = random.Random(11)
    draws = {}
    for case, sizes in CASES.items():
        draws[case] = []
        for _ in range(draws_per_case):
            liked_labels = rng.sample(sorted(members), len(sizes))
            liked = [rng.sample(members[g], n) for g, n in zip(liked_labels, sizes)]
            draws[case].append((liked_labels, liked))
    for spec in specs:
        binary, scorer = spec.rsplit(":", 1)
        for case, cases in draws.items():
            shares = []
            for liked_labels, liked in cases:
                args = [binary, "recommend", "-k", "10", "--rank", "dense", "--scorer", scorer,
                        "--store", store, "--json"]
                for group in liked:
                    for paper_id in group:
                        args += ["--like", paper_id]
                out = subprocess.run(args, capture_output=True, text=True, check=True)
                results = [row["id"] for row in json.loads(out.stdout)["results"]]
                shares.append([sum(label[r] == g for r in results) / 10 for g in liked_labels])
            line = f"{os.path.basename(binary)}:{scorer} {case:6} either " \
                   f"{statistics.mean(sum(s) for s in shares):.3f}"
            if len(CASES[case]) > 1:
                line += f" lesser {statistics.mean(min(s) for s in shares):.3f}" \
                        f" none {statistics.mean(min(s) == 0 for s in shares):.3f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
