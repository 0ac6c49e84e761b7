"""The answerability check's training data, built by the project itself (never a benchmark's).

A corpus of English prose paragraphs available offline (the docstrings of Python standard-library
modules and their public classes and functions, the Python language reference that ships with
Python, this repository's documentation and the demo handbook), and one SQuAD-like pseudo-question
per paragraph: the words around an "answer" span of one sentence (a number, a name, a code
identifier or a long word), without the span, behind the wh-word its kind asks for, some words
dropped and some replaced by other paragraphs' words. Written as a BEIR folder with
``answers.jsonl`` holding each question's ``gold_doc_ids`` (its paragraph), which ``manage.py
evaluate --answerability`` reads: each question is searched with its paragraph in the index
(answerable) and with it left out (unanswerable).
"""

from __future__ import annotations

import importlib
import inspect
import json
import random
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# Standard-library modules with prose docstrings and no side effects on import.
# fmt: off
STDLIB_MODULES = (
    "abc", "argparse", "ast", "asyncio", "base64", "bisect", "bz2", "calendar", "cmd", "codecs",
    "collections", "colorsys", "concurrent.futures", "configparser", "contextlib", "copy", "csv",
    "dataclasses", "datetime", "decimal", "difflib", "dis", "email", "enum", "filecmp", "fnmatch",
    "fractions", "ftplib", "functools", "getopt", "gettext", "glob", "graphlib", "gzip", "hashlib", "heapq",
    "hmac", "html", "html.parser", "http.client", "http.cookies", "http.server", "imaplib", "importlib",
    "inspect", "io", "ipaddress", "itertools", "json", "locale", "logging", "logging.handlers", "lzma",
    "mailbox", "mimetypes", "netrc", "numbers", "operator", "optparse", "os", "pathlib", "pickle",
    "pickletools", "pkgutil", "platform", "plistlib", "poplib", "pprint", "profile", "pstats", "queue",
    "quopri", "random", "re", "reprlib", "sched", "secrets", "selectors", "shelve", "shlex", "shutil",
    "signal", "smtplib", "socket", "socketserver", "sqlite3", "ssl", "statistics", "string", "struct",
    "subprocess", "sysconfig", "tabnanny", "tarfile", "tempfile", "textwrap", "threading", "timeit",
    "tokenize", "trace", "traceback", "tracemalloc", "types", "typing", "unittest", "urllib.parse",
    "urllib.request", "uuid", "warnings", "wave", "weakref", "xml.dom.minidom", "xml.etree.ElementTree",
    "zipfile", "zipimport", "zoneinfo", "array", "code", "codeop", "collections.abc", "compileall",
    "doctest", "email.message", "email.utils", "fileinput", "json.decoder", "json.encoder", "keyword",
    "linecache", "multiprocessing", "multiprocessing.pool", "pdb", "pydoc", "py_compile", "runpy", "stat",
    "symtable", "unittest.mock", "urllib.robotparser", "wsgiref.util", "xmlrpc.client", "asyncio.tasks",
    "asyncio.queues", "asyncio.streams",
)
# fmt: on
# The repository's prose in the training corpus: (the name its paragraph ids carry, the file read).
# docs/architecture.md is a living document, so the corpus reads the copy the shipped model was
# trained on (``evaluation/data/answerability_prose/``): editing the docs must not change the training data.
REPO_DOCUMENTS = (
    ("docs/architecture.md", "evaluation/data/answerability_prose/architecture.md"),
    ("governance/demo/employee-handbook.md", "config/demo/employee-handbook.md"),
)
MIN_WORDS, MAX_WORDS = 25, 220
DROP_WORD = 0.15  # the share of a question's words left out, as a person rephrasing would
# The share of a question's longer words replaced by a word of another paragraph: people ask in
# their own words, so a question made only of its paragraph's words would teach the check that any
# word missing from the evidence means "unanswerable".
SWAP_WORD = 0.15
# Words kept on each side of the answer: a clause or two, sometimes the whole sentence (real
# questions are shorter than the sentence that answers them).
CONTEXT_RADIUS = (3, 10)
_YEAR = re.compile(r"^\(?1[5-9]\d\d\)?[.,;:]?$|^\(?20\d\d\)?[.,;:]?$")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])")
_WORD = re.compile(r"\S+")
_NUMBER = re.compile(r"^\(?\d[\d,.]*\)?[.,;:]?$")
_IDENTIFIER = re.compile(r"^[`'\"(]*[A-Za-z_][\w.]*(\(\))?[`'\"),.;:]*$")


