"""Server settings, from keyword arguments, the CLI or MOCKSERVER_* environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlsplit

from mockserver.callbacks.config import CallbackConfig
from mockserver.core.clock import MAX_SCALE as MAX_TIME_SCALE

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_TTL_MS = 15 * 24 * 3600 * 1000  # the provider's page: result URLs valid for 15 days
MAX_BODY_BYTES = 1024 * 1024
MAX_SEED = 2**63 - 1  # the scenario schema's bound too
DEFAULT_BODY_TIMEOUT_S = 10.0
DEFAULT_REQUEST_TIMEOUT_S = 15.0
DEFAULT_KEEP_ALIVE_S = 5.0
# A task is kept this long after its result files expire (its end + results TTL), then evicted:
# a client that polls a little late still hears "expired", and memory is bounded by time.
DEFAULT_EVICT_AFTER_MS = 24 * 3600 * 1000


@dataclass(slots=True)
class Settings:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    clock: str = "real"  # "real" or "manual"
    time_scale: float = 1.0
    # None: a fresh seed is drawn at start and at every reset (printed, and shown by
    # /__admin/health), so task ids cannot be guessed and never repeat across runs; a number
    # makes ids, timings and rule decisions repeat exactly (replay bundles record it).
    seed: int | None = None
    # None: any bearer key works with unlimited credits. A dict: only these keys,
    # each with its balance (None balance = unlimited).
    api_keys: dict[str, float | None] | None = None
    public_url: str | None = None
    admin_token: str | None = None
    journal_size: int = 10_000
    max_body_bytes: int = MAX_BODY_BYTES
    # Slow or stalled clients (docs/security.md): a handler waits this long for a body (then 408);
    # a connection must deliver a whole request this long after it opened or its last answer
    # (else it is closed); an idle keep-alive connection is closed after keep_alive_s.
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S
    keep_alive_s: float = DEFAULT_KEEP_ALIVE_S
    results_ttl_ms: int = DEFAULT_TTL_MS
    # How long a task is kept once its result files have expired, then forgotten (None: never).
    evict_after_ms: int | None = DEFAULT_EVICT_AFTER_MS
    start_ms: int | None = None  # the clock's starting time; None = now
    # Standard Webhooks signing of callbacks (whsec_<base64>); None = unsigned.
    webhook_secret: str | None = None
    # Callback delivery: {retries, backoff_ms, timeout_ms, secret}, as the scenario key.
    callbacks: dict | None = None
    # Callback URLs to link-local, metadata, unspecified or oddly spelt addresses are refused
    # (callbacks/targets.py); True lifts that. The mock itself and /__admin stay refused.
    unsafe_callback_urls: bool = False
    # Replay: accounts with masked keys (****1234) are taken over by the first key ending so.
    claim_masked_keys: bool = False
    # Check each request against the published request schema too (400 naming the schema rule).
    strict: bool = False
    # A scenario: a library name, a file path, a mapping, or a scenario.Scenario (None: none).
    # Its keys win over the fields above; reset() returns to it.
    scenario: object = None
    # The dialects the server speaks: names ("apixo") or Dialect objects; None = every built-in one.
    dialects: Sequence[Any] | str | None = None

    def __post_init__(self) -> None:
        if self.dialects is not None:
            from mockserver.dialects import resolve  # the registry imports the dialects: only when named

            resolve(self.dialects)  # ValueError naming an unknown dialect
        if self.clock not in ("real", "manual"):
            raise ValueError(f"clock must be 'real' or 'manual', got {self.clock!r}")
        if not 0 < self.time_scale <= MAX_TIME_SCALE:
            raise ValueError(f"time_scale must be > 0 and <= {MAX_TIME_SCALE:g}, got {self.time_scale!r}")
        for name in ("body_timeout_s", "request_timeout_s", "keep_alive_s"):
            value = getattr(self, name)
            if not 0 < value <= 3600:
                raise ValueError(f"{name} must be > 0 and <= 3600 seconds, got {value!r}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535, got {self.port!r}")
        if self.seed is not None and (isinstance(self.seed, bool) or not 0 <= self.seed <= MAX_SEED):
            raise ValueError(f"seed must be an integer 0..{MAX_SEED}, got {self.seed!r}")
        if self.evict_after_ms is not None and (isinstance(self.evict_after_ms, bool) or self.evict_after_ms < 0):
            raise ValueError(f"evict_after_ms must be >= 0 or None (never), got {self.evict_after_ms!r}")
        if self.journal_size < 1:
            raise ValueError(f"journal_size must be >= 1, got {self.journal_size!r}")
        # Validates the secret and the callbacks mapping.
        if self.public_url is not None:
            self.public_url = http_url(self.public_url, "public_url")
        CallbackConfig.from_dict(self.callbacks, secret=self.webhook_secret)


def http_url(value: str, what: str) -> str:
    """``value`` without its trailing slash if it is an absolute http(s) URL; else ValueError naming ``what``."""
    try:
        parts = urlsplit(value)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # "http://[oops" and the like
        ok = False
    if not ok:
        raise ValueError(f"{what} must be an absolute http(s) URL such as http://mock:8000, got {value!r}")
    return value.rstrip("/")


def server_url(host: str, port: int | None, scheme: str = "http") -> str:
    """``scheme://host:port``, with IPv6 hosts in brackets and default ports left out."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    default = port is None or (scheme == "http" and port == 80) or (scheme == "https" and port == 443)
    return f"{scheme}://{host}" if default else f"{scheme}://{host}:{port}"


