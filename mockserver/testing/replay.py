"""Replay bundles: what a failed test's mock did, saved so ``mockserver replay PATH`` serves it again.

A bundle holds the scenario with every setting it relies on written in (seed, clock mode
and start, restricted keys), the dialects the mock spoke, the journal of the client's
requests (their paths say which dialect each spoke), the callback log and the versions.
Served again, the same client requests get the same answers: task ids and timings come
from the seed, rule decisions from (seed, rule index, match count), and
poll-driven tasks from their poll counts. What time alone decides is kept too: on a
manual clock the replay moves the clock, as each request arrives, to the time the same
request had in the bundle, so a client that slept through clock advances in its test
sees the same states outside it without sleeping.

Not replayed: what the test itself did through the admin API besides the clock
(balances set, tasks forced to an end); rules it added are in the scenario from the start.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import pathlib
import platform
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["FORMAT", "BundleError", "bundle_of", "describe", "load_bundle", "replay_app", "write_bundle"]

FORMAT = "mockserver-replay/1"
_SHOWN_REQUESTS = 50  # the tape printed by describe(): the last ones, where failures are


class BundleError(ValueError):
    """A file that is not a usable replay bundle (the message says why, in one line)."""


def bundle_of(handle: Any, test: str, error: str | None = None) -> dict:
    """A bundle of the mock behind ``handle`` (a mockserver.testing.MockApi) as it is now.

    ``test`` names the failed test, ``error`` is the one-line failure it ended with.
    """
    from mockserver.testing.mock_api import curl_for

    health = handle.health()
    journal = handle.journal()
    return {
        "format": FORMAT,
        "test": test,
        "error": error,
        "versions": _versions(),
        "seed": health["seed"],
        # A replay speaks the same dialects: a path another dialect serves stays a 404.
        "dialects": list(health.get("dialects") or [health["dialect"]]),
        "scenario": handle.scenario(resolved=True),
        "clock": {"mode": health["clock"], "start": health["start"], "now": health["now"]},
        "journal": journal,
        "callbacks": handle.callbacks(),
        "lastRequest": curl_for(journal[-1], handle.url) if journal else None,
    }


def _versions() -> dict[str, str | None]:
    from importlib import metadata

    from mockserver._version import __version__

    out: dict[str, str | None] = {"mockserver": __version__, "python": platform.python_version()}
    for dist in ("hypothesis", "httpx"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def write_bundle(bundle: Mapping[str, Any], folder: str | pathlib.Path) -> pathlib.Path:
    """Write ``bundle`` as ``<folder>/<test>-<id>.json`` and return the path.

    The id is a hash of the scenario and the journal: the same failure again rewrites
    the same file instead of piling up copies.
    """
    text = json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"
    fingerprint = json.dumps([bundle.get("test"), bundle.get("scenario"), bundle.get("journal")], sort_keys=True)
    digest = hashlib.blake2b(fingerprint.encode(), digest_size=4).hexdigest()
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{_slug(str(bundle.get('test') or 'test'))}-{digest}.json"
    path.write_text(text, encoding="utf-8")
    return path


def write_html_report(handle: Any, bundle_path: str | pathlib.Path) -> pathlib.Path:
    """The report with every task's timeline, as one HTML file beside the bundle (same name, .html)."""
    from mockserver.report.html import render_html

    path = pathlib.Path(bundle_path).with_suffix(".html")
    data = handle._call("GET", "/timelines")
    path.write_text(render_html(data, title=f"mockserver: {path.stem}"), encoding="utf-8")
    return path


def _slug(nodeid: str) -> str:
    """``tests/test_x.py::test_y[a-b]`` -> ``test_x-test_y-a-b``: a file name, still recognisable."""
    file, _, name = nodeid.rpartition("::")
    stem = pathlib.PurePosixPath(file).stem if file else ""
    text = f"{stem}-{name}" if stem else name
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")[:100] or "test"


def load_bundle(path: str | pathlib.Path) -> dict:
    """The bundle in ``path``, checked: BundleError (one line) when it is not a usable one."""
    try:
        text = pathlib.Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        bundle = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise BundleError(f"{path} is not JSON: {exc}") from None
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise BundleError(f'{path} is not a mockserver replay bundle (no "format": "{FORMAT}")')
    checks = (
        ("scenario", dict),
        ("journal", list),
        ("clock", dict),
    )
    for key, kind in checks:
        if not isinstance(bundle.get(key), kind):
            raise BundleError(f"{path}: {key!r} is missing or not a JSON {'object' if kind is dict else 'array'}")
    dialects = _bundle_dialects(bundle, path)
    from mockserver.scenarios.loading import ScenarioError, load, problems, refusal

    # Rules may name any model the bundle's dialects serve (gpt-4o-image for a 123API client).
    models = sorted({name for d in dialects for name in d.catalog().names()})
    try:
        load(bundle["scenario"], models)
    except ScenarioError as exc:
        raise BundleError(refusal(str(path), problems(bundle["scenario"], models) or [exc])) from None
    for i, entry in enumerate(bundle["journal"]):
        if not isinstance(entry, dict) or not {"id", "time", "method", "path", "status"} <= set(entry):
            raise BundleError(f"{path}: journal/{i} is not a journal entry")
    return bundle


