"""Bounded memo tables: the caches the mock keeps of work it would otherwise repeat (encoded status
bodies, validated scenario parts, compiled rules, a client's URLs).

Each is a plain dict with a size: a full table is emptied before the next entry goes in. That is
the simplest bound there is, and enough for these: what a test, a fuzz loop or a load run uses is
back in the table after one miss each.
"""

from __future__ import annotations

from typing import TypeVar

__all__ = ["remember"]

K = TypeVar("K")
V = TypeVar("V")


def remember(table: dict[K, V], key: K, value: V, size: int) -> V:
    """Store ``value`` under ``key`` in ``table`` (emptied first when it holds ``size`` entries); ``value``."""
    if len(table) >= size:
        table.clear()
    table[key] = value
    return value
