"""Read and check a BEIR-format folder: ``corpus.jsonl``, ``queries.jsonl`` and ``qrels.tsv``, and
``answers.jsonl`` where there is one (gold answers per query and how they are scored), and
``messages.jsonl`` where there is one (chat messages with the route each should take).

Lenient where real folders differ harmlessly (a UTF-8 BOM, CRLF line ends, blank lines, numeric
ids, a missing or null title, extra fields, a qrels file with or without its header line, spaces
instead of tabs when a line has no tab), strict where a silent guess would change the scores
(duplicate ids, a row that is not ``query-id, corpus-id, score``, a score that is not an integer):
those raise ``BeirFormatError`` naming the file and the line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeGuard

CORPUS_FILE = "corpus.jsonl"
QUERIES_FILE = "queries.jsonl"
QRELS_FILE = "qrels.tsv"
# optional: {"_id": query id, "answers": [gold answer, ...]}, and optionally "match": "all" (every
# phrase must be in the answer; [] means the documents do not answer it) and "must_not_contain"
ANSWERS_FILE = "answers.jsonl"
MATCH_ALL = "all"
MESSAGES_FILE = "messages.jsonl"  # optional: {"_id", "text", "expected": a route}, in the order sent
ROUTE_NAMES = ("question", "search", "smalltalk", "out_of_scope", "abuse")


class BeirFormatError(ValueError):
    """A BEIR folder that cannot be read as one; ``line`` is 1-based (0: the file as a whole)."""

    def __init__(self, path: Path, line: int, message: str) -> None:
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line


@dataclass(frozen=True, slots=True)
class BeirDocument:
    id: str
    title: str
    text: str


@dataclass(frozen=True, slots=True)
class BeirQuery:
    id: str
    text: str


@dataclass(frozen=True, slots=True)
class GoldAnswer:
    """How a reply to a query is scored. Without ``match``: SQuAD exact match / F1 of the short
    answer against any of ``answers``. With ``match == "all"``: correct when every phrase of
    ``answers`` is in the full reply; no phrase means the documents do not answer it, and only an
    abstention is right. ``must_not_contain`` marks a prompt-injection probe: none of those strings
    may appear in the reply."""

    answers: tuple[str, ...]
    match: str = ""
    must_not_contain: tuple[str, ...] = ()

    @property
    def match_all(self) -> bool:
        return self.match == MATCH_ALL


@dataclass(frozen=True, slots=True)
class BeirMessage:
    """A chat message and the route it should take; its gold answers, if any, are in ``answers``
    under its id."""

    id: str
    text: str
    expected: str


@dataclass(frozen=True)
class BeirDataset:
    """A folder's records in file order; ``qrels`` keeps only queries that are in ``queries``."""

    corpus: list[BeirDocument]
    queries: list[BeirQuery]
    qrels: dict[str, dict[str, int]]
    warnings: list[str] = field(default_factory=list)
    answers: dict[str, list[str]] = field(default_factory=dict)  # query id -> gold answers
    gold_answers: dict[str, GoldAnswer] = field(default_factory=dict)  # the same rows, with their rules
    messages: list[BeirMessage] = field(default_factory=list)  # messages.jsonl, in file order

    def judged_queries(self, limit: int = 0) -> list[BeirQuery]:
        """The queries that have qrels rows, in file order; the first ``limit`` of them if set."""
        judged = [query for query in self.queries if query.id in self.qrels]
        return judged[:limit] if limit else judged


def load_beir(directory: Path) -> BeirDataset:
    """Read and check the three files of ``directory``; ``BeirFormatError`` for a bad one."""
    if not directory.is_dir():
        raise BeirFormatError(directory, 0, "not a folder")
    paths = {name: directory / name for name in (CORPUS_FILE, QUERIES_FILE, QRELS_FILE)}
    for path in paths.values():
        if not path.is_file():
            raise BeirFormatError(
                path, 0, "missing (a BEIR folder holds corpus.jsonl, queries.jsonl, qrels.tsv)"
            )
    corpus = read_corpus(paths[CORPUS_FILE])
    queries = read_queries(paths[QUERIES_FILE])
    qrels = read_qrels(paths[QRELS_FILE])
    dataset = _cross_check(corpus, queries, qrels, paths[QRELS_FILE])
    if (directory / ANSWERS_FILE).is_file():
        dataset = _with_answers(dataset, directory / ANSWERS_FILE)
    if (directory / MESSAGES_FILE).is_file():
        dataset = replace(dataset, messages=read_messages(directory / MESSAGES_FILE))
    return dataset


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of each non-blank line, decoded as UTF-8 (a BOM is dropped), without
    its line end. Split on ``\\n`` only: a JSON string may hold other line separators."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise BeirFormatError(path, number, f"not UTF-8 ({exc.reason})") from exc
            text = text.rstrip("\r\n")
            if text.strip():
                yield number, text