@dataclass(frozen=True, slots=True)
class Paragraph:
    id: str
    title: str
    text: str


@dataclass(frozen=True, slots=True)
class PseudoQuestion:
    id: str
    text: str
    answer: str
    paragraph_id: str


def stdlib_paragraphs() -> Iterator[Paragraph]:
    """Prose paragraphs of the listed standard-library modules' docstrings (and their members')."""
    for name in STDLIB_MODULES:
        with warnings.catch_warnings():  # deprecated modules and aliases warn when read
            warnings.simplefilter("ignore")
            documented = _docstrings(name)
        for title, doc in documented:
            for number, text in enumerate(_prose(doc)):
                yield Paragraph(f"py:{title}:{number}", title, text)


def _docstrings(name: str) -> list[tuple[str, str]]:
    """(name, docstring) of a module and of its public classes and functions."""
    try:
        module = importlib.import_module(name)
    except ImportError:
        return []
    members = [
        (f"{name}.{member}", value)
        for member, value in sorted(vars(module).items())
        if not member.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and getattr(value, "__module__", None) == module.__name__
    ]
    return [(title, inspect.getdoc(value) or "") for title, value in [(name, module), *members]]


def reference_paragraphs() -> Iterator[Paragraph]:
    """Prose paragraphs of the Python language reference that ships with Python (``pydoc_data``):
    long explanatory text, closer to a manual or a policy than docstrings are."""
    try:
        from pydoc_data.topics import topics
    except ImportError:
        return
    for title, text in sorted(topics.items()):
        for number, block in enumerate(_prose(text)):
            yield Paragraph(f"ref:{title}:{number}", title, block)


def repo_paragraphs(base_dir: Path) -> Iterator[Paragraph]:
    """Prose paragraphs of the repository's Markdown documentation (no tables, lists or code)."""
    for name, relative in REPO_DOCUMENTS:
        path = base_dir / relative
        if not path.exists():
            continue
        text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
        for number, block in enumerate(_prose(text)):
            yield Paragraph(f"doc:{name}:{number}", path.stem, block)


def _prose(text: str) -> Iterator[str]:
    for block in re.split(r"\n\s*\n", text):
        lines = [line.strip() for line in block.splitlines()]
        if any(line.startswith((">>>", "|", "#", "-", "*", "$", "...")) for line in lines):
            continue
        if any(raw.startswith("    ") for raw in block.splitlines()):
            continue  # indented: code or an argument list
        prose = " ".join(" ".join(lines).split())
        words = prose.split()
        letters = sum(c.isalpha() or c.isspace() for c in prose)
        if MIN_WORDS <= len(words) <= MAX_WORDS and letters >= 0.85 * len(prose):
            yield prose


def question_sentences(paragraph: Paragraph) -> list[str]:
    """The paragraph's sentences a question can be asked of (8 to 40 words), in order."""
    return [s for s in _SENTENCE.split(paragraph.text) if 8 <= len(s.split()) <= 40]


def pseudo_question(
    paragraph: Paragraph, rng: random.Random, vocabulary: Sequence[str] = ()
) -> PseudoQuestion | None:
    """A question whose answer is a span of one sentence of ``paragraph`` (None if no sentence fits):
    the wh-word its answer's kind asks for, then the words around the answer (a clause more often
    than the whole sentence, as people ask), some dropped and some replaced."""
    sentences = question_sentences(paragraph)
    rng.shuffle(sentences)
    for sentence in sentences:
        words = _WORD.findall(sentence.rstrip(".!?"))
        span = _answer_span(words, rng)
        if span is None:
            continue
        index, wh = span
        radius = rng.randint(*CONTEXT_RADIUS)
        start = max(0, index - radius)
        rest = words[start:index] + words[index + 1 : index + 1 + radius]
        if start == 0 and index > 0 and rest[0][:1].isupper() and rest[0][1:].islower():
            rest[0] = rest[0].lower()  # the sentence's first word, now inside the question
        kept = [w for w in rest if rng.random() >= DROP_WORD] or rest
        kept = [_swapped(w, rng, vocabulary) for w in kept]
        if len(kept) < 4:
            continue
        text = f"{wh} {' '.join(kept).strip(',;:')}?".replace(" ,", ",")
        answer = words[index].strip("`'\"(),.;:")
        return PseudoQuestion(f"q:{paragraph.id}", text, answer, paragraph.id)
    return None


