"""Shape checks for governance forms; the rules live in services."""

from __future__ import annotations

from django import forms

from governance.models import ApiScope


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100)
    scopes = forms.MultipleChoiceField(
        choices=ApiScope.choices, widget=forms.CheckboxSelectMultiple, initial=[ApiScope.ASK]
    )


class AccessGroupForm(forms.Form):
    name = forms.CharField(max_length=100)


class TenantSwitchForm(forms.Form):
    tenant = forms.SlugField(max_length=63)