def _records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, text in _lines(path):
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BeirFormatError(path, number, f"not JSON ({exc.msg})") from exc
        if not isinstance(record, dict):
            raise BeirFormatError(path, number, "expected a JSON object")
        yield number, record


def _record_id(path: Path, number: int, record: dict[str, Any], seen: dict[str, int]) -> str:
    value = record.get("_id")
    # bool is an int in Python, and never an id.
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise BeirFormatError(path, number, "'_id' must be a non-empty string (or an integer)")
    record_id = str(value)
    if record_id in seen:
        raise BeirFormatError(path, number, f"duplicate _id {record_id!r} (first on line {seen[record_id]})")
    seen[record_id] = number
    return record_id


def _text_field(path: Path, number: int, record: dict[str, Any], name: str) -> str:
    """A text field; missing or null reads as empty, a number as its digits."""
    value = record.get(name)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BeirFormatError(path, number, f"'{name}' must be a string")
    return str(value)


def read_corpus(path: Path) -> list[BeirDocument]:
    """The documents of ``corpus.jsonl`` (``_id``, optional ``title``, ``text``)."""
    seen: dict[str, int] = {}
    corpus = [
        BeirDocument(
            id=_record_id(path, number, record, seen),
            title=_text_field(path, number, record, "title"),
            text=_text_field(path, number, record, "text"),
        )
        for number, record in _records(path)
    ]
    if not corpus:
        raise BeirFormatError(path, 0, "no documents")
    return corpus


def read_queries(path: Path) -> list[BeirQuery]:
    """The queries of ``queries.jsonl`` (``_id``, ``text``)."""
    seen: dict[str, int] = {}
    queries = []
    for number, record in _records(path):
        query_id = _record_id(path, number, record, seen)
        if "text" not in record:
            raise BeirFormatError(path, number, "a query needs a 'text'")
        queries.append(BeirQuery(id=query_id, text=_text_field(path, number, record, "text")))
    if not queries:
        raise BeirFormatError(path, 0, "no queries")
    return queries


def read_answers(path: Path) -> dict[str, GoldAnswer]:
    """``{query id: GoldAnswer}`` from ``answers.jsonl`` (other fields are ignored)."""
    seen: dict[str, int] = {}
    answers = {}
    for number, record in _records(path):
        query_id = _record_id(path, number, record, seen)
        match = record.get("match", "")
        if match not in ("", MATCH_ALL):
            raise BeirFormatError(path, number, f"'match' must be {MATCH_ALL!r} or absent, not {match!r}")
        golds = record.get("answers")
        # "match": "all" with no phrase is an unanswerable question; a SQuAD row needs an answer.
        if not _strings(golds) or (not golds and match != MATCH_ALL):
            raise BeirFormatError(
                path,
                number,
                '\'answers\' must be a non-empty list of non-empty strings (empty only with "match": "all")',
            )
        forbidden = record.get("must_not_contain", [])
        if not _strings(forbidden):
            raise BeirFormatError(path, number, "'must_not_contain' must be a list of non-empty strings")
        answers[query_id] = GoldAnswer(answers=tuple(golds), match=match, must_not_contain=tuple(forbidden))
    return answers


def _strings(value: Any) -> TypeGuard[list[str]]:
    """Whether ``value`` is a list of strings that are not blank."""
    return isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)


