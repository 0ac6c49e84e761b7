"""Reads for the chat: a cited passage (checked against what the principal may still see), the
principal's own feedback, and each tenant's feedback counts (for the usage dashboard)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q

from assistant.answering.questions import conversations_of
from assistant.models import Citation, Feedback, Rating
from config.errors import NotFound
from governance.access import Principal
from ingest.selectors import chunks_visible_to


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of a passage's text; ``cited``: part of the span the answer was given."""

    text: str
    cited: bool


@dataclass(frozen=True, slots=True)
class Passage:
    """A cited passage as the chat shows it: where it comes from and its text, the cited span marked."""

    citation: Citation
    document_id: int | None
    title: str
    page: int | None
    heading_path: list[str]
    segments: list[Segment]


def passage_get(*, principal: Principal, citation_id: int) -> Passage:
    """The passage behind one citation of an answer in the principal's own conversations, if the
    principal may still see its chunk (governance.access); anything else is "not found"."""
    citation = (
        Citation.objects.filter(
            tenant_id=principal.tenant_id,
            pk=citation_id,
            message__conversation__in=conversations_of(principal),
        )
        .select_related("chunk__version__document")
        .first()
    )
    chunk = citation.chunk if citation is not None else None
    # hidden since, deleted, or replaced by a newer version: the same "not found"
    if citation is None or chunk is None or not _visible(principal, chunk.pk):
        raise NotFound("No such passage.")
    title = chunk.version.document.title or citation.title
    return Passage(
        citation=citation,
        document_id=chunk.version.document_id,
        title=title,
        page=chunk.page,
        heading_path=_place(chunk.heading_path or [], title),
        segments=segments(chunk.text, citation.spans or []),
    )


def _place(heading_path: list[str], title: str) -> list[str]:
    """The heading path without a first heading that only repeats the document's title."""
    if heading_path and heading_path[0].strip().casefold() == title.strip().casefold():
        return heading_path[1:]
    return list(heading_path)


def _visible(principal: Principal, chunk_id: int) -> bool:
    return chunks_visible_to(principal).filter(pk=chunk_id).exists()


def segments(text: str, spans: Iterable[list[int]]) -> list[Segment]:
    """``text`` cut at the ``[start, end)`` spans (clamped, overlaps merged), in order."""
    pieces: list[Segment] = []
    at = 0
    for start, end in sorted((max(0, int(s)), min(len(text), int(e))) for s, e in spans):
        start = max(start, at)
        if end <= start:
            continue
        if start > at:
            pieces.append(Segment(text[at:start], cited=False))
        pieces.append(Segment(text[start:end], cited=True))
        at = end
    if at < len(text):
        pieces.append(Segment(text[at:], cited=False))
    return pieces


def feedback_by_message(*, principal: Principal, message_ids: Iterable[int]) -> dict[int, Feedback]:
    """The principal's own feedback on each of ``message_ids`` that has some."""
    rows = Feedback.objects.filter(tenant_id=principal.tenant_id, message_id__in=list(message_ids))
    if principal.user_id is not None:
        rows = rows.filter(user_id=principal.user_id)
    else:
        rows = rows.filter(user__isnull=True, api_key_id=principal.api_key_id)
    return {row.message_id: row for row in rows}


@dataclass(frozen=True, slots=True)
class FeedbackComment:
    message_id: int
    rating: str
    comment: str
    at: datetime


@dataclass(frozen=True, slots=True)
class FeedbackSummary:
    """A tenant's feedback on its answers: how many up and down, and the latest comments."""

    up: int
    down: int
    recent_comments: list[FeedbackComment]

    @property
    def total(self) -> int:
        return self.up + self.down


def feedback_summary(*, tenant_id: int, since: datetime | None = None, comments: int = 10) -> FeedbackSummary:
    """Count a tenant's thumbs up and down (given or changed since ``since``, if set) and list its
    ``comments`` most recent comments."""
    rows = Feedback.objects.filter(tenant_id=tenant_id)
    if since is not None:
        rows = rows.filter(updated_at__gte=since)
    counts = rows.aggregate(
        up=Count("pk", filter=Q(rating=Rating.UP)), down=Count("pk", filter=Q(rating=Rating.DOWN))
    )
    recent = rows.exclude(comment="").order_by("-updated_at", "-id")[:comments]
    return FeedbackSummary(
        up=counts["up"],
        down=counts["down"],
        recent_comments=[FeedbackComment(f.message_id, f.rating, f.comment, f.updated_at) for f in recent],
    )
