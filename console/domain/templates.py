"""Notification templates: ``str.format``-style text with named ``{placeholders}``.

The jobs render templates inside SQL (one INSERT ... SELECT for a whole set of tasks), so a
template is split here into literal text and field names; the notify layer turns the pieces
into a SQL concatenation.
"""

from __future__ import annotations

from string import Formatter


class TemplateError(ValueError):
    """A template that cannot be rendered."""


def template_parts(template: str) -> list[tuple[str, str | None]]:
    """``[(literal, field_or_None), ...]`` for a template; only plain ``{name}`` fields."""
    try:
        parsed = list(Formatter().parse(template))
    except ValueError as exc:
        raise TemplateError(f"bad template: {exc}") from None
    parts: list[tuple[str, str | None]] = []
    for literal, field, spec, conversion in parsed:
        if field is not None and (spec or conversion or not field.isidentifier()):
            raise TemplateError(f"only plain {{name}} placeholders are allowed, not {{{field}}}")
        parts.append((literal, field))
    return parts


def template_fields(template: str) -> set[str]:
    """The placeholder names a template uses."""
    return {field for _, field in template_parts(template) if field is not None}


def render(template: str, values: dict[str, object]) -> str:
    """The template filled in Python, for the few notifications that are not set-based."""
    return "".join(literal + (str(values[field]) if field else "") for literal, field in template_parts(template))
