"""Server-Sent Events, one way for the three streams: the chat page (HTML fragments), the ask API
(JSON events) and the OpenAI-compatible API (unnamed ``data:`` chunks, then ``[DONE]``)."""

from __future__ import annotations

from collections.abc import Iterator

from django.http import StreamingHttpResponse


def event(data: str, *, name: str = "") -> str:
    """One event: its ``event:`` name when given, and every line of ``data`` in its own ``data:``
    field (a client joins them with newlines, so multi-line HTML arrives whole)."""
    head = f"event: {name}\n" if name else ""
    return head + "".join(f"data: {line}\n" for line in data.split("\n")) + "\n"


def stream_response(events: Iterator[str]) -> StreamingHttpResponse:
    """A ``text/event-stream`` response that neither the browser nor a proxy holds back."""
    response = StreamingHttpResponse(events, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
    return response
