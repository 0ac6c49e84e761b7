#!/usr/bin/env python3
"""Build the Debian Administrator's Handbook QA set (stdlib only).

Reads the English HTML of the Debian package `debian-handbook` (installed with
`apt-get install debian-handbook`, files under /usr/share/doc/debian-handbook/html/en-US/)
and the three hand-written source files in this folder (questions.jsonl,
unanswerable.jsonl, out_of_scope.jsonl), and writes:

  corpus.jsonl   {"_id","title","text"}, one per en-US/*.html page, sorted by _id;
                 text = the page converted to plain text (code and commands verbatim)
  queries.jsonl  {"_id","text"}: the answerable questions, then the unanswerable
  qrels.tsv      query-id<TAB>corpus-id<TAB>score (score 1; answerable only)
  answers.jsonl  {"_id","answers":[...],"match":"all"} (answers [] = unanswerable)
  messages.jsonl {"_id","text","expected"}: questions ("question"), then the
                 out-of-scope messages (smalltalk / out_of_scope / abuse)

Usage:  python3 build.py [--src DIR] [--out DIR]
The same package version gives byte-identical files.  Run check.py afterwards.
"""

import argparse
import html.parser
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SRC = "/usr/share/doc/debian-handbook/html/en-US"
PACKAGE = "debian-handbook"
DPKG_QUERY = "/usr/bin/dpkg-query"
EXPECTED_VERSION = "11.20220922"
EXPECTED = {"greeting": "smalltalk", "unrelated": "out_of_scope", "attack": "abuse"}

# Elements that start/end a block of text.
BLOCK = {
    "div",
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "li",
    "table",
    "thead",
    "tbody",
    "tr",
    "blockquote",
    "pre",
    "br",
    "body",
}
VOID = {"br", "img", "meta", "link", "col", "hr", "input"}

# A text segment, or ("PRE", text) for verbatim <pre> content.
Segment = str | tuple[str, str]
Attrs = dict[str, str | None]


def _block_break(tag: str) -> str:
    """The break a block element leaves before and after itself."""
    return "\n\n" if tag in ("div", "p", "pre") or tag[0] == "h" else "\n"


