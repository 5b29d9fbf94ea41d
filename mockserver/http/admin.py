"""Thin Starlette handlers for the control surface under /__admin/."""

from __future__ import annotations

import copy
import hmac
import re
from typing import cast

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from mockserver.callbacks.dispatcher import CallbackDispatcher
from mockserver.core import control
from mockserver.core import tasks as t
from mockserver.core.errors import BadRequest, Forbidden, NotFound, Unauthorized, error_for_status
from mockserver.core.redact import mask_key
from mockserver.core.service import MockService
from mockserver.http import ui
from mockserver.http.events import EventHub
from mockserver.http.provider import json_response, mock_of
from mockserver.http.requests import bearer_key, parse_json, read_body
from mockserver.report import ALL_KEYS
from mockserver.scenarios.loading import ScenarioError, parse_text

PREFIX = "/__admin"
MAX_YAML_BODY_BYTES = 64 * 1024  # a scenario sent as YAML; the library's are under 2 KB, JSON may be larger
_FAIL_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


def check_admin(request: Request, mock: MockService) -> None:
    """With --admin-token, /__admin answers only to that token (Bearer or X-Admin-Token)."""
    token = mock.settings.admin_token
    if not token:
        return
    given = request.headers.get("x-admin-token")
    if given is None:
        given = bearer_key(request.headers.get("authorization")) or ""
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise Unauthorized("Admin token required", error="Send 'Authorization: Bearer ADMIN_TOKEN' to /__admin")


async def _body(request: Request, mock: MockService) -> dict:
    """An optional JSON object body (empty body = {})."""
    raw = await _raw_body(request, mock)
    if not raw.strip():
        return {}
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise BadRequest("Invalid request", error="Admin request body must be a JSON object")
    return body


def _callbacks(mock: MockService) -> CallbackDispatcher:
    """The dispatcher create_app attached to the service (the admin API drives it)."""
    return cast(CallbackDispatcher, mock.callbacks)


async def _raw_body(request: Request, mock: MockService) -> bytes:
    """The body, streamed with the same bounds as the provider API's (413 past max_body_bytes, 408)."""
    return await read_body(request, mock.settings.max_body_bytes, mock.settings.body_timeout_s)


def _admin(handler):
    async def wrapped(request: Request) -> Response:
        mock = mock_of(request)
        check_admin(request, mock)
        return await handler(request, mock)

    wrapped.__name__ = handler.__name__
    return wrapped


def _reveal(request: Request, mock: MockService) -> bool:
    """``?reveal=true``: show API keys whole. Only a server with an admin token (which this
    request has passed) does; without one, every reader of /__admin would see them."""
    if request.query_params.get("reveal", "").lower() not in ("1", "true", "yes"):
        return False
    if not mock.settings.admin_token:
        raise Forbidden(
            "Keys are shown masked",
            error="reveal=true needs a server started with an admin token (--admin-token or MOCKSERVER_ADMIN_TOKEN)",
        )
    return True


def _shown(key: str | None, reveal: bool) -> str | None:
    return key if reveal else mask_key(key)


def _shown_scenario(doc: dict, reveal: bool) -> dict:
    """A scenario document as the admin API shows it: secrets never, keys masked unless revealed."""
    doc = copy.deepcopy(doc)
    if isinstance(doc.get("callbacks"), dict) and doc["callbacks"].get("secret") is not None:
        doc["callbacks"]["secret"] = None  # never returned; a replay is signed again with --webhook-secret
    if not reveal:
        for account in doc.get("accounts", []):
            account["key"] = mask_key(account["key"])
        for rule in doc.get("rules", []):
            when = rule.get("when")
            if isinstance(when, dict) and isinstance(when.get("key"), str):
                when["key"] = mask_key(when["key"])
    return doc


def _shown_report(report: dict, reveal: bool) -> dict:
    if reveal:
        return report
    for finding in report["findings"]:
        finding["key"] = mask_key(finding["key"])
    summary = report["summary"]
    summary["key"] = mask_key(summary["key"])
    for row in summary.get("keys", ()):
        row["key"] = mask_key(row["key"])
    return report


def _hub(request: Request) -> EventHub | None:
    return getattr(request.app.state, "events", None)


def _tell(request: Request, what: str) -> None:
    """Tell the event stream's subscribers what an admin call just did."""
    hub = _hub(request)
    if hub is not None:
        getattr(hub, what)()


@_admin
async def health(request: Request, mock: MockService) -> Response:
    return json_response(control.health(mock))


@_admin
async def reset(request: Request, mock: MockService) -> Response:
    answer = control.reset(mock)
    _tell(request, "sync")  # the new journal: its "reset" event
    return json_response(answer)


