"""The audit trail as people read it: one safe line per event, on the page and in a CSV export.

An event's ``extra`` is shown without any key that could carry a secret or a document's or a
message's text (the services do not audit those, this is the second fence), and a CSV cell that a
spreadsheet would run as a formula is neutralised with a leading apostrophe (OWASP's advice).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from governance.models import AuditEvent

# A key whose name says it may hold a secret or a text a user wrote is never shown.
HIDDEN_KEY = re.compile(r"secret|password|passwd|token$|api_key$|text|content|question|answer|reply", re.I)
# Cells a spreadsheet reads as a formula (tab and carriage return too, as OWASP lists them).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CSV_HEADER = ("time", "actor", "action", "target_type", "target_id", "details")
EXPORT_CHUNK = 500


@dataclass(frozen=True, slots=True)
class AuditLine:
    """One event as shown: when, who, what, to what, and its public details."""

    pk: int
    time: str
    actor: str
    action: str
    target_type: str
    target_id: str
    details: str

    def cells(self) -> tuple[str, str, str, str, str, str]:
        return (self.time, self.actor, self.action, self.target_type, self.target_id, self.details)


def public_details(extra: dict[str, Any]) -> str:
    """``key=value`` pairs of an event's extra, leaving out keys that may hold secrets or texts."""
    parts = []
    for key in sorted(extra):
        if HIDDEN_KEY.search(key):
            continue
        value = extra[key]
        if isinstance(value, dict):
            value = {k: v for k, v in value.items() if not HIDDEN_KEY.search(str(k))}
        shown = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
        parts.append(f"{key}={shown}")
    return "; ".join(parts)


def audit_line(event: AuditEvent) -> AuditLine:
    return AuditLine(
        pk=event.pk,
        time=event.created_at.isoformat(timespec="seconds"),
        actor=event.actor_label or "system",
        action=event.action,
        target_type=event.target_type,
        target_id=event.target_id,
        details=public_details(event.extra or {}),
    )


def csv_safe(value: str) -> str:
    """The cell as a spreadsheet will show it as text: a leading formula character gets an apostrophe."""
    return "'" + value if value.startswith(FORMULA_START) else value


class _Echo:
    """A file-like object whose ``write`` returns the line instead of storing it (for streaming)."""

    def write(self, value: str) -> str:
        return value


def audit_csv_lines(events: Iterable[AuditEvent]) -> Iterator[str]:
    """The events as CSV, a line at a time (the caller streams them), header first."""
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_HEADER)
    for event in events:
        yield writer.writerow([csv_safe(cell) for cell in audit_line(event).cells()])