def _bundle_dialects(bundle: Mapping[str, Any], path: object) -> list[Any]:
    """The bundle's dialects, resolved (a bundle from before they were kept: every built-in one)."""
    from mockserver.dialects import resolve

    names = bundle.get("dialects")
    if names is None:
        return resolve(None)
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise BundleError(f"{path}: 'dialects' is not a non-empty JSON array of dialect names")
    try:
        return resolve(names)
    except ValueError as exc:
        raise BundleError(f"{path}: dialects: {exc}") from None


def describe(bundle: Mapping[str, Any], base_url: str | None = None) -> str:
    """A readable summary: the test and its error, the scenario and seed, the journal as a tape.

    With ``base_url`` (a replay server), the last request's curl line points there.
    """
    scenario = bundle["scenario"]
    clock = bundle["clock"]
    start = clock.get("start")
    journal = bundle["journal"]
    rules = scenario.get("rules", [])
    lines = [f"Replay of {bundle.get('test') or '(unknown test)'}"]
    if bundle.get("error"):
        lines.append(f"  failed with: {bundle['error']}")
    lines.append(
        f"  scenario: {scenario.get('name') or '(unnamed)'}, seed {bundle.get('seed')}, "
        f"{len(rules)} rule{'' if len(rules) == 1 else 's'}"
    )
    when = f" from {start} ({_iso(start)})" if isinstance(start, int) else ""
    lines.append(f"  clock: {clock.get('mode')}{when}")
    dialects = bundle.get("dialects")
    if isinstance(dialects, list) and dialects != _all_dialects():
        lines.append(f"  dialects: {', '.join(map(str, dialects))}")
    shown = journal[-_SHOWN_REQUESTS:]
    skipped = len(journal) - len(shown)
    lines.append(f"  journal: {len(journal)} request{'' if len(journal) == 1 else 's'}" + (":" if journal else ""))
    if skipped:
        lines.append(f"    ... {skipped} earlier")
    for e in shown:
        lines.append("    " + _tape_line(e, start))
    attempts = bundle.get("callbacks") or []
    if attempts:
        lines.append(f"  callbacks: {len(attempts)} delivery attempt{'' if len(attempts) == 1 else 's'}")
    if base_url is not None and journal:
        from mockserver.testing.mock_api import curl_for

        lines.append(f"  last request, against the replay: {curl_for(journal[-1], base_url)}")
    elif bundle.get("lastRequest"):
        lines.append(f"  last request: {bundle['lastRequest']}")
    return "\n".join(lines)


def _tape_line(e: Mapping[str, Any], start: int | None) -> str:
    offset = f"+{(e['time'] - start) / 1000:.3f}s" if isinstance(start, int) else str(e["time"])
    target = e["path"] + (f"?{e['query']}" if e.get("query") else "")
    status = str(e["status"]) if e["status"] else "no answer"
    extras = [
        f"{k} {e[k]}"
        for k in ("state", "rule", "fault")
        if e.get(k) is not None and not (k == "state" and e["status"] != 200)
    ]
    if e["method"] == "POST" and e["status"] == 200 and e.get("taskId"):
        extras.insert(0, e["taskId"])
    if e.get("error"):
        extras.append(repr(e["error"] if len(e["error"]) <= 80 else e["error"][:77] + "..."))
    return f"#{e['id']:<3} {offset:>10} {e['method']:<4} {target} -> {status}" + (
        f"  ({', '.join(extras)})" if extras else ""
    )


def _all_dialects() -> list[str]:
    from mockserver.dialects import builtin

    return list(builtin())


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# -- serving a bundle ----------------------------------------------------------------


def replay_app(bundle: Mapping[str, Any], **settings: Any) -> ReplayApp:
    """An app serving the bundle's scenario; ``settings`` are more Settings fields (admin_token...)."""
    from mockserver.http.app import create_app

    # The bundle shows keys masked: its accounts are taken over by the keys the client replays with.
    settings.setdefault("claim_masked_keys", True)
    if bundle.get("dialects") is not None:
        settings.setdefault("dialects", list(bundle["dialects"]))
    app = create_app(scenario=bundle["scenario"], **settings)
    times = {
        e["arrival"]: e["time"] for e in bundle["journal"] if isinstance(e.get("arrival"), int) and e["arrival"] > 0
    }
    return ReplayApp(app, times)


class ReplayApp:
    """The mock's app, with a manual clock that follows the bundle's journal.

    When the client's n-th request arrives, the clock first moves (never back) to the
    time the n-th request had in the bundle, and the callbacks due by then are attempted.
    A reset starts the tape again (the journal's numbering starts again too).
    """

    def __init__(self, app: Any, times: Mapping[int, int]) -> None:
        self.app = app
        self.times = dict(times)

    @property
    def state(self) -> Any:
        return self.app.state

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        from mockserver.http.journaling import journaled

        if scope["type"] == "http" and journaled(scope["path"]):
            mock = self.app.state.mock
            when = self.times.get(mock.journal.arrivals + 1)
            if when is not None and mock.clock.mode == "manual" and when > mock.now():
                await mock.callbacks.advance_to(when)
        await self.app(scope, receive, send)