def parse_api_key(spec: str) -> tuple[str, float | None]:
    """``KEY`` or ``KEY:BALANCE`` -> (key, balance or None for unlimited)."""
    key, sep, balance = spec.rpartition(":")
    if not sep:
        key, balance = spec, ""
    key = key.strip()
    if not key:
        raise ValueError(f"empty API key in {spec!r}")
    if not balance:
        return key, None
    try:
        value = float(balance)
    except ValueError:
        raise ValueError(f"balance in {spec!r} is not a number: {balance!r}") from None
    if value < 0 or value != value:
        raise ValueError(f"balance in {spec!r} must be >= 0")
    return key, value


def parse_evict_after(raw: str) -> int | None:
    """``off`` or ``never`` -> None; else milliseconds >= 0 (ValueError otherwise)."""
    value = raw.strip().lower()
    if value in ("off", "never"):
        return None
    try:
        ms = int(value)
    except ValueError:
        raise ValueError(f"{raw!r} is not milliseconds or 'off'") from None
    if ms < 0:
        raise ValueError(f"{raw!r} must be >= 0 (or 'off')")
    return ms


def parse_bool(raw: str, what: str) -> bool:
    """1/true/yes/on or 0/false/no/off, any case."""
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{what}={raw!r} is not a boolean (use 1/0, true/false, yes/no, on/off)")


def env_settings(environ: Mapping[str, str] | None = None) -> dict[str, object]:
    """Settings named by MOCKSERVER_<FIELD> environment variables (as strings, typed here)."""
    env = os.environ if environ is None else environ
    out: dict[str, object] = {}
    types = {f.name: f.type for f in fields(Settings)}
    for name in (
        "host",
        "port",
        "clock",
        "time_scale",
        "seed",
        "public_url",
        "admin_token",
        "journal_size",
        "scenario",
        "body_timeout_s",
        "request_timeout_s",
        "keep_alive_s",
    ):
        raw = env.get(f"MOCKSERVER_{name.upper()}")
        if raw is None or raw == "":
            continue
        kind = types[name]
        try:
            if kind in ("int", "int | None"):
                out[name] = int(raw)
            elif kind == "float":
                out[name] = float(raw)
            else:
                out[name] = raw
        except ValueError:
            raise ValueError(f"MOCKSERVER_{name.upper()}={raw!r} is not a valid {kind}") from None
    if env.get("MOCKSERVER_DIALECTS"):
        out["dialects"] = env["MOCKSERVER_DIALECTS"]
    if env.get("MOCKSERVER_WEBHOOK_SECRET"):
        out["webhook_secret"] = env["MOCKSERVER_WEBHOOK_SECRET"]
    raw_evict = env.get("MOCKSERVER_EVICT_AFTER_MS")
    if raw_evict:
        try:
            out["evict_after_ms"] = parse_evict_after(raw_evict)
        except ValueError as exc:
            raise ValueError(f"MOCKSERVER_EVICT_AFTER_MS: {exc}") from None
    for flag in ("strict", "unsafe_callback_urls"):
        raw = env.get(f"MOCKSERVER_{flag.upper()}")
        if raw:
            out[flag] = parse_bool(raw, f"MOCKSERVER_{flag.upper()}")
    keys = env.get("MOCKSERVER_API_KEYS") or env.get("MOCKSERVER_API_KEY")
    if keys:
        out["api_keys"] = dict(parse_api_key(s) for s in keys.replace(",", " ").split())
    return out
