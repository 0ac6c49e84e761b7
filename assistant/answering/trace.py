"""Where one answer's time went: each step's wall time in milliseconds, in the order it ran, stored
with the answer (``Message.timings_ms``) and read by the usage dashboard's latency percentiles."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


def ms_since(started: float) -> float:
    """Milliseconds since ``started`` (a ``time.perf_counter()`` reading), to 0.1 ms."""
    return round((time.perf_counter() - started) * 1000, 1)


class Trace:
    """One answer's timings. ``step(name)`` times a block; the LLM's steps, timed inside the
    generator, write ``timings`` directly; ``finish()`` adds the total."""

    __slots__ = ("started", "timings")

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.timings: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = ms_since(started)

    def finish(self) -> None:
        self.timings["total"] = ms_since(self.started)
