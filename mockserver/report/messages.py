"""The text of each finding: what the client did, what the provider recommends, and where.

A message is built when the report is asked for, from the finding's counts and facts, so
a finding that keeps growing during a run never stores more than its first few examples.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mockserver.core.catalog import Model
from mockserver.core.tasks import SUCCESS, TERMINAL, Task
from mockserver.report.checks import (
    BACKOFF_CAP_MS,
    BACKOFF_FACTOR,
    BEST_PRACTICES,
    CALLBACK_DOCS,
    ERRORS_PAGE,
    KIND_GUIDANCE,
    KIND_LABEL,
)

if TYPE_CHECKING:
    from mockserver.report.tracker import Chain, Finding, Track


@dataclass(slots=True)
class Context:
    """What a message may need beyond the finding: its task as tracked, the model, the task."""

    track: Track | None
    model: Model | None
    task: Task | None
    ttl_ms: int


def message(f: Finding, ctx: Context) -> str:
    return MESSAGES[f.code](f, ctx)


def _clock(ms: int) -> str:
    """A virtual time as it appears in messages: UTC time of day, to the millisecond."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%H:%M:%S.%f")[:-3]


def _dur(ms: float) -> str:
    for unit, size in (("days", 86_400_000), ("h", 3_600_000), ("min", 60_000)):
        if ms >= size and ms % size == 0:
            n = int(ms // size)
            return f"{n} {'day' if unit == 'days' and n == 1 else unit}"
    text = f"{ms / 1000:.3f}".rstrip("0").rstrip(".")
    return f"{text} s"


def _plus(ms: float) -> str:
    return "+" + _dur(ms)


def _listing(items: list[str], total: int) -> str:
    text = ", ".join(items)
    return text + (f" (and {total - len(items)} more)" if total > len(items) else "")


def _span(first: int, last: int) -> str:
    return _clock(first) + (f" to {_clock(last)}" if last != first else "")


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _poll_guidance(model: Model) -> str:
    """Where this model's initial wait / interval / max wait come from."""
    label = KIND_LABEL.get(model.kind, model.kind)
    ours = (model.initial_wait_ms, model.poll_interval_ms, model.max_wait_ms)
    if KIND_GUIDANCE.get(model.kind) == ours:
        return f'{BEST_PRACTICES}, "Recommended Intervals", {label}'
    where = "the model catalog (mockserver/models.yaml, from the model's page)"
    return f"the {model.name} guidance in {where}"


def _task_words(f: Finding, ctx: Context) -> tuple[Track | None, Model | None, str]:
    track, model = ctx.track, ctx.model
    if track is None:
        return None, None, f"Task {f.task_id}"
    kind = f", {KIND_LABEL.get(model.kind, model.kind).lower()}" if model is not None else ""
    at = _clock(track.submitted)
    return track, model, f"Task {track.task_id} ({track.model}{kind}, submitted at {at})"


def _missing_auth(f: Finding, ctx: Context) -> str:
    facts = f.facts
    if facts["reason"] == "missing":
        what = "had no usable 'Authorization: Bearer KEY' header"
    else:
        what = f"used the API key {f.key!r}, which this server does not accept"
    was = "was" if f.count == 1 else "were"
    return " ".join(
        (
            f"{plural(f.count, 'API request')} ({', '.join(facts['requests'])}) {what}",
            f"and {was} answered 401, at {_span(facts['first'], facts['last'])}.",
            "Send the key on every API call.",
            f'{ERRORS_PAGE}, "Common error cases": 401 means a wrong or missing API key;',
            "check 'Authorization: Bearer sk_...'.",
        )
    )


def _invalid_request(f: Finding, ctx: Context) -> str:
    facts = f.facts
    schema = ""
    if facts.get("model") and facts["request"].startswith("POST"):
        schema = f" against /schemas/models/{facts['model']}.json"
    was = "was" if f.count == 1 else "were"
    return " ".join(
        (
            f"{plural(f.count, 'request')} {facts['request']} {was} refused with",
            f"{facts['status']}: {facts['error'] or 'invalid request'}",
            f"(at {_span(facts['first'], facts['last'])}).",
            f"Check the request{schema} before sending it.",
            f"{ERRORS_PAGE}: 400 means an invalid body, a missing required field or malformed",
            "parameters, and is not worth retrying until the request is fixed.",
        )
    )


def _poll_too_fast(f: Finding, ctx: Context) -> str:
    track, model, task = _task_words(f, ctx)
    assert track is not None and model is not None
    at = [_plus(t - track.submitted) for t in f.times]
    interval = _dur(model.poll_interval_ms)
    return " ".join(
        (
            f"{task}: {plural(f.count, 'status poll')} came less than {interval}",
            f"after the previous answered poll (shortest gap {_dur(f.facts['min_gap'])};",
            f"polls at {_listing(at, f.count)} after the submit).",
            f"{_poll_guidance(model)}: poll every {interval},",
            f"backing off x{BACKOFF_FACTOR:g} up to {_dur(BACKOFF_CAP_MS)}",
            f'({BEST_PRACTICES}, "Exponential Backoff").',
        )
    )


def _poll_before_initial_wait(f: Finding, ctx: Context) -> str:
    track, model, task = _task_words(f, ctx)
    assert track is not None and model is not None
    at = [_plus(t - track.submitted) for t in f.times]
    wait = _dur(model.initial_wait_ms)
    return " ".join(
        (
            f"{task}: {plural(f.count, 'status poll')} before the initial wait of {wait}",
            f"(at {_listing(at, f.count)} after the submit).",
            f"{_poll_guidance(model)}: wait {wait} after submitting before the first poll.",
        )
    )


def _ignored_retry_after(f: Finding, ctx: Context) -> str:
    facts = f.facts
    early = [f"{req} {_dur(delta)} later" for req, delta in facts.get("early", [])]
    seconds = f"{facts['seconds']:g} s"
    return " ".join(
        (
            f"{facts['request']} was answered 429 with Retry-After {seconds}",
            f"at {_clock(facts['time'])}; the key then sent {plural(f.count, 'request')}",
            f"before it elapsed: {_listing(early, f.count)}.",
            f'{ERRORS_PAGE}, "Common error cases": on 429 back off and use retryAfter;',
            f"wait at least {seconds} before the next request with this key.",
        )
    )


def _retried_non_retryable(f: Finding, ctx: Context) -> str:
    facts = f.facts
    again = [_plus(t - facts["time"]) for t in f.times[1:]]
    error = f" ({facts['error']})" if facts.get("error") else ""
    answers = ", ".join(str(s) for s in sorted(facts["statuses"]))
    return " ".join(
        (
            f"{facts['request']} was answered {facts['status']}{error}",
            f"at {_clock(facts['time'])}, then sent again unchanged {plural(f.count, 'time')}",
            f"(at {_listing(again, f.count)}; answered {answers}).",
            f"{ERRORS_PAGE}, best practices 3: do not retry 400, 401, 402, 404 without",
            "fixing the request or account; retry only 429, 500, 502, 503.",
        )
    )


def _no_backoff(f: Finding, ctx: Context) -> str:
    chain: Chain = f.facts["chain"]
    statuses = ", ".join(str(s) for s in chain.statuses)
    gaps = _listing([_dur(g) for g in chain.gaps], chain.retries)
    return " ".join(
        (
            f"{f.facts['request']} was answered {statuses} from {_clock(chain.first_time)}",
            f"and retried {plural(chain.retries, 'time')} with gaps {gaps}:",
            f"{plural(f.count, 'gap')} did not grow.",
            f"{ERRORS_PAGE}: retry 429, 500, 502, 503 with exponential backoff,",
            f'using retryAfter when present; {BEST_PRACTICES}, "Exponential Backoff":',
            f"multiply the wait by {BACKOFF_FACTOR:g} up to {_dur(BACKOFF_CAP_MS)}.",
        )
    )


def _polled_after_terminal(f: Finding, ctx: Context) -> str:
    track, _model, task = _task_words(f, ctx)
    assert track is not None and track.terminal_time is not None
    at = [_plus(t - track.submitted) for t in f.times]
    return " ".join(
        (
            f"{task}: a status poll at {_plus(track.terminal_time - track.submitted)}",
            f"after the submit answered state {track.terminal},",
            f"then {plural(f.count, 'more poll')} followed (at {_listing(at, f.count)}).",
            f"{BEST_PRACTICES}, pollWithBackoff: stop polling once state is success",
            "(read resultJson) or failed (read failCode).",
        )
    )


def _results_not_downloaded(f: Finding, ctx: Context) -> str:
    track, _model, task = _task_words(f, ctx)
    assert track is not None
    facts = f.facts
    ttl = ctx.ttl_ms
    expires = facts["complete"] + ttl if facts["complete"] is not None else None
    if track.terminal == SUCCESS and track.terminal_time is not None:
        how = f"a poll at {_plus(track.terminal_time - track.submitted)} answered success"
    else:
        how = "its success callback was acknowledged"
    if expires is not None and facts["now"] >= expires:
        deadline = f"before they expired at {_clock(expires)} ({_dur(ttl)} after completion)"
    else:
        deadline = f"before this report at {_clock(facts['now'])}"
    failed = ""
    if track.failed_downloads:
        tries = [f"{path} -> {status} at {_clock(t)}" for _id, t, path, status in track.failed_downloads]
        failed = f" Download attempts that failed: {', '.join(tries)}."
    return " ".join(
        (
            f"{task}: {how} with {plural(facts['outputs'], 'result file')} in resultJson,",
            f"but none was fetched {deadline}.{failed}",
            f'{BEST_PRACTICES}, "Download Results Promptly": fetch every resultUrl right away',
            "and keep your own copy; result URLs expire (the provider's pages say after 24 h",
            f"or 15 days; this server: {_dur(ttl)}).",
        )
    )


def _submit_retry_without_idempotency_key(f: Finding, ctx: Context) -> str:
    facts = f.facts
    again = [_plus(t - facts["time"]) for t in f.times[1:]]
    answer = "got no answer" if facts["status"] == 0 else f"was answered {facts['status']}"
    if facts.get("changed_key"):
        which = f"with an Idempotency-Key other than the first attempt's ({facts['first_idem']!r})"
    else:
        which = "without an Idempotency-Key"
    return " ".join(
        (
            f"{facts['request']} {answer} at {_clock(facts['time'])} and the same body",
            f"was submitted again {which} {plural(f.count, 'time')}",
            f"(at {_listing(again, f.count)}). If the first attempt did create a task,",
            "each retry creates and charges another. Send the same 'Idempotency-Key' header",
            "on every attempt of one submit (this server honours it).",
            f"{ERRORS_PAGE}, best practices 4: use idempotency keys to avoid duplicate",
            "charges on retry.",
        )
    )


def _abandoned_task(f: Finding, ctx: Context) -> str:
    track, model, task = _task_words(f, ctx)
    assert track is not None and model is not None
    facts = f.facts
    if facts.get("callback"):
        return " ".join(
            (
                f"{task}: a callback task whose every delivery failed, and the client never",
                f"polled it to a terminal state either, so its outcome ({facts['state']})",
                f"never reached the client. {CALLBACK_DOCS}: the callback_url must answer 200;",
                "poll the status as a fallback when callbacks fail.",
            )
        )
    if track.last_request is None:
        last = "was never polled"
    else:
        seen = f" (answered {track.last_state})" if track.last_state else ""
        at = _plus(track.last_request - track.submitted)
        last = f"was last polled at {at}{seen}, then no more"
    if facts["state"] in TERMINAL and facts["complete"] is not None:
        at = _plus(facts["complete"] - track.submitted)
        end = f"it ended {facts['state']} at {at} and the client never saw it"
    else:
        end = f"it is still {facts['state']}"
    return " ".join(
        (
            f"{task}: {last}; {end}.",
            f"{_poll_guidance(model)}: keep polling every {_dur(model.poll_interval_ms)}",
            f"until success or failed, for up to {_dur(model.max_wait_ms)} (max wait);",
            "or use callback mode.",
        )
    )


def _callback_not_acknowledged(f: Finding, ctx: Context) -> str:
    task = ctx.task
    url = f" at {task.callback_url}" if task is not None and task.callback_url else ""
    tries = []
    for attempt, time, status, error in f.facts.get("attempts", []):
        answer = f"answered {status}" if status is not None else "no answer"
        if error:
            answer += f" ({error})"
        tries.append(f"attempt {attempt} at {_clock(time)}: {answer}")
    return " ".join(
        (
            f"Task {f.task_id}: the callback receiver{url} did not acknowledge",
            f"{plural(f.count, 'delivery attempt')}: {_listing(tries, f.count)}.",
            f"{CALLBACK_DOCS}: the callback_url must answer HTTP 200 within 30 s; otherwise",
            "the delivery is retried up to 3 times and then dropped.",
            "Answer 200 first, then process the body.",
        )
    )


MESSAGES: dict[str, Callable[[Finding, Context], str]] = {
    "TASK_WORDS": _task_words,
    "MISSING_AUTH": _missing_auth,
    "INVALID_REQUEST": _invalid_request,
    "POLL_TOO_FAST": _poll_too_fast,
    "POLL_BEFORE_INITIAL_WAIT": _poll_before_initial_wait,
    "IGNORED_RETRY_AFTER": _ignored_retry_after,
    "RETRIED_NON_RETRYABLE": _retried_non_retryable,
    "NO_BACKOFF": _no_backoff,
    "POLLED_AFTER_TERMINAL": _polled_after_terminal,
    "RESULTS_NOT_DOWNLOADED": _results_not_downloaded,
    "SUBMIT_RETRY_WITHOUT_IDEMPOTENCY_KEY": _submit_retry_without_idempotency_key,
    "ABANDONED_TASK": _abandoned_task,
    "CALLBACK_NOT_ACKNOWLEDGED": _callback_not_acknowledged,
}