def _swapped(word: str, rng: random.Random, vocabulary: Sequence[str]) -> str:
    """``word``, or (for a longer word, now and then) a word of another paragraph in its place."""
    if vocabulary and len(word) >= 5 and word.isalpha() and rng.random() < SWAP_WORD:
        return rng.choice(vocabulary)
    return word


def _answer_span(words: list[str], rng: random.Random) -> tuple[int, str] | None:
    """(the index of the answer word, the wh-word asking for it): a number (a year: "When"), else a
    name or code identifier not at the start, else one of the longest words."""
    numbers = [i for i, w in enumerate(words) if _NUMBER.match(w)]
    if numbers:
        index = rng.choice(numbers)
        year = _YEAR.match(words[index]) is not None
        return index, rng.choice(("When", "In what year") if year else ("How many", "How much"))
    names = [
        i
        for i, w in enumerate(words[1:], start=1)
        if _IDENTIFIER.match(w) and (w.strip("`'\"(").strip()[:1].isupper() or "_" in w or "." in w[:-1])
    ]
    if names:
        return rng.choice(names), rng.choice(("What", "Which", "Who", "What is"))
    long_words = [i for i, w in enumerate(words) if len(w.strip(",.;:")) >= 7 and w.isalpha()]
    if long_words:
        return rng.choice(long_words), rng.choice(("What", "What does", "Which", "How"))
    return None


def corpus_paragraphs(base_dir: Path, *, seed: int = 13) -> list[Paragraph]:
    """The corpus's paragraphs (each text once), in the seeded order the questions are made in."""
    found = [*stdlib_paragraphs(), *reference_paragraphs(), *repo_paragraphs(base_dir)]
    paragraphs = list({p.text: p for p in found}.values())
    random.Random(seed).shuffle(paragraphs)
    return paragraphs


def pseudo_questions(
    paragraphs: Sequence[Paragraph], *, questions: int, seed: int = 13
) -> list[PseudoQuestion]:
    """Up to ``questions`` pseudo-questions, one per paragraph, in the order of ``paragraphs``."""
    rng = random.Random(seed)
    rng.shuffle(list(paragraphs))  # the state the corpus's shuffle leaves (it depends on the length only)
    vocabulary = sorted(
        {w.lower() for p in paragraphs for w in p.text.split() if len(w) >= 5 and w.isalpha()}
    )
    made: list[PseudoQuestion] = []
    for paragraph in paragraphs:
        if len(made) >= questions:
            break
        question = pseudo_question(paragraph, rng, vocabulary)
        if question is not None:
            made.append(question)
    return made


def pseudo_question_paragraphs(
    paragraphs: Sequence[Paragraph], *, questions: int, seed: int = 13
) -> set[str]:
    """The ids of the paragraphs the pseudo-questions are asked of."""
    return {q.paragraph_id for q in pseudo_questions(paragraphs, questions=questions, seed=seed)}


def dataset_build(
    target: Path,
    *,
    base_dir: Path,
    questions: int,
    seed: int = 13,
    written: Sequence[PseudoQuestion] = (),
) -> dict[str, int]:
    """Write the corpus and pseudo-questions (and the ``written`` questions whose paragraphs the
    corpus holds) as a BEIR folder under ``target``; their counts."""
    paragraphs = corpus_paragraphs(base_dir, seed=seed)
    made = pseudo_questions(paragraphs, questions=questions, seed=seed)
    known = {p.id for p in paragraphs}
    kept = [q for q in written if q.paragraph_id in known]
    made = [*made, *kept]
    target.mkdir(parents=True, exist_ok=True)
    _write_jsonl(
        target / "corpus.jsonl", [{"_id": p.id, "title": p.title, "text": p.text} for p in paragraphs]
    )
    _write_jsonl(target / "queries.jsonl", [{"_id": q.id, "text": q.text} for q in made])
    answers = [{"_id": q.id, "answers": [q.answer], "gold_doc_ids": [q.paragraph_id]} for q in made]
    _write_jsonl(target / "answers.jsonl", answers)
    qrels = "".join(f"{q.id}\t{q.paragraph_id}\t1\n" for q in made)
    (target / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\n" + qrels)
    return {"paragraphs": len(paragraphs), "questions": len(made) - len(kept), "written_questions": len(kept)}


def _write_jsonl(path: Path, rows: Sequence[Mapping[str, object]]) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
