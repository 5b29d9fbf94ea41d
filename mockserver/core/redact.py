"""What the admin API, reports and replay bundles show of an API key: its last 4 characters.

Bundles and reports end up as CI artifacts and in bug reports; the keys in them should not work.
``reveal`` (an admin request with ``?reveal=true``, honoured only with an admin token) shows them.
"""

from __future__ import annotations

MASK = "****"
SHOWN = 4  # characters kept at the end of a key
_MIN_SHOWN_LENGTH = 9  # a shorter key is hidden whole: 4 of 8 characters would be half of it


def mask_key(key: str | None) -> str | None:
    """``sk_live_abcdef1234`` -> ``****1234``; a key of 8 characters or fewer -> ``****``."""
    if key is None:
        return None
    if is_masked(key):
        return key
    return MASK + key[-SHOWN:] if len(key) >= _MIN_SHOWN_LENGTH else MASK


def is_masked(key: str) -> bool:
    """Whether ``key`` is a mask (as a replay bundle carries it), not a key."""
    return key.startswith(MASK) and len(key) in (len(MASK), len(MASK) + SHOWN)
