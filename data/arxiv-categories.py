#!/usr/bin/env python3
"""Makes data/arxiv-categories.jsonl: a balanced, labelled slice of arXiv papers
from the per-category TSVs of R. Stuart Geiger's ArXiV Archive
(github.com/staeiou/arxiv_archive, commit f043eb1d71da6ed2fb9eac63ab8707359ff606ea,
processed_data/20190101/per_category/CATEGORY.tsv.xz; see arxiv-categories.md).

Deterministic: files and rows are processed in sorted order and sampling uses
random.Random(SEED).  Usage:  python3 arxiv-categories.py SRC_DIR OUT_JSONL

A per-category file lists every paper posted OR cross-listed to that category;
only rows whose primary_cat equals the file's category are kept, so the label is
the paper's arXiv primary category.  Abstracts shorter than MIN_WORDS words are
dropped (withdrawn-paper notices etc.).
"""
import collections
import csv
import json
import lzma
import os
import random
import re
import sys

SEED = 42
PER_CLASS = 250
MIN_WORDS = 40
CATEGORIES = ["cs.CL", "cs.CR", "cs.DC", "cs.DS", "cs.IR", "cs.NI", "cs.RO",
              "cs.SE", "math.GT", "math.ST"]

SRC = sys.argv[1] if len(sys.argv) > 1 else "src"
OUT = sys.argv[2] if len(sys.argv) > 2 else "slice.jsonl"

csv.field_size_limit(10 ** 8)


def ws(s):
    return re.sub(r"\s+", " ", s or "").strip()


def main():
    pools, seen = {}, set()
    for cat in sorted(CATEGORIES):
        rows = []
        with lzma.open(os.path.join(SRC, cat + ".tsv.xz"), "rt",
                       encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                if (row.get("primary_cat") or "").strip() != cat:
                    continue
                pid = ws(row.get("arxiv_id"))
                title, abstract = ws(row.get("title")), ws(row.get("abstract"))
                if not pid or not title or len(abstract.split()) < MIN_WORDS:
                    continue
                rows.append({"id": pid, "title": title,
                             "abstract": abstract, "label": cat})
        rows.sort(key=lambda r: r["id"])
        dedup = []
        for r in rows:
            if r["id"] not in seen:
                seen.add(r["id"])
                dedup.append(r)
        pools[cat] = dedup
    rng = random.Random(SEED)
    out = []
    for cat in sorted(pools):
        out.extend(rng.sample(pools[cat], min(PER_CLASS, len(pools[cat]))))
    rng.shuffle(out)
    with open(OUT, "w", encoding="utf-8") as f:
        for r in out:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print("usable primary-category papers:",
          {c: len(v) for c, v in sorted(pools.items())})
    print("slice:", len(out),
          dict(sorted(collections.Counter(r["label"] for r in out).items())))


if __name__ == "__main__":
    main()
