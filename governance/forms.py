"""Shape checks for governance forms; the rules live in services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import forms as auth_forms
from django.contrib.auth.validators import UnicodeUsernameValidator

from config.forms import AccessibleFormMixin
from governance.models import ApiScope, Role


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100)
    scopes = forms.MultipleChoiceField(
        choices=ApiScope.choices, widget=forms.CheckboxSelectMultiple, initial=[ApiScope.ASK]
    )


class AccessGroupForm(forms.Form):
    name = forms.CharField(max_length=100)


class TenantSwitchForm(forms.Form):
    tenant = forms.SlugField(max_length=63)


ROLE_CHOICES = [(Role.MEMBER.value, Role.MEMBER.label), (Role.ADMIN.value, Role.ADMIN.label)]


class MemberRoleForm(AccessibleFormMixin, forms.Form):
    role = forms.ChoiceField(choices=ROLE_CHOICES)


class MemberInviteForm(AccessibleFormMixin, forms.Form):
    """Invite someone by email or username; they accept or decline it themselves."""

    invitee = forms.CharField(
        max_length=254,
        label="Email or username",
        help_text="They see the invitation after signing in, and choose to accept or decline it.",
    )
    role = forms.ChoiceField(choices=ROLE_CHOICES, initial=Role.MEMBER)


class MemberCreateForm(AccessibleFormMixin, forms.Form):
    """Create a new user; its one-time password is generated and shown once."""

    username = forms.CharField(
        max_length=150,
        label="New username",
        validators=[UnicodeUsernameValidator()],
        help_text="Letters, digits and @ . + - _ only.",
    )
    role = forms.ChoiceField(choices=ROLE_CHOICES, initial=Role.MEMBER)


class AuditFilterForm(AccessibleFormMixin, forms.Form):
    """The audit viewer's filters (GET, so a filtered view can be bookmarked)."""

    action = forms.CharField(
        max_length=64,
        required=False,
        label="Action",
        help_text="Starts with, e.g. membership. or document.upload",
    )
    actor = forms.CharField(max_length=200, required=False, label="Actor")
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(
        required=False,
        label="To",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Included (the whole day).",
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        return cleaned


class PasswordChangeForm(AccessibleFormMixin, auth_forms.PasswordChangeForm):
    """Django's own checks (the current password, the validators, the two new ones match)."""
