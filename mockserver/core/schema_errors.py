"""What a JSON Schema validation error is about, read once for every message built from one.

The model input 400s (core/catalog.py), scenario errors (scenarios/loading.py) and contract
problems (contract/) phrase their messages for different readers, but they take the same facts
out of a jsonschema ValidationError: which required field is missing, which fields are not
allowed, and how a value misses a bound.
"""

from __future__ import annotations

from typing import Any

_BOUNDS = {
    "minLength": ("characters", "at least", len),
    "maxLength": ("characters", "at most", len),
    "minItems": ("items", "at least", len),
    "maxItems": ("items", "at most", len),
}


def missing_fields(error: Any) -> list[str]:
    """The fields a ``required`` error says are missing, in the schema's order."""
    value = error.instance
    if not isinstance(value, dict):
        return []
    return [name for name in error.validator_value if name not in value]


def unexpected_fields(error: Any) -> list[str]:
    """The fields an ``additionalProperties``/``unevaluatedProperties`` error refuses, sorted."""
    value = error.instance
    known = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
    if not isinstance(value, dict):
        return []
    return sorted(k for k in value if k not in known)


def known_fields(error: Any) -> list[str]:
    """The fields the schema of an ``additionalProperties`` error allows."""
    return list(error.schema.get("properties", {})) if isinstance(error.schema, dict) else []


def size_bound(error: Any) -> str | None:
    """``12 characters, at most 10`` for a length or item-count error (None for other kinds)."""
    found = _BOUNDS.get(error.validator)
    if found is None or not isinstance(error.instance, str | list):
        return None
    unit, side, size = found
    return f"{size(error.instance)} {unit}, {side} {error.validator_value}"
