"""Dialects: each provider's wire format over the one core (SPEC 8).

``protocol.Dialect`` says what a dialect provides; ``apixo/`` and ``api123/`` are the built-in
ones. The server takes a list of dialects; everything else reaches a provider's words only through them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from mockserver.core.words import ENDPOINT_KINDS

if TYPE_CHECKING:  # pragma: no cover
    from mockserver.dialects.protocol import Dialect

__all__ = ["builtin", "default_dialects", "endpoint_aliases", "resolve"]


def builtin() -> dict[str, Dialect]:
    """Every dialect that ships with mockserver, by name."""
    from mockserver.dialects.api123 import API123
    from mockserver.dialects.apixo import APIXO

    return {APIXO.name: APIXO, API123.name: API123}


def default_dialects() -> list[Dialect]:
    return list(builtin().values())


def resolve(dialects: Iterable[Dialect | str] | str | None) -> list[Dialect]:
    """Dialect objects from names (``"apixo"``, ``"apixo,other"``) or objects; None: every built-in one."""
    if dialects is None:
        return default_dialects()
    if isinstance(dialects, str):
        dialects = [d for d in dialects.replace(" ", ",").split(",") if d]
    known = builtin()
    out: list[Dialect] = []
    for d in dialects:
        if isinstance(d, str):
            found = known.get(d.strip().lower())
            if found is None:
                raise ValueError(f"unknown dialect {d!r} (known: {', '.join(known)})")
            d = found
        if any(o.name == d.name for o in out):
            continue
        out.append(d)
    if not out:
        raise ValueError("at least one dialect is needed")
    return out


def endpoint_aliases(dialects: Sequence[Dialect] | None = None) -> dict[str, str]:
    """Every name a scenario file may give an endpoint -> its kind: the neutral kinds and each dialect's names."""
    aliases = {kind: kind for kind in ENDPOINT_KINDS}
    for d in dialects if dialects is not None else default_dialects():
        for route in d.routes:
            aliases.setdefault(route.name, route.kind)
    return aliases
