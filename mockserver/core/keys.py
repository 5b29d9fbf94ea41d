"""API keys that are plainly not keys: an unset variable or a placeholder sent as the key.

``Authorization: Bearer undefined`` (JavaScript), ``Bearer None`` (Python's f-string of a missing
``os.environ.get``), ``Bearer ${APIXO_API_KEY}`` (a shell or .env file that did not expand) and
``Bearer YOUR_API_KEY`` (the docs' own example, pasted) reach real providers every day; a mock that
accepts any key would let each pass CI. Only the shape of the presented key is looked at.
"""

from __future__ import annotations

import functools
import re

__all__ = ["unset_variable"]

# What an unset variable turns into on its way into a header, by language.
_NOTHING = frozenset({"undefined", "null", "none", "nil", "nan", "false", "true", "[object object]"})
# A template or variable reference nobody expanded: ${X}, $X, $(cmd), %X%, {{x}}, <API_KEY>.
_UNEXPANDED = re.compile(
    r"\$\{[^}]*\}|\$\([^)]*\)|\$[A-Za-z_][A-Za-z0-9_]*|%[A-Za-z_][A-Za-z0-9_]*%|\{\{.*\}\}|^<[^<>]*>$"
)
# A placeholder from docs and READMEs: YOUR_API_KEY, your-api-key, sk-your-key-here, sk-..., sk-xxxx,
# <insert key>, REPLACE_ME, changeme.
_PLACEHOLDER = re.compile(
    r"^(?:sk[-_](?:live[-_]|test[-_])?)?"
    r"(?:(?:your|insert|enter|put|paste|add)[-_ .]?(?:[a-z0-9]+[-_ .]?){0,3}?(?:api[-_ .]?)?(?:key|token|secret)"
    r"(?:[-_ .]?here)?|(?:api[-_ .]?)?key[-_ .]?here|replace[-_ .]?me|change[-_ .]?me|x{3,}|\.{3,}|\*{3,}|…)$",
    re.IGNORECASE,
)
_SHOWN = 40  # longer keys are described, not echoed
# Every request asks (status polls too), and a client sends the same key again and again: the
# verdict of keys up to this length is remembered (a few hundred bytes each, bounded in number).
_CACHED_LENGTH = 256


def unset_variable(key: str) -> str | None:
    """Why ``key`` looks like an unset variable or a placeholder (the 401's detail), or None."""
    return _remembered(key) if len(key) <= _CACHED_LENGTH else _verdict(key)


def _verdict(key: str) -> str | None:
    shape = key.strip().strip("'\"")
    lowered = shape.lower()
    if lowered in _NOTHING or not shape:
        what = "an unset variable"
    elif _UNEXPANDED.search(shape):
        what = "a variable reference nobody expanded"
    elif _PLACEHOLDER.match(shape):
        what = "a placeholder from an example"
    else:
        return None
    shown = repr(key) if len(key) <= _SHOWN else f"a {len(key)}-character key"
    return (
        f"The API key {shown} is {what}, not a key: check that the environment variable "
        "(or secret) holding your key is set where the client runs"
    )


_remembered = functools.lru_cache(maxsize=1024)(_verdict)
