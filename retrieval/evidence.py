"""Evidence selection: which pieces of the best passages a prompt holds, within a token budget.

A passage is cut into **units** a reader would not cut: a fenced code block stays whole, so does a
list item, a table row or a heading line; a paragraph is cut into sentences, and a sentence that
Markdown source wraps over several lines stays one sentence. Units are verbatim slices of the
passage, so a citation can point at them.

Units are chosen greedily, best gain first, until the budget (in word pieces) is spent:

    gain = cosine(unit, question) + PRIOR * [its passage's search score, over the best passage's]
         + COVERAGE * share of the question's terms (weighted) the unit adds to those covered
         + NEXT_TO * [the unit is next to one already chosen, in the same passage]
         - REDUNDANCY * max cosine(unit, units already chosen)

The coverage term is what gives a multi-part question ("which command, and which setting?") both
parts: once one unit holds the command, another that only repeats it gains nothing there, and one
that names the setting does. The next-to term keeps the sentences around the best ones, so the
evidence reads as whole passages, not fragments, and a lead-in that ends in a colon ("To publish,
run:") is kept with what it introduces (the command, the list) whenever both fit. The unit closest
to the question is always kept first, whatever the budget.

Plain Python: no Django. The caller embeds the units and counts their word pieces.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

COVERAGE = 0.4
NEXT_TO = 0.15
REDUNDANCY = 0.3
PRIOR = 0.2

_FENCE = re.compile(r"^\s*(```|~~~)")
# a line that starts a block of its own: a heading, a list item, a table row, a quote
_BLOCK_START = re.compile(r"^\s*(#{1,6}\s|[-*+]\s|\d{1,3}[.)]\s|\||>)")
# a sentence ends at . ! ? (closed by up to two quotes or brackets) followed by white space
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]{0,2}\s+")
# what a sentence must be more than: an item number alone ("3." of "... as follows. 3. Sign it.")
_NUMBER_ONLY = re.compile(r"\s*\d{1,3}[.)]\s*$")


@dataclass(frozen=True, slots=True)
class Unit:
    """A piece of a passage that is kept or left whole: where it is and what it costs."""

    passage: int  # the passage's index among the candidates
    position: int  # its order within the passage
    text: str  # a verbatim slice of the passage
    tokens: int  # word pieces
    terms: frozenset[str]


def split_units(text: str) -> list[str]:
    """``text`` cut into units (verbatim slices, stripped, in reading order)."""
    units: list[str] = []
    for block in _blocks(text):
        if _FENCE.match(block) or _BLOCK_START.match(block):
            units.append(block)
        else:
            units.extend(_sentences(block))
    return [u for u in units if u]


def _blocks(text: str) -> list[str]:
    """Paragraphs, list items, table rows, headings and fenced code blocks, each whole."""
    blocks: list[list[str]] = []
    current: list[str] = []
    fenced = False
    for line in text.splitlines():
        if fenced:
            current.append(line)
            fenced = not _FENCE.match(line)
            if not fenced:
                blocks.append(current)
                current = []
            continue
        if not line.strip() or _FENCE.match(line) or _BLOCK_START.match(line):
            if current:
                blocks.append(current)
            current = [line] if line.strip() else []
            fenced = bool(_FENCE.match(line))
            continue
        current.append(line)
    if current:
        blocks.append(current)
    return ["\n".join(lines).strip() for lines in blocks]


def _sentences(block: str) -> list[str]:
    pieces: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(block):
        if _NUMBER_ONLY.match(block, start, match.start()):
            continue  # "2. Sign the form." inside a paragraph: the number opens the next sentence
        pieces.append(block[start : match.end()].strip())
        start = match.end()
    pieces.append(block[start:].strip())
    return pieces


def term_weights(question_terms: Sequence[str], units: Sequence[Unit]) -> dict[str, float]:
    """Each question term's weight: rarer among the candidate units, larger (a term every unit holds
    tells them apart by nothing); a term no unit holds cannot be covered and weighs nothing."""
    count = len(units)
    weights: dict[str, float] = {}
    for term in dict.fromkeys(question_terms):
        held = sum(term in u.terms for u in units)
        if held:
            weights[term] = math.log(1.0 + count / held)
    return weights


@dataclass(frozen=True, slots=True)
class Selection:
    """What :func:`select_units` weighs: each unit's cosine to the question and to the others."""

    relevance: npt.NDArray[np.float32]  # (n,)
    similarity: npt.NDArray[np.float32]  # (n, n)


