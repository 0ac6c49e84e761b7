"""Documents generated in memory for benchmarks and tests (reportlab is a development requirement):
no binary fixtures in the repository."""

from __future__ import annotations

import io

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas


def make_pdf(pages: list[list[str]], *, title: str | None = None, outline: bool = False) -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    if title:
        pdf.setTitle(title)
    for number, lines in enumerate(pages, start=1):
        if outline:
            pdf.bookmarkPage(f"p{number}")
            pdf.addOutlineEntry(f"Chapter {number}", f"p{number}", level=0)
        y = 800
        for line in lines:
            pdf.drawString(72, y, line)
            y -= 16
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()