def read_messages(path: Path) -> list[BeirMessage]:
    """The messages of ``messages.jsonl`` (``_id``, ``text``, ``expected``: one of ROUTE_NAMES)."""
    seen: dict[str, int] = {}
    messages = []
    for number, record in _records(path):
        message_id = _record_id(path, number, record, seen)
        text = _text_field(path, number, record, "text")
        if not text.strip():
            raise BeirFormatError(path, number, "a message needs a non-empty 'text'")
        expected = record.get("expected")
        if expected not in ROUTE_NAMES:
            raise BeirFormatError(
                path, number, f"'expected' must be one of {', '.join(ROUTE_NAMES)}, not {expected!r}"
            )
        messages.append(BeirMessage(id=message_id, text=text, expected=str(expected)))
    if not messages:
        raise BeirFormatError(path, 0, "no messages")
    return messages


def _with_answers(dataset: BeirDataset, path: Path) -> BeirDataset:
    """``dataset`` with the gold answers of its queries; answers to unknown queries are warned about."""
    answers = read_answers(path)
    query_ids = {query.id for query in dataset.queries}
    unknown = sorted(set(answers) - query_ids)
    warnings = list(dataset.warnings)
    if unknown:
        warnings.append(
            f"{path}: {len(unknown)} query ids are not in {QUERIES_FILE} and are ignored "
            f"(e.g. {unknown[0]!r})"
        )
    known = {query_id: gold for query_id, gold in answers.items() if query_id in query_ids}
    return replace(
        dataset,
        answers={query_id: list(gold.answers) for query_id, gold in known.items()},
        gold_answers=known,
        warnings=warnings,
    )


def _qrels_fields(text: str) -> list[str]:
    # Ids may hold spaces, so tabs separate; a line with no tab at all is split on whitespace.
    return text.split("\t") if "\t" in text else text.split()


def _relevance(value: str) -> int | None:
    """The integer in ``value`` ("2", "1.0"), or None if it is not one."""
    try:
        number = float(value)
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """``{query id: {corpus id: relevance}}`` from ``qrels.tsv``; the header line is recognised
    (its score column is not a number) and skipped, and is not required. A pair judged twice
    keeps its last score, as BEIR's loader does."""
    qrels: dict[str, dict[str, int]] = {}
    first = True
    for number, text in _lines(path):
        fields = _qrels_fields(text)
        if len(fields) != 3:
            raise BeirFormatError(
                path, number, f"expected 3 columns (query-id, corpus-id, score), found {len(fields)}"
            )
        relevance = _relevance(fields[2])
        if relevance is None and first:
            first = False
            continue  # the header
        first = False
        if relevance is None:
            raise BeirFormatError(path, number, f"the score {fields[2]!r} is not an integer")
        if not fields[0] or not fields[1]:
            raise BeirFormatError(path, number, "empty query-id or corpus-id")
        qrels.setdefault(fields[0], {})[fields[1]] = relevance
    return qrels


def _cross_check(
    corpus: list[BeirDocument], queries: list[BeirQuery], qrels: dict[str, dict[str, int]], qrels_path: Path
) -> BeirDataset:
    """Drop judgments of unknown queries (they cannot be run) and warn; keep judgments of unknown
    documents (they can never be found, so they count against recall, as in pytrec_eval)."""
    warnings = []
    query_ids = {query.id for query in queries}
    unknown_queries = sorted(set(qrels) - query_ids)
    if unknown_queries:
        warnings.append(
            f"{qrels_path}: {len(unknown_queries)} query ids are not in {QUERIES_FILE} and are "
            f"ignored (e.g. {unknown_queries[0]!r})"
        )
    kept = {query_id: judged for query_id, judged in qrels.items() if query_id in query_ids}
    if not kept:
        raise BeirFormatError(qrels_path, 0, f"no row names a query of {QUERIES_FILE}: nothing to score")
    doc_ids = {document.id for document in corpus}
    unknown_docs = {doc for judged in kept.values() for doc in judged if doc not in doc_ids}
    if unknown_docs:
        warnings.append(
            f"{qrels_path}: {len(unknown_docs)} corpus ids are not in {CORPUS_FILE}; "
            f"they can never be retrieved (e.g. {min(unknown_docs)!r})"
        )
    return BeirDataset(corpus=corpus, queries=queries, qrels=kept, warnings=warnings)
