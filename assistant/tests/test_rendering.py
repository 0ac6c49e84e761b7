"""Answers rendered as Markdown on the server, with hostile input shown inert."""

from __future__ import annotations

import re

import pytest

from assistant.chat.rendering import render_markdown, safe_link

HOSTILE = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x]( javascript:alert(1) )",
    "[x](java\tscript:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](DATA:text/html,<script>alert(1)</script>)",
    "![y](data:image/png;base64,iVBORw0KGgo=)",
    "![y](https://tracker.example/pixel.gif)",
    "<javascript:alert(1)>",
    "[x][evil]\n\n[evil]: javascript:alert(1)",
    "[x](vbscript:msgbox(1))",
    '<a href="javascript:alert(1)">x</a>',
    '<div onmouseover="alert(1)">hover</div>',
    "<svg/onload=alert(1)>",
]


def _tags(html: str) -> list[str]:
    return re.findall(r"<\s*([a-zA-Z0-9]+)", html)


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_markdown_renders_inert(text):
    html = str(render_markdown(f"Before. {text} After."))
    assert set(_tags(html)) <= {"p", "a", "br"}, html
    assert "<script" not in html.lower() and "<img" not in html.lower() and "<svg" not in html.lower()
    assert not re.search(r"<[a-z]+\s[^>]*\bon\w+\s*=", html), html  # no event handler in any tag
    for href in re.findall(r'href="([^"]*)"', html):
        assert href.startswith(("http://", "https://", "mailto:")), html


def test_no_attribute_of_the_output_carries_an_event_handler_or_script_url():
    html = str(render_markdown("\n\n".join(HOSTILE)))
    attributes = re.findall(r"<[a-z]+\s([^>]*)>", html)
    for attrs in attributes:
        assert not re.search(r"(^|\s)on\w+=", attrs), attrs
        assert not re.search(r"(javascript|vbscript|data):", attrs, re.IGNORECASE), attrs
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown as text, not dropped silently


def test_markdown_formatting_and_safe_links_are_kept():
    html = str(render_markdown("**Bold** and *it*\n\n- one\n- two\n\n[site](https://example.com/a?b=1)"))
    assert "<strong>Bold</strong>" in html and "<em>it</em>" in html
    assert "<ul>" in html and "<li>one</li>" in html
    assert (
        '<a href="https://example.com/a?b=1" rel="nofollow noopener noreferrer" target="_blank">site</a>'
        in html
    )


def test_markers_become_passage_links_and_unsupported_sentences_are_marked():
    html = str(
        render_markdown(
            "Sixteen weeks [1]. The moon is cheese [2]. Unknown [7].",
            marker_links={1: "/chat/passages/11/", 2: "/chat/passages/12/"},
            unsupported=["The moon is cheese"],
        )
    )
    assert '<a class="cite" href="/chat/passages/11/" data-marker="1" title="Show source 1">[1]</a>' in html
    assert 'href="/chat/passages/12/"' in html
    assert "Unknown [7]" in html  # no such citation: left as text
    assert (
        '<span class="unsupported" title="Not supported by the passage it cites">The moon is cheese</span>'
        in html
    )


def test_a_reference_definition_cannot_turn_a_marker_into_a_link_elsewhere():
    html = str(render_markdown("Sixteen weeks [1].\n\n[1]: https://evil.example/", marker_links={}))
    assert "evil.example" not in html.split("[1]")[0] and 'href="https://evil.example/"' not in html


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://example.com", True),
        ("HTTP://EXAMPLE.COM", True),
        ("mailto:hr@example.com", True),
        ("javascript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        ("data:text/html,x", False),
        ("/relative/path", False),
        ("//evil.example", False),
        ("vbscript:x", False),
    ],
)
def test_safe_link(url, ok):
    assert safe_link(url) is ok
