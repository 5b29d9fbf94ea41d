"""How callback deliveries are retried, timed out and signed: the scenario key ``callbacks``.

Plain Python; the one place the defaults are written (the scenario loader, the settings and
the resolved scenario all read them from here).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mockserver.callbacks.signing import secret_key

DEFAULT_RETRIES = 3
DEFAULT_BACKOFF_MS = (30_000, 60_000, 120_000)
DEFAULT_TIMEOUT_MS = 30_000
_CONFIG_KEYS = ("retries", "backoff_ms", "timeout_ms", "secret")


@dataclass(frozen=True, slots=True)
class CallbackConfig:
    """How deliveries are retried, timed out and signed (scenario key ``callbacks``)."""

    retries: int = DEFAULT_RETRIES
    backoff_ms: tuple[int, ...] = DEFAULT_BACKOFF_MS
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    secret: str | None = None

    def __post_init__(self) -> None:
        _check_int("callbacks.retries", self.retries, 0, 100)
        backoff = self.backoff_ms
        if isinstance(backoff, list):
            backoff = tuple(backoff)
            object.__setattr__(self, "backoff_ms", backoff)
        if not isinstance(backoff, tuple) or not backoff:
            raise ValueError(f"callbacks.backoff_ms: expected a non-empty list of integers >= 0, got {backoff!r}")
        for i, ms in enumerate(backoff):
            _check_int(f"callbacks.backoff_ms[{i}]", ms, 0, 7 * 24 * 3600 * 1000)
        _check_int("callbacks.timeout_ms", self.timeout_ms, 1, 3600 * 1000)
        if self.secret is not None:
            secret_key(self.secret)

    @classmethod
    def from_dict(cls, raw: Mapping | None, *, secret: str | None = None) -> CallbackConfig:
        """From a scenario's ``callbacks`` mapping; ``secret`` is the fallback (--webhook-secret).

        A scenario's non-null ``secret`` wins; ``secret: null`` keeps the fallback.
        """
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise ValueError(f"callbacks: expected an object, got {type(raw).__name__}")
        unknown = sorted(set(raw) - set(_CONFIG_KEYS))
        if unknown:
            raise ValueError(f"callbacks: unknown key {unknown[0]!r} (expected {', '.join(_CONFIG_KEYS)})")
        backoff = raw.get("backoff_ms", DEFAULT_BACKOFF_MS)
        if isinstance(backoff, list):
            backoff = tuple(backoff)
        return cls(
            retries=raw.get("retries", DEFAULT_RETRIES),
            backoff_ms=backoff,
            timeout_ms=raw.get("timeout_ms", DEFAULT_TIMEOUT_MS),
            secret=raw.get("secret") or secret,
        )

    def backoff(self, attempt: int) -> int:
        """The wait after failed attempt ``attempt`` (1-based); the last value repeats."""
        return self.backoff_ms[min(attempt, len(self.backoff_ms)) - 1]

    def to_dict(self, *, secret: bool = False) -> dict:
        """As the scenario key; the secret itself only when asked (else "(set)" or None)."""
        shown = self.secret if secret or self.secret is None else "(set)"
        return {
            "retries": self.retries,
            "backoff_ms": list(self.backoff_ms),
            "timeout_ms": self.timeout_ms,
            "secret": shown,
        }


def _check_int(path: str, value: object, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{path}: expected an integer {lo}..{hi}, got {value!r}")
