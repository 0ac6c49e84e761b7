"""Figures on the usage dashboard written as ``manage.py usage`` writes them."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def percent(share: float | None) -> str:
    """0.6 -> "60.0%"; no share (nothing asked) -> "-"."""
    return "-" if share is None else f"{share:.1%}"


@register.filter
def percent_of(part: int, whole: int) -> str:
    """``part`` as a share of ``whole`` ("-" when ``whole`` is 0)."""
    return percent(part / whole if whole else None)


@register.filter
def thousands(value: int | float) -> str:
    """1234567 -> "1,234,567"."""
    return f"{value:,}"