class PageText(html.parser.HTMLParser):
    """Publican/DocBook XHTML page -> readable plain text.

    Drops the site chrome (download banner, logos, Prev/Next navigation), chapter
    tables of contents and empty index anchors.  Text outside <pre> has its
    whitespace collapsed; <pre> blocks (commands, config files, screen output) are
    kept verbatim.  List items get "- ", table cells are joined with " | ",
    callout images become "(N)".
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[Segment] = []  # segments: str text, or "\n"/"\n\n" block breaks
        self.skip = 0  # depth inside a skipped subtree
        self.stack: list[tuple[str, bool]] = []  # (tag, skipping?) for every open non-void element
        self.pre = 0
        self.title = ""
        self.in_title = False
        self.in_head = False

    @staticmethod
    def _skipped(tag: str, a: Attrs) -> bool:
        cls = a.get("class") or ""
        return (
            (tag == "div" and a.get("id") == "banner")
            or (tag == "p" and a.get("id") == "title")
            or (tag == "ul" and "docnav" in cls)
            or (tag == "div" and cls == "toc")
            or (tag == "a" and cls == "indexterm")
        )

    def _hidden(self) -> bool:
        """True inside <head> or a skipped subtree: no text is emitted there."""
        return bool(self.skip or self.in_head)

    def _set_flag(self, tag: str, value: bool) -> None:
        if tag == "head":
            self.in_head = value
        elif tag == "title":
            self.in_title = value

    def _void(self, tag: str, a: Attrs) -> None:
        if self._hidden():
            return
        if tag == "br":
            self.out.append("\n")
        elif tag == "img" and "callout" in (a.get("class") or ""):
            self.out.append(f"({a.get('alt', '')})")

    def _open(self, tag: str) -> None:
        if tag == "pre":
            self.pre += 1
        if tag in ("td", "th") and self.out and self.out[-1] not in ("\n", "\n\n"):
            self.out.append(" | ")
        if tag in BLOCK:
            self.out.append(_block_break(tag))
        if tag == "li":
            self.out.append("- ")

    def _close(self, tag: str, skipping: bool) -> None:
        if skipping:
            self.skip -= 1
            return
        if self._hidden():
            return
        if tag == "pre":
            self.pre -= 1
        if tag in BLOCK:
            self.out.append(_block_break(tag))

    def _pop_to(self, tag: str) -> list[tuple[str, bool]]:
        """Pop the open elements down to the innermost `tag` (none if it is not open)."""
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                closed = self.stack[i:]
                del self.stack[i:]
                return closed
        return []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self._set_flag(tag, True)
        if tag in VOID:
            self._void(tag, a)
            return
        skipping = self._skipped(tag, a)
        self.stack.append((tag, skipping))
        if skipping:
            self.skip += 1
        elif not self._hidden():
            self._open(tag)

    def handle_endtag(self, tag: str) -> None:
        self._set_flag(tag, False)
        if tag in VOID:
            return
        # pop to the matching open tag (the XHTML is well formed; be lenient anyway)
        for t, skipping in reversed(self._pop_to(tag)):
            self._close(t, skipping)

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title += data
            return
        if self.skip or self.in_head:
            return
        if self.pre:
            self.out.append(("PRE", data))
        else:
            self.out.append(re.sub(r"\s+", " ", data))

    def text(self) -> str:
        # Join, keeping <pre> content verbatim; then tidy each non-pre line.
        parts: list[str] = []
        for seg in self.out:
            if isinstance(seg, tuple):
                parts.append("\x00" + seg[1].replace("\n", "\x01") + "\x00")
            else:
                parts.append(seg)
        s = "".join(parts)
        lines = []
        for line in s.split("\n"):
            if "\x00" not in line:
                line = re.sub(r" {2,}", " ", line).strip()
            else:
                line = line.rstrip()
                # strip only the collapsed-whitespace text around pre fragments
                line = re.sub(r"^ +(?=\x00)", "", line)
            lines.append(line)
        s = "\n".join(lines).replace("\x00", "").replace("\x01", "\n")
        s = re.sub(r"\n{3,}", "\n\n", s)
        return s.strip() + "\n"


def convert(raw: str) -> tuple[str, str]:
    p = PageText()
    p.feed(raw)
    p.close()
    return re.sub(r"\s+", " ", p.title).strip(), p.text()


def build_corpus(src: str) -> list[dict[str, str]]:
    docs: list[dict[str, str]] = []
    for name in sorted(os.listdir(src)):
        if not name.endswith(".html"):
            continue
        with open(os.path.join(src, name), encoding="utf-8") as f:
            title, text = convert(f.read())
        docs.append({"_id": name, "title": title, "text": text})
    docs.sort(key=lambda d: d["_id"])
    return docs


def installed_version() -> str | None:
    try:
        # Fixed argument list, absolute executable path, no shell: nothing untrusted is run.
        proc = subprocess.run(  # noqa: S603
            [DPKG_QUERY, "-W", "-f=${Version}", PACKAGE], check=True, capture_output=True, text=True
        )
        return proc.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def read_jsonl(path: str) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_jsonl(path: str, rows: Iterable[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", default=DEFAULT_SRC)
    ap.add_argument("--out", default=HERE)
    a = ap.parse_args()

    if not os.path.isdir(a.src):
        sys.exit(f"{a.src} not found: run `apt-get install {PACKAGE}` (version {EXPECTED_VERSION})")
    v = installed_version()
    if v is not None and v != EXPECTED_VERSION:
        print(
            f"warning: {PACKAGE} {v} installed, the set was written against {EXPECTED_VERSION}",
            file=sys.stderr,
        )

    docs = build_corpus(a.src)
    write_jsonl(os.path.join(a.out, "corpus.jsonl"), docs)
    ids = {d["_id"] for d in docs}

    qpath = os.path.join(HERE, "questions.jsonl")
    if not os.path.exists(qpath):
        print(f"corpus.jsonl: {len(docs)} docs (no questions.jsonl yet)")
        return 0
    qs = read_jsonl(qpath)
    un = read_jsonl(os.path.join(HERE, "unanswerable.jsonl"))
    oos = read_jsonl(os.path.join(HERE, "out_of_scope.jsonl"))

    for q in qs:
        missing = [g for g in q["gold_docs"] if g not in ids]
        if missing:
            sys.exit(f"{q['id']}: gold docs not in corpus: {missing}")

    write_jsonl(
        os.path.join(a.out, "queries.jsonl"), [{"_id": q["id"], "text": q["question"]} for q in qs + un]
    )
    with open(os.path.join(a.out, "qrels.tsv"), "w", encoding="utf-8", newline="\n") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for q in qs:
            for g in q["gold_docs"]:
                f.write(f"{q['id']}\t{g}\t1\n")
    write_jsonl(
        os.path.join(a.out, "answers.jsonl"),
        [{"_id": q["id"], "answers": q["answer_phrases"], "match": "all"} for q in qs]
        + [{"_id": q["id"], "answers": [], "match": "all"} for q in un],
    )
    write_jsonl(
        os.path.join(a.out, "messages.jsonl"),
        [{"_id": q["id"], "text": q["question"], "expected": "question"} for q in qs + un]
        + [{"_id": m["id"], "text": m["text"], "expected": EXPECTED[m["category"]]} for m in oos],
    )
    print(
        f"corpus {len(docs)} docs; {len(qs)} answerable, {len(un)} unanswerable, "
        f"{len(oos)} out-of-scope; {sum(len(q['gold_docs']) for q in qs)} qrels"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
