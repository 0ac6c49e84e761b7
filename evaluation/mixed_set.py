"""The mixed message set of the LLM-last benchmark: a BEIR folder with gold answers (XQuAD-en)
plus the messages an employee would send in a day, written for Tessera, not taken from any
benchmark (``evaluation/data/mixed_messages.jsonl``: document searches, small talk, requests
outside any company's documents, attempts to take over the assistant, insults).

    questions  a seeded sample of the folder's questions that have gold answers
    repeats    some of those questions asked again later in the stream: half word for word, half
               reworded (lower case, no question mark, a polite lead-in), as a colleague would
    the rest   every message of ``mixed_messages.jsonl``

The folder written holds the source's corpus (the same bytes, so ``evaluate`` reuses its cached
ingest), the questions and repeats as queries with their qrels and gold answers, and
``messages.jsonl`` in the order they are sent (shuffled with the seed; a repeat always after its
question).
"""

from __future__ import annotations

import json
import random
import shutil
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from evaluation.beir import (
    ANSWERS_FILE,
    CORPUS_FILE,
    MESSAGES_FILE,
    QRELS_FILE,
    QUERIES_FILE,
    BeirFormatError,
    load_beir,
    read_messages,
)

OWN_MESSAGES = Path(__file__).resolve().parent / "data" / "mixed_messages.jsonl"
LEAD_INS = ("quick question: ", "can you remind me ", "one more time, ", "sorry, again: ")


@dataclass(frozen=True, slots=True)
class MixedSet:
    folder: Path
    counts: dict[str, int]  # messages per kind (question, repeat, search, smalltalk, ...)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def reworded(question: str, rng: random.Random) -> str:
    """The same question as a colleague would type it the second time."""
    body = question.strip().rstrip("?").strip()
    return rng.choice(LEAD_INS) + body[:1].lower() + body[1:]


def build_mixed_set(
    source: Path, out: Path, *, questions: int = 110, repeats: int = 20, seed: int = 13
) -> MixedSet:
    """Write the mixed folder for ``source`` (a BEIR folder with answers.jsonl) to ``out``."""
    dataset = load_beir(source)
    if not dataset.answers:
        raise BeirFormatError(source / ANSWERS_FILE, 0, "the mixed set needs gold answers")
    rng = random.Random(seed)
    answerable = [query for query in dataset.queries if query.id in dataset.answers]
    sample = rng.sample(answerable, min(questions, len(answerable)))
    own = read_messages(OWN_MESSAGES)
    stream: list[dict[str, str]] = [{"_id": q.id, "text": q.text, "expected": "question"} for q in sample]
    stream += [{"_id": m.id, "text": m.text, "expected": m.expected} for m in own]
    rng.shuffle(stream)
    repeated = rng.sample(sample, min(repeats, len(sample)))
    repeat_of: dict[str, str] = {}
    for number, query in enumerate(repeated):
        exact = number % 2 == 0
        text = query.text if exact else reworded(query.text, rng)
        repeat_id = f"{query.id}#{'again' if exact else 'reworded'}"
        repeat_of[repeat_id] = query.id
        after = next(i for i, row in enumerate(stream) if row["_id"] == query.id)
        stream.insert(
            rng.randint(after + 1, len(stream)), {"_id": repeat_id, "text": text, "expected": "question"}
        )

    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source / CORPUS_FILE, out / CORPUS_FILE)
    question_ids = [row["_id"] for row in stream if row["expected"] == "question"]
    texts = {row["_id"]: row["text"] for row in stream}
    _write_jsonl(out / QUERIES_FILE, [{"_id": i, "text": texts[i]} for i in question_ids])
    _write_jsonl(
        out / ANSWERS_FILE,
        [{"_id": i, "answers": dataset.answers[repeat_of.get(i, i)]} for i in question_ids],
    )
    qrels = ["query-id\tcorpus-id\tscore"]
    for query_id in question_ids:
        judged = dataset.qrels.get(repeat_of.get(query_id, query_id), {})
        qrels += [f"{query_id}\t{doc}\t{score}" for doc, score in judged.items()]
    (out / QRELS_FILE).write_text("\n".join(qrels) + "\n", encoding="utf-8")
    _write_jsonl(out / MESSAGES_FILE, stream)
    counts = Counter(row["expected"] for row in stream)
    counts["question"] -= len(repeat_of)
    counts["repeat"] = len(repeat_of)
    return MixedSet(folder=out, counts=dict(counts))


def _write_jsonl(path: Path, rows: Sequence[Mapping[str, object]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
