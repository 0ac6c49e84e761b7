"""Form helpers shared by the apps' pages."""

from __future__ import annotations

from typing import Any


class AccessibleFormMixin:
    """Tie each field's help text and errors to its input for assistive technology.

    ``templates/partials/field.html`` renders the help text as ``<id>_help`` and the errors as
    ``<id>_error``; this mixin points the widget's ``aria-describedby`` at them and sets
    ``aria-invalid`` on a field with errors."""

    fields: dict[str, Any]
    errors: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")  # a label reads as the field's name, with no colon
        super().__init__(*args, **kwargs)
        self._describe()

    def full_clean(self) -> None:
        super().full_clean()  # type: ignore[misc]
        self._describe()

    def add_error(self, field: str | None, error: Any) -> None:
        super().add_error(field, error)  # type: ignore[misc]
        self._describe()

    def _describe(self) -> None:
        errors = self.errors if getattr(self, "_errors", None) is not None else {}
        for name, field in self.fields.items():
            auto_id = self[name].auto_id  # type: ignore[index]
            if not auto_id:
                continue
            described = [f"{auto_id}_help"] if field.help_text else []
            if name in errors:
                described.append(f"{auto_id}_error")
                field.widget.attrs["aria-invalid"] = "true"
            else:
                field.widget.attrs.pop("aria-invalid", None)
            if described:
                field.widget.attrs["aria-describedby"] = " ".join(described)