@dataclass(slots=True)
class _Picked:
    """The units kept so far, in the order chosen, and what they cost."""

    units: Sequence[Unit]
    opening: Sequence[int]  # per passage: what its first kept unit also costs (its header)
    kept: list[int] = field(default_factory=list)
    covered: set[str] = field(default_factory=set)
    opened: set[int] = field(default_factory=set)
    used: int = 0

    def cost(self, index: int) -> int:
        unit = self.units[index]
        return unit.tokens + (0 if unit.passage in self.opened else self.opening[unit.passage])

    def add(self, index: int) -> None:
        self.used += self.cost(index)
        self.kept.append(index)
        self.covered |= self.units[index].terms
        self.opened.add(self.units[index].passage)


def select_units(
    units: Sequence[Unit],
    vectors: npt.NDArray[np.float32],
    question_vector: npt.NDArray[np.float32],
    *,
    weights: Mapping[str, float],
    tokens: int,
    max_units: int | None = None,
    opening: Sequence[int] | None = None,
    prior: Sequence[float] | None = None,
) -> list[int]:
    """The indices of the units kept (in the order chosen): at most ``tokens`` word pieces in all,
    counting ``opening[p]`` once for each passage ``p`` a kept unit comes from (the first unit is
    kept whatever its size), and at most ``max_units`` units. ``prior[p]`` (0..1) is how much the
    search trusted passage ``p``; it adds ``PRIOR`` times that to each of its units' relevance."""
    if not units:
        return []
    unit_vectors = np.asarray(vectors, dtype=np.float32)
    relevance = unit_vectors @ np.asarray(question_vector, dtype=np.float32).reshape(-1)
    if prior is not None:
        relevance = relevance + PRIOR * np.asarray([prior[u.passage] for u in units], dtype=np.float32)
    scores = Selection(
        relevance=relevance,
        similarity=unit_vectors @ unit_vectors.T,
    )
    limit = len(units) if max_units is None else max_units
    total = sum(weights.values()) or 1.0
    picked = _Picked(units, opening or [0] * (1 + max(u.passage for u in units)))
    best: int | None = int(np.argmax(scores.relevance))
    while best is not None and len(picked.kept) < limit:
        partner = _partner(units, best)
        picked.add(best)
        if (
            partner is not None
            and partner not in picked.kept
            and picked.cost(partner) <= tokens - picked.used
        ):
            picked.add(partner)
        best = _best_next(picked, scores, weights, total, tokens - picked.used)
    return picked.kept[:limit]


def _partner(units: Sequence[Unit], index: int) -> int | None:
    """The unit ``index`` cannot go without: a lead-in ending in a colon ("To publish, run:") and
    what it introduces (the command, the list), in the same passage."""
    unit = units[index]
    for partner, lead_in in ((index + 1, unit), (index - 1, units[index - 1] if index else None)):
        if (
            lead_in is not None
            and lead_in.text.endswith(":")
            and 0 <= partner < len(units)
            and units[partner].passage == unit.passage
            and abs(units[partner].position - unit.position) == 1
        ):
            return partner
    return None


def _best_next(
    picked: _Picked, scores: Selection, weights: Mapping[str, float], total: float, room: int
) -> int | None:
    """The unit with the largest gain among those that fit in ``room`` word pieces."""
    units, kept = picked.units, picked.kept
    chosen = {(units[k].passage, units[k].position) for k in kept}
    redundancy = scores.similarity[:, kept].max(axis=1)
    best, best_gain = None, -math.inf
    for i, unit in enumerate(units):
        if i in kept or picked.cost(i) > room:
            continue
        new = sum(weights.get(t, 0.0) for t in unit.terms - picked.covered) / total
        beside = (unit.passage, unit.position - 1) in chosen or (unit.passage, unit.position + 1) in chosen
        gain = (
            float(scores.relevance[i]) + COVERAGE * new + NEXT_TO * beside - REDUNDANCY * float(redundancy[i])
        )
        if gain > best_gain:
            best, best_gain = i, gain
    return best


def units_of(
    passages: Sequence[str],
    *,
    count_tokens: Callable[[str], int],
    tokenize: Callable[[str], list[str]],
    keep: Callable[[str], bool] = lambda _: True,
) -> list[Unit]:
    """Every unit of ``passages`` that ``keep`` lets through; a unit seen in an earlier passage
    (chunks overlap) is left out."""
    seen: set[str] = set()
    units: list[Unit] = []
    for index, passage in enumerate(passages):
        for position, text in enumerate(split_units(passage)):
            if text in seen or not keep(text):
                continue
            seen.add(text)
            units.append(Unit(index, position, text, count_tokens(text), frozenset(tokenize(text))))
    return units
