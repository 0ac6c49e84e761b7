"""Builders for tests that need a BEIR-format folder on disk."""

from __future__ import annotations

import json


def write_folder(root, corpus, queries, qrels, *, newline="\n", bom=False):
    """Write a BEIR folder; ``corpus``/``queries`` are records (or raw lines), ``qrels`` raw lines."""
    root.mkdir(parents=True, exist_ok=True)

    def write(name, lines):
        text = newline.join(line if isinstance(line, str) else json.dumps(line) for line in lines) + newline
        (root / name).write_bytes(("\ufeff" if bom else "").encode() + text.encode())

    write("corpus.jsonl", corpus)
    write("queries.jsonl", queries)
    write("qrels.tsv", qrels)
    return root
