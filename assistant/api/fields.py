"""Input fields for JSON request bodies that accept exactly what the OpenAPI schema says they do
(schemathesis checks both ways: nothing valid refused, nothing invalid accepted)."""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from rest_framework import serializers

# Some text that is not all whitespace (Python's idea of it, as the services split on it) and holds
# no NUL character; in the schema too, so that what it calls valid is what the API accepts.
NOT_SPACE = r"[^\x00\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
HAS_TEXT = RegexValidator(rf"^[^\x00]*{NOT_SPACE}[^\x00]*$", "Write some text.", code="blank")


def text_field(max_length: int, **kwargs: Any) -> serializers.CharField:
    """A query's or question's text from a query string, taken as given (the services normalise
    the whitespace)."""
    return serializers.CharField(
        max_length=max_length, trim_whitespace=False, validators=[HAS_TEXT], **kwargs
    )


class JsonCharField(serializers.CharField):
    """A JSON string, and only that (DRF would take 0 or true as "0" or "True")."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class JsonIntegerField(serializers.IntegerField):
    """A JSON number that is an integer (not "7", not true)."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool | str):
            self.fail("invalid")
        return int(super().to_internal_value(data))


class JsonBooleanField(serializers.BooleanField):
    """true or false (not "yes", not 1)."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class JsonTextField(JsonCharField):
    """A question's or query's text in a JSON body, taken as given, with some text in it."""

    def __init__(self, **kwargs: Any):
        super().__init__(trim_whitespace=False, validators=[HAS_TEXT], **kwargs)
