"""Answers in templates: the answer's safe HTML (Markdown, markers linked to their passages,
unsupported sentences marked), its badge, and where a cited passage stands in its document."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse
from django.utils.safestring import SafeString

from assistant.chat.rendering import render_markdown
from assistant.models import AnswerKind, Citation, Feedback, Message

register = template.Library()


@register.filter
def answer_html(message: Message) -> SafeString:
    """The answer as safe HTML: Markdown with raw HTML and unsafe links off (LLM output is
    untrusted), each ``[n]`` a link that opens citation n's passage, sentences the check found
    unsupported marked."""
    links = {
        c.marker: reverse("assistant:passage", args=[c.pk]) for c in message.citations.all() if c.chunk_id
    }
    unsupported = [_core(s["text"]) for s in message.sentences or [] if not s.get("supported")]
    return render_markdown(message.text, marker_links=links, unsupported=unsupported)


def _core(sentence: str) -> str:
    """A checked sentence without its closing punctuation (its markers may stand before it)."""
    return sentence.strip().rstrip(".!?;:").strip()


_BADGES = {
    AnswerKind.ANSWERED.value: "Answered from documents",
    AnswerKind.NOT_FOUND.value: "Not in your documents",
    AnswerKind.EXTRACTIVE.value: "Extractive fallback",
}


@register.filter
def answer_badge(message: Message) -> str:
    """Where the answer came from, in a few words, for the badge beside it."""
    if message.cached_from_id is not None:
        return "From the answer cache"
    if message.kind == AnswerKind.NO_LLM:
        return f"No LLM needed ({message.route.replace('_', ' ') or 'fixed reply'})"
    return _BADGES.get(message.kind, "Answer")


@register.inclusion_tag("assistant/partials/feedback.html", takes_context=True)
def feedback_form(context: template.Context, message: Message) -> dict[str, Any]:
    """The thumbs and comment under an answer, showing the user's verdict if they gave one."""
    given: dict[int, Feedback] = context.get("feedback") or {}
    return {"message": message, "feedback": given.get(message.pk), "csrf_token": context.get("csrf_token")}


@register.filter
def citation_place(citation: Citation) -> str:
    """The heading path of a cited passage, without a first heading that only repeats the title."""
    path = list(citation.heading_path or [])
    if path and path[0].strip().casefold() == citation.title.strip().casefold():
        path = path[1:]
    return " \u203a ".join(path)  # a single right-pointing angle quote
