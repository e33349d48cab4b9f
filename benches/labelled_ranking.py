"""Dense against hybrid ranking on papers with known labels, through the
`relate` binary: how much of `similar` and `recommend` stays within the
query paper's label, and how often `search` finds a paper by one of its
rare words or by its title.

Usage: PYTHON benches/labelled_ranking.py LIBRARY LABELS [N] [SEED] [RELATE:RANK ...]

LIBRARY is a library made by `relate ingest` from the labelled papers.
LABELS is either a JSON Lines file of `{"id", "title", "abstract", "label"}`
(such as `data/arxiv-categories.jsonl`, ingested as it is) or `sample`: the
bundled sample page's papers, labelled by the hand grouping in
`data/sample-topics.tsv` (ingest `data/daily-papers-sample.txt`). N queries
of each kind (default 600; all papers at most), SEED for the draws (default
5). Each RELATE:RANK names a `relate` binary and the `--rank` to give it
(default `target/release/relate:dense target/release/relate:hybrid`), so two
builds can be compared on the same draws.

Scores: `similar -k 10` and `recommend` with 2 liked papers of a label:
hits among the label's other papers / min(10, their number) (with labels of
250 papers, the label's share of the top 10); `search WORD` for a word with
an inner capital or digit found in one abstract only and not its title: that
paper in the top 10; `search TITLE`: that paper first.
"""

import json
import os
import random
import re
import statistics
import subprocess
import sys
from collections import Counter

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def relate(binary, store, args):
    out = subprocess.run([binary, *args, "--store", store, "--json"], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{binary} {' '.join(args)}: {out.stderr.strip()}")
    return [row["id"] for row in json.loads(out.stdout)["results"]]


def sample_papers(binary, store):
    """The sample page's papers as stored, with their hand-grouped label."""
    page = open(os.path.join(ROOT, "data/daily-papers-sample.txt")).read()
    paragraphs = [p.strip() for p in page.split("\n\n") if p.strip()][5:]
    lines = open(os.path.join(ROOT, "data/sample-topics.tsv")).read().splitlines()[1:]
    groups = [line.split("\t", 1)[1] for line in lines]
    out = subprocess.run([binary, "export", "--format", "jsonl", "--store", store],
                         capture_output=True, text=True, check=True)
    by_title = {}
    for line in out.stdout.splitlines():
        if line.strip():
            record = json.loads(line)
            by_title[record["title"]] = record
    papers = []
    for i, group in enumerate(groups):
        record = by_title[paragraphs[2 * i]]
        papers.append({"id": record["id"], "title": record["title"],
                       "abstract": record.get("abstract", ""), "label": group})
    return papers


def rare_words(papers, rng):
    """(paper id, a word found in its abstract only, not in its title)."""
    pattern = re.compile(r"[A-Za-z][A-Za-z0-9]*[A-Z0-9][A-Za-z0-9]*")
    words = {p["id"]: set(pattern.findall(p["abstract"])) for p in papers}
    counts = Counter(w.lower() for ws in words.values() for w in ws)
    found = []
    for p in papers:
        own = [w for w in sorted(words[p["id"]])
               if counts[w.lower()] == 1 and len(w) > 3 and w.lower() not in p["title"].lower()]
        if own:
            found.append((p["id"], rng.choice(own)))
    return found


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    store, labels = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 600
    rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 5)
    default = os.path.join(ROOT, "target/release/relate")
    specs = sys.argv[5:] or [f"{default}:dense", f"{default}:hybrid"]
    if labels == "sample":
        papers = sample_papers(specs[0].rsplit(":", 1)[0], store)
    else:
        papers = [json.loads(line) for line in open(labels) if line.strip()]
    label = {p["id"]: p["label"] for p in papers}
    members = {}
    for p in papers:
        members.setdefault(p["label"], []).append(p["id"])
    ids = sorted(label)
    queries = rng.sample(ids, min(n, len(ids)))
    groups = sorted(g for g, m in members.items() if len(m) >= 4)
    liked = []
    for _ in range(n):
        group = rng.choice(groups)
        liked.append((group, rng.sample(members[group], 2)))
    words = rare_words(papers, rng)
    words = rng.sample(words, min(n, len(words)))
    titled = rng.sample(papers, min(n, len(papers)))

    def share(results, group, asked):
        rest = [m for m in members[group] if m not in asked]
        return sum(r in rest for r in results) / max(1, min(10, len(rest)))

    print(f"{len(papers)} papers, {len(members)} labels")
    for spec in specs:
        binary, rank = spec.rsplit(":", 1)
        ask = lambda args: relate(binary, store, [*args, "-k", "10", "--rank", rank])
        similar = statistics.mean(share(ask(["similar", q]), label[q], [q]) for q in queries)
        recommend = statistics.mean(
            share(ask(["recommend", "--like", a, "--like", b]), g, [a, b]) for g, (a, b) in liked)
        by_word = statistics.mean(i in ask(["search", w]) for i, w in words)
        by_title = statistics.mean(ask(["search", p["title"]])[:1] == [p["id"]] for p in titled)
        print(f"{spec}: similar {similar:.3f}  recommend {recommend:.3f}  "
              f"search word top 10 {by_word:.3f} ({len(words)})  search title first {by_title:.3f}")


if __name__ == "__main__":
    main()
