"""Questions written in people's words for the answerability check's own data, by the embedded LLM.

The pseudo-questions of ``evaluation.answerability_data`` are cut from their paragraph's words, so
their difficulty is the generator's, not people's: version 1's were easier than real questions,
version 2's harder, and the threshold chosen on them missed real questions both ways. These are
closer to how people ask: the local LLM reads a paragraph of the project's own corpus and one of its
sentences and writes a question that sentence answers, in its own words; then, in a second call that
sees only the paragraph and the question, it answers, and the question is kept only when that answer
comes from the marked sentence (a round trip: a question the paragraph does not answer, or answers
elsewhere, is dropped). Written once, at development time, by ``manage.py answerability_train
--write-questions N`` and shipped as ``answerability_questions.jsonl``: the data is the project's,
reproducible from the pinned model, prompts and seeds recorded in each row, and no benchmark's.

``answerability_train`` reports each model's abstentions on them beside its own validation figures.
They turned out no closer to real questions on encyclopaedic text (XQuAD) than the pseudo-questions
are: on the project's technical corpus both are much harder for the check (docs/benchmarks.md).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from evaluation.answerability_data import Paragraph, question_sentences

QUESTIONS_FILE = Path(__file__).resolve().parent / "data" / "answerability_questions.jsonl"
WRITTEN_PREFIX = "llm:"  # the ids of the written questions: ``llm:`` and their paragraph's id
_WORDS = re.compile(r"[a-z0-9]+")
# Short, common words that say nothing of where an answer came from.
# fmt: off
_FILLER = frozenset({
    "the", "a", "an", "of", "to", "in", "on", "for", "and", "or", "is", "are", "was", "were", "be", "by",
    "as", "at", "it", "its", "this", "that", "with", "from", "can", "may", "not", "no", "if", "then",
    "than", "which", "what", "who", "when", "how", "does", "do",
})
# fmt: on
# Both calls start with the same system prompt and document, so llama.cpp reads the document once.
SYSTEM = "You help people with their documents."
ASK = (
    "Document:\n{paragraph}\n\n"
    "Write one question that this sentence of the document answers:\n{sentence}\n\n"
    "Ask it the way a colleague would, in your own words: short, without copying the sentence, "
    "without saying 'the document' or 'the sentence', and not a yes/no question (begin with what, who, "
    "when, where, which, why or how). Reply with the question only."
)
ANSWER = (
    "Document:\n{paragraph}\n\nQuestion: {question}\n\n"
    "Answer from the document only, in a few words taken from it. If the document does not answer "
    "the question, reply NONE."
)


@dataclass(frozen=True, slots=True)
class WrittenQuestion:
    id: str
    text: str
    answer: str  # the LLM's own answer in the round trip, from the marked sentence
    sentence: str
    paragraph_id: str
    model: str
    seed: int


Complete = Callable[[str, str, int, float], str]  # (system, user, seed, temperature) -> reply


def write_question(
    paragraph: Paragraph, complete: Complete, *, rng: random.Random, model: str
) -> WrittenQuestion | None:
    """A question on one sentence of ``paragraph`` that survives the round trip, or None."""
    sentences = question_sentences(paragraph)
    if not sentences:
        return None
    sentence = rng.choice(sentences)
    seed = rng.randrange(1 << 30)
    question = _one_line(complete(SYSTEM, ASK.format(paragraph=paragraph.text, sentence=sentence), seed, 0.7))
    if not plausible_question(question, sentence):
        return None
    answer = _one_line(complete(SYSTEM, ANSWER.format(paragraph=paragraph.text, question=question), 0, 0.0))
    if not answered_by(answer, sentence, question):
        return None
    return WrittenQuestion(
        f"{WRITTEN_PREFIX}{paragraph.id}", question, answer, sentence, paragraph.id, model, seed
    )


def plausible_question(question: str, sentence: str) -> bool:
    """A single question of 4-30 words that does not copy its sentence wholesale (no run of eight
    of the sentence's words in a row) nor talk about "the document"."""
    words = question.split()
    if not question.endswith("?") or not 4 <= len(words) <= 30 or question.count("?") > 1:
        return False
    if re.search(r"\b(the|this) (document|sentence|paragraph|text|passage)\b", question, re.IGNORECASE):
        return False
    asked, said = _WORDS.findall(question.lower()), _WORDS.findall(sentence.lower())
    runs = {tuple(said[i : i + 8]) for i in range(len(said) - 7)}
    return not any(tuple(asked[i : i + 8]) in runs for i in range(len(asked) - 7))


def answered_by(answer: str, sentence: str, question: str) -> bool:
    """Whether the round trip's ``answer`` comes from ``sentence``: not NONE, and most of its
    content words that the question does not already hold are the sentence's."""
    if not answer or "NONE" in answer.upper().split() or answer.upper().startswith("NONE"):
        return False
    asked = set(_WORDS.findall(question.lower()))
    new = [w for w in _WORDS.findall(answer.lower()) if w not in _FILLER and w not in asked]
    if not new:
        return False
    said = set(_WORDS.findall(sentence.lower()))
    return sum(w in said for w in new) >= 0.6 * len(new)


def _one_line(text: str) -> str:
    return " ".join(text.strip().strip('"').split())


def written_questions(
    paragraphs: Sequence[Paragraph],
    complete: Complete,
    *,
    wanted: int,
    model: str,
    seed: int = 29,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[WrittenQuestion]:
    """Up to ``wanted`` questions, at most one per paragraph, in the order of ``paragraphs``."""
    rng = random.Random(seed)
    made = 0
    for tried, paragraph in enumerate(paragraphs, start=1):
        if made >= wanted:
            return
        question = write_question(paragraph, complete, rng=rng, model=model)
        if question is not None:
            made += 1
            yield question
        if progress is not None:
            progress(tried, made)


def save_questions(questions: Sequence[WrittenQuestion], path: Path = QUESTIONS_FILE) -> None:
    path.write_text(
        "".join(json.dumps(asdict(q), ensure_ascii=False) + "\n" for q in questions), encoding="utf-8"
    )


def load_questions(path: Path = QUESTIONS_FILE) -> list[WrittenQuestion]:
    """The shipped written questions (none when the file is absent)."""
    if not path.exists():
        return []
    return [
        WrittenQuestion(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line
    ]