@_admin
async def clock(request: Request, mock: MockService) -> Response:
    return json_response(control.clock(mock))


@_admin
async def clock_advance(request: Request, mock: MockService) -> Response:
    body = await _body(request, mock)
    answer = await control.advance(mock, body, reveal=_reveal(request, mock))
    _tell(request, "clock_moved")
    return json_response(answer)


def _task_info(mock: MockService, task, reveal: bool) -> dict:
    info = mock.describe_task(task)
    info["key"] = _shown(info["key"], reveal)
    return info


def _task(mock: MockService, task_id: str):
    return control.find_task(mock, task_id)


@_admin
async def list_tasks(request: Request, mock: MockService) -> Response:
    return json_response(control.tasks(mock, request.query_params, reveal=_reveal(request, mock)))


@_admin
async def get_task(request: Request, mock: MockService) -> Response:
    return json_response(_task_info(mock, _task(mock, request.path_params["task_id"]), _reveal(request, mock)))


@_admin
async def task_timeline(request: Request, mock: MockService) -> Response:
    return json_response(control.timeline(mock, request.path_params["task_id"], reveal=_reveal(request, mock)))


@_admin
async def all_timelines(request: Request, mock: MockService) -> Response:
    return json_response(control.timelines(mock, reveal=_reveal(request, mock)))


@_admin
async def complete_task(request: Request, mock: MockService) -> Response:
    task = _task(mock, request.path_params["task_id"])
    mock.force(task, t.SUCCESS)
    await _callbacks(mock).run_due()  # a callback task's delivery is attempted before we answer
    _tell(request, "sync")
    return json_response(_task_info(mock, task, _reveal(request, mock)))


@_admin
async def fail_task(request: Request, mock: MockService) -> Response:
    task = _task(mock, request.path_params["task_id"])
    body = await _body(request, mock)
    code = body.get("code", "GENERATION_FAILED")
    if not isinstance(code, str) or not _FAIL_CODE.match(code):
        raise BadRequest("Invalid request", error=f"Invalid value for code: {code!r} (e.g. 'CONTENT_VIOLATION')")
    message = body.get("message")
    if message is not None and not isinstance(message, str):
        raise BadRequest("Invalid request", error="Invalid type for message: expected string")
    mock.force(task, t.FAILED, code, message)
    await _callbacks(mock).run_due()
    _tell(request, "sync")
    return json_response(_task_info(mock, task, _reveal(request, mock)))


@_admin
async def list_accounts(request: Request, mock: MockService) -> Response:
    reveal = _reveal(request, mock)
    accounts = [{**mock.accounts.describe(k), "key": _shown(k, reveal)} for k in mock.accounts.keys()]
    return json_response({"restricted": mock.accounts.restricted, "accounts": accounts})


@_admin
async def account(request: Request, mock: MockService) -> Response:
    key = request.path_params["key"]
    if request.method == "PUT":
        body = await _body(request, mock)
        if "balance" not in body:
            raise BadRequest("Invalid request", error="Missing required field: balance (a number >= 0, or null)")
        balance = body["balance"]
        if balance is not None and (
            isinstance(balance, bool) or not isinstance(balance, int | float) or not 0 <= balance < 1e15
        ):
            raise BadRequest(
                "Invalid request", error=f"Invalid value for balance: {balance!r} (a number >= 0, or null)"
            )
        mock.accounts.set_balance(key, balance)
    elif mock.accounts.find(key) is None:
        raise NotFound(f"Account not found: {key}", error=f"No account '{key}'")
    else:
        mock.balance(key)  # settle refunds first
    return json_response({**mock.accounts.describe(key), "key": _shown(key, _reveal(request, mock))})


def _paging(request: Request) -> tuple[int, int | None]:
    """?since=ID&limit=N of the journal-like logs."""
    q = request.query_params
    try:
        return int(q.get("since", "0")), (int(q["limit"]) if "limit" in q else None)
    except ValueError:
        raise BadRequest("Invalid request", error="since and limit must be integers") from None


@_admin
async def journal(request: Request, mock: MockService) -> Response:
    since, limit = _paging(request)
    return json_response(control.journal(mock, since, limit, reveal=_reveal(request, mock)))


@_admin
async def callbacks(request: Request, mock: MockService) -> Response:
    since, limit = _paging(request)
    task_id = request.query_params.get("taskId") or None
    dispatcher = cast(CallbackDispatcher, mock.callbacks)
    log = dispatcher.log
    pending = [p for p in dispatcher.pending() if task_id is None or p["taskId"] == task_id]
    return json_response(
        {
            "config": mock.callback_config.to_dict(),
            "size": log.size,
            "dropped": log.dropped,
            "attempts": [a.to_dict() for a in log.entries(since, limit, task_id)],
            "pending": pending,
        },
    )


