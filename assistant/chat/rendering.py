"""Answers as safe HTML: Markdown rendered on the server, for text nobody vouches for.

LLM output (and the document text it quotes) is untrusted. markdown-it-py renders it with raw HTML
off (any tag comes out as text), images and reference definitions off (no beacon, no "[1]: url"
that would turn a citation marker into someone else's link), and only http(s) and mailto links
(so no ``javascript:``, ``data:`` or ``vbscript:``, whatever their case or the characters
hidden inside them). Citation markers ``[n]`` and the sentences the verifier found unsupported are
marked inside text tokens only, after escaping, never in markup or attributes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt
from markdown_it.token import Token

_MARKER = re.compile(r"\[(\d{1,2})\]")
_SAFE_LINK = re.compile(r"(?:https?://|mailto:)[^\s\x00-\x1f]*", re.IGNORECASE)


@dataclass(slots=True)
class _Marking:
    """What to mark in an answer's text tokens (the markdown-it ``env`` of one rendering)."""

    marker_links: Mapping[int, str]
    unsupported: list[str] = field(default_factory=list)


def safe_link(url: str) -> bool:
    """Only absolute http(s) and mailto links; anything else (a script, data, a relative path) is text."""
    return _SAFE_LINK.fullmatch(url.strip()) is not None


def _text(_renderer: Any, tokens: Sequence[Token], idx: int, _options: Any, env: Any) -> str:
    html = str(escape(tokens[idx].content))
    if isinstance(env, dict) and isinstance(marking := env.get("marking"), _Marking):
        html = _markers(_mark_unsupported(html, marking), marking.marker_links)
    return html


def _link_open(renderer: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    tokens[idx].attrSet("rel", "nofollow noopener noreferrer")
    tokens[idx].attrSet("target", "_blank")
    return str(renderer.renderToken(tokens, idx, options, env))


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "breaks": True, "linkify": False, "typographer": False})
    md.disable(["image", "reference", "html_block", "html_inline"])
    md.validateLink = safe_link  # type: ignore[method-assign]
    md.add_render_rule("text", _text)
    md.add_render_rule("link_open", _link_open)
    return md


_MD = _markdown()


def render_markdown(
    text: str, *, marker_links: Mapping[int, str] | None = None, unsupported: Sequence[str] = ()
) -> SafeString:
    """``text`` as safe HTML; each ``[n]`` with a link in ``marker_links`` becomes that citation's
    link, each of the ``unsupported`` sentences (without their final punctuation) is marked."""
    marking = _Marking(marker_links or {}, [str(escape(s)) for s in unsupported if s])
    html: str = _MD.render(text, {"marking": marking})
    return mark_safe(html)  # noqa: S308 - html off, text escaped, links checked


def _mark_unsupported(escaped: str, marking: _Marking) -> str:
    for sentence in list(marking.unsupported):
        if sentence in escaped:
            escaped = escaped.replace(
                sentence,
                f'<span class="unsupported" title="Not supported by the passage it cites">{sentence}</span>',
                1,
            )
            marking.unsupported.remove(sentence)  # once per answer
    return escaped


def _markers(escaped: str, links: Mapping[int, str]) -> str:
    def link(match: re.Match[str]) -> str:
        marker = int(match.group(1))
        if marker not in links:
            return match.group(0)
        return str(
            format_html(
                '<a class="cite" href="{}" data-marker="{}" title="Show source {}">[{}]</a>',
                links[marker],
                marker,
                marker,
                marker,
            )
        )

    return _MARKER.sub(link, escaped)
