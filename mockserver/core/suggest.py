"""'Did you mean ...?': the known names most like a wrong one (one definition for every message)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def close_names(name: str, known: Iterable[str], *, n: int = 1, cutoff: float = 0.6) -> list[str]:
    """Up to ``n`` known names like ``name``: one that differs only in case or punctuation
    (aspectRatio for aspect_ratio) first, then difflib's closest above ``cutoff``."""
    known = list(known)
    same = [k for k in known if _squash(k) == _squash(name)]
    close = [k for k in difflib.get_close_matches(name, known, n=n, cutoff=cutoff) if k not in same]
    return (same + close)[:n]
