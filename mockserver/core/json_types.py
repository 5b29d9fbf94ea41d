"""JSON type names of Python values, as JSON Schema spells them (one definition for every message)."""

from __future__ import annotations


def json_type(value: object) -> str:
    """``null``, ``boolean``, ``integer``, ``number``, ``string``, ``array`` or ``object``.

    A bool is a boolean, never an integer; anything that is not JSON is named by its Python type.
    """
    if value is None:
        return "null"
    for py, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"), (list, "array")):
        if isinstance(value, py):
            return name
    return "object" if isinstance(value, dict) else type(value).__name__
