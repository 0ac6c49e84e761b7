"""Shape checks of the document pages' query strings and forms (rules live in the services)."""

from __future__ import annotations

from django import forms

from ingest.models import VersionStatus
from ingest.selectors import IN_PROGRESS_FILTER

# What the status filter offers: each step, and every step before "ready" at once. A document's
# newest version is never "superseded", so that one is left out.
STATUS_FILTERS = [
    ("", "any"),
    (IN_PROGRESS_FILTER, "In progress"),
    *((value, label) for value, label in VersionStatus.choices if value != VersionStatus.SUPERSEDED),
]


class DocumentFilterForm(forms.Form):
    """The documents page's search box and status filter (kept in the URL, so it can be bookmarked)."""

    q = forms.CharField(required=False, max_length=200, strip=True)
    status = forms.ChoiceField(required=False, choices=STATUS_FILTERS)
    page = forms.IntegerField(required=False, min_value=1)
