"""Shape checks of the document pages' query strings and forms (rules live in the services)."""

from __future__ import annotations

from django import forms

from ingest.models import VersionStatus


class DocumentFilterForm(forms.Form):
    """The documents page's search box and status filter (kept in the URL, so it can be bookmarked)."""

    q = forms.CharField(required=False, max_length=200, strip=True)
    status = forms.ChoiceField(required=False, choices=[("", "any"), *VersionStatus.choices])
    page = forms.IntegerField(required=False, min_value=1)