@_admin
async def report(request: Request, mock: MockService) -> Response:
    """The client conformance report: ``?key=K`` for one key, ``?key=`` for keyless requests."""
    q = request.query_params
    key = (q["key"] or None) if "key" in q else ALL_KEYS
    return json_response(_shown_report(mock.conformance_report(key), _reveal(request, mock)))


@_admin
async def get_scenario(request: Request, mock: MockService) -> Response:
    """The running scenario; ``?resolved=true`` writes in the settings it relies on (seed, clock...)."""
    resolved = request.query_params.get("resolved", "").lower() in ("1", "true", "yes")
    doc = mock.resolved_scenario() if resolved else mock.scenario_document()
    return json_response(_shown_scenario(doc, _reveal(request, mock)))


@_admin
async def put_scenario(request: Request, mock: MockService) -> Response:
    """Replace the scenario (JSON or YAML body, or ?name= from the library) and reset everything."""
    name = request.query_params.get("name")
    raw, yaml_body = b"", False
    if name is None:
        yaml_body = "yaml" in request.headers.get("content-type", "")
        # PyYAML is pure Python (~1 s per 64 KiB on a busy CI box): YAML bodies get a smaller bound.
        limit = min(MAX_YAML_BODY_BYTES, mock.settings.max_body_bytes) if yaml_body else mock.settings.max_body_bytes
        raw = await read_body(request, limit, mock.settings.body_timeout_s)
    # Parsing a large document takes a while: not on the event loop, which serves the API.
    source = await run_in_threadpool(control.scenario_source, name, raw, yaml_body, mock)
    doc = control.load_scenario(mock, source)
    _tell(request, "scenario_loaded")
    return json_response(_shown_scenario(doc, _reveal(request, mock)))


@_admin
async def list_rules(request: Request, mock: MockService) -> Response:
    rules = mock.rules.describe()
    shown = _shown_scenario({"rules": [r["rule"] for r in rules]}, _reveal(request, mock))["rules"]
    return json_response({"rules": [{**r, "rule": doc} for r, doc in zip(rules, shown, strict=True)]})


@_admin
async def add_rule(request: Request, mock: MockService) -> Response:
    """Append one rule to the running scenario; it lasts until the next reset."""
    raw = await _raw_body(request, mock)
    try:
        rule = parse_text(control.body_text(raw), json_only=True)
        index = mock.add_rule(rule)
    except ScenarioError as exc:
        raise BadRequest("Invalid rule", error=str(exc)) from None
    return json_response({"index": index, "rule": mock.rules.describe()[index]["rule"]})


@_admin
async def events(request: Request, mock: MockService) -> Response:
    """The live event stream (text/event-stream; see http/events.py)."""
    reveal = _reveal(request, mock)
    hub = _hub(request)
    sub = hub.subscribe(reveal) if hub is not None else None
    if hub is None or sub is None:
        raise error_for_status(503, "Too many event streams", error="Too many subscribers to /__admin/events")
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(hub.stream(sub), media_type="text/event-stream", headers=headers)


# (method, path under /__admin, handler): the routes, and what near-miss 404s suggest.
_TABLE = (
    ("GET", "/health", health),
    ("POST", "/reset", reset),
    ("GET", "/clock", clock),
    ("POST", "/clock/advance", clock_advance),
    ("GET", "/tasks", list_tasks),
    ("GET", "/tasks/{task_id}", get_task),
    ("GET", "/tasks/{task_id}/timeline", task_timeline),
    ("GET", "/timelines", all_timelines),
    ("POST", "/tasks/{task_id}/complete", complete_task),
    ("POST", "/tasks/{task_id}/fail", fail_task),
    ("GET", "/accounts", list_accounts),
    ("GET", "/accounts/{key}", account),
    ("PUT", "/accounts/{key}", account),
    ("GET", "/journal", journal),
    ("GET", "/events", events),
    ("GET", "/callbacks", callbacks),
    ("GET", "/report", report),
    ("GET", "/scenario", get_scenario),
    ("PUT", "/scenario", put_scenario),
    ("GET", "/rules", list_rules),
    ("POST", "/rules", add_rule),
)

ADMIN_ENDPOINTS: tuple[tuple[str, str], ...] = tuple((method, PREFIX + path) for method, path, _ in _TABLE)


def routes() -> list[Route]:
    return [Route(PREFIX + path, handler, methods=[method]) for method, path, handler in _TABLE] + ui.routes(PREFIX)
