"""Render an answer's text safely: everything escaped, then ``[n]`` markers linked to citations."""

from __future__ import annotations

import re

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from assistant.models import Citation, Message

register = template.Library()

_MARKER = re.compile(r"\[(\d{1,2})\]")


@register.filter
def answer_html(message: Message) -> SafeString:
    """The answer as HTML: escaped text (LLM output is untrusted), paragraphs and list items kept,
    each ``[n]`` a link to citation n of this message, sentences the check found unsupported marked."""
    blocks: list[str] = []
    items: list[str] = []
    unsupported = [str(escape(_core(s["text"]))) for s in message.sentences or [] if not s.get("supported")]
    for line in message.text.splitlines():
        html = _markers(_mark_unsupported(str(escape(line.strip())), unsupported), message.pk)
        if line.strip().startswith("- "):
            items.append(f"<li>{html[2:]}</li>")
            continue
        if items:
            blocks.append("<ul>" + "".join(items) + "</ul>")
            items = []
        if line.strip():
            blocks.append(f"<p>{html}</p>")
    if items:
        blocks.append("<ul>" + "".join(items) + "</ul>")
    return mark_safe("".join(blocks))  # noqa: S308 - every piece was escaped above


def _core(sentence: str) -> str:
    """A checked sentence without its closing punctuation (its markers may stand before it)."""
    return sentence.strip().rstrip(".!?;:").strip()


def _mark_unsupported(escaped_line: str, unsupported: list[str]) -> str:
    for sentence in unsupported:
        if sentence and sentence in escaped_line:
            escaped_line = escaped_line.replace(
                sentence,
                f'<span class="unsupported" title="Not supported by the passage it cites">{sentence}</span>',
                1,
            )
    return escaped_line


def _markers(escaped: str, message_id: int) -> str:
    return _MARKER.sub(
        lambda m: str(
            format_html('<a class="cite" href="#cite-{}-{}">[{}]</a>', message_id, m.group(1), m.group(1))
        ),
        escaped,
    )


@register.filter
def citation_place(citation: Citation) -> str:
    """The heading path of a cited passage, without a first heading that only repeats the title."""
    path = list(citation.heading_path or [])
    if path and path[0].strip().casefold() == citation.title.strip().casefold():
        path = path[1:]
    return " \u203a ".join(path)  # a single right-pointing angle quote
