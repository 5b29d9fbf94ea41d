"""The text of each finding: what the client did, what the provider recommends, and where.

A message is built when the report is asked for, from the finding's counts and facts, so
a finding that keeps growing during a run never stores more than its first few examples.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mockserver.core.catalog import Model
from mockserver.core.tasks import FAILED, SUCCESS, TERMINAL, Task
from mockserver.report.checks import CAP_SHARE, ENVELOPE_SHARE, KIND_LABEL, cite, word
from mockserver.report.checks import duration as _dur

if TYPE_CHECKING:
    from mockserver.dialects.protocol import Dialect
    from mockserver.report.tracker import Chain, Finding, Track


@dataclass(slots=True)
class Context:
    """What a message may need beyond the finding: its task as tracked, the model, the task, and
    the dialect whose guidance it cites (the task's, or the judged request's)."""

    track: Track | None
    model: Model | None
    task: Task | None
    ttl_ms: int
    dialect: Dialect


def message(f: Finding, ctx: Context) -> str:
    return MESSAGES[f.code](f, ctx)


def _clock(ms: int) -> str:
    """A virtual time as it appears in messages: UTC time of day, to the millisecond."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%H:%M:%S.%f")[:-3]


def _plus(ms: float) -> str:
    return "+" + _dur(ms)


def _listing(items: list[str], total: int) -> str:
    text = ", ".join(items)
    return text + (f" (and {total - len(items)} more)" if total > len(items) else "")


def _span(first: int, last: int) -> str:
    return _clock(first) + (f" to {_clock(last)}" if last != first else "")


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _commas(statuses: Iterable[int]) -> str:
    return ", ".join(str(s) for s in sorted(statuses))


def _poll_guidance(model: Model, dialect: Dialect) -> str:
    """Where this model's initial wait / interval / max wait come from."""
    label = KIND_LABEL.get(model.kind, model.kind)
    ours = (model.initial_wait_ms, model.poll_interval_ms, model.max_wait_ms)
    if dialect.guidance.intervals.get(model.kind) == ours:
        return f"{cite(dialect, 'intervals')}, {label}"
    catalog = dialect.guidance.words.get("catalog", "mockserver/core/models.yaml")
    where = f"the model catalog ({catalog}, from the model's page) or the scenario's models"
    return f"the {model.name} guidance in {where}"


def _state(dialect: Dialect, state: str | None) -> str:
    """A core task state (pending, success...) in the provider's words (queued, completed...)."""
    return word(dialect, state) if state else "unknown"


def _terminal_words(dialect: Dialect) -> str:
    """``success or failed``, in the provider's words."""
    return f"{_state(dialect, SUCCESS)} or {_state(dialect, FAILED)}"


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
            f"{cite(ctx.dialect, 'error_cases')}: 401 means a wrong or missing API key;",
            "check 'Authorization: Bearer sk_...'.",
        )
    )


def _invalid_request(f: Finding, ctx: Context) -> str:
    facts = f.facts
    schema = ""
    if facts.get("model") and facts["request"].startswith("POST"):
        where = ctx.dialect.guidance.words.get("model_schema", "/schemas/models/{model}.json")
        schema = " against " + where.format(model=facts["model"])
    was = "was" if f.count == 1 else "were"
    return " ".join(
        (
            f"{plural(f.count, 'request')} {facts['request']} {was} refused with",
            f"{facts['status']}: {facts['error'] or 'invalid request'}",
            f"(at {_span(facts['first'], facts['last'])}).",
            f"Check the request{schema} before sending it.",
            f"{cite(ctx.dialect, 'errors')}: 400 means an invalid body, a missing required field or malformed",
            "parameters, and is not worth retrying until the request is fixed.",
        )
    )


def _poll_too_fast(f: Finding, ctx: Context) -> str:
    track, model, task = _task_words(f, ctx)
    assert track is not None and model is not None
    at = [_plus(t - track.submitted) for t in f.times]
    interval = _dur(model.poll_interval_ms)
    g = ctx.dialect.guidance
    dispute = f.facts.get("dispute")
    if dispute is not None:  # a warning: these polls kept the interval one page gives, not the other's
        return " ".join(
            (
                f"{task}: {plural(f.count, 'status poll')} came less than {interval}",
                f"after the previous answered poll, though at least {_dur(dispute.lenient)}",
                f"(shortest gap {_dur(f.facts['min_gap'])}; polls at {_listing(at, f.count)} after the submit).",
                f"The provider's pages disagree: {dispute.strict_source} says every {_dur(dispute.strict)};",
                f"{dispute.lenient_source} polls every {_dur(dispute.lenient)}.",
                f"A warning, not an error: poll every {_dur(dispute.strict)} to follow both.",
            )
        )
    if "steady_polling" in g.pages:  # the provider polls at one interval, without backoff
        how = f"poll every {interval} ({cite(ctx.dialect, 'steady_polling')})."
    else:
        how = f"poll every {interval}, backing off x{g.backoff_factor:g} up to {_dur(g.backoff_cap_ms)}"
        how += f" ({cite(ctx.dialect, 'backoff')})."
    return " ".join(
        (
            f"{task}: {plural(f.count, 'status poll')} came less than {interval}",
            f"after the previous answered poll (shortest gap {_dur(f.facts['min_gap'])};",
            f"polls at {_listing(at, f.count)} after the submit).",
            f"{_poll_guidance(model, ctx.dialect)}: {how}",
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
            f"{_poll_guidance(model, ctx.dialect)}: wait {wait} after submitting before the first poll.",
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
            f"{cite(ctx.dialect, 'error_cases')}: on 429 back off and use {word(ctx.dialect, 'retry_after')};",
            f"wait at least {seconds} before the next request with this key.",
        )
    )


def _retried_non_retryable(f: Finding, ctx: Context) -> str:
    facts = f.facts
    again = [_plus(t - facts["time"]) for t in f.times[1:]]
    error = f" ({facts['error']})" if facts.get("error") else ""
    answers = ", ".join(str(s) for s in sorted(facts["statuses"]))
    g = ctx.dialect.guidance
    return " ".join(
        (
            f"{facts['request']} was answered {facts['status']}{error}",
            f"at {_clock(facts['time'])}, then sent again unchanged {plural(f.count, 'time')}",
            f"(at {_listing(again, f.count)}; answered {answers}).",
            f"{cite(ctx.dialect, 'retries')}: do not retry {_commas(g.non_retryable)} without",
            f"fixing the request or account; retry only {_commas(g.retryable)}.",
        )
    )


def _no_backoff(f: Finding, ctx: Context) -> str:
    chain: Chain = f.facts["chain"]
    statuses = ", ".join(str(s) for s in chain.statuses)
    gaps = _listing([_dur(g) for g in chain.gaps], chain.retries)
    d = ctx.dialect
    g = d.guidance
    share = round(1 / ENVELOPE_SHARE)
    return " ".join(
        (
            f"{f.facts['request']} was answered {statuses} from {_clock(chain.first_time)}",
            f"and retried {plural(chain.retries, 'time')} with gaps {gaps}:",
            f"{plural(f.count, 'retry')} came while the longest wait ({_dur(f.facts['envelope'])} at the last)",
            f"was under 1/{share} of the time the waits added up to ({_dur(f.facts['elapsed'])}),",
            f"so the retries did not slow down (and no wait reached {_dur(g.backoff_cap_ms * CAP_SHARE)}).",
            f"{cite(d, 'errors')}: retry {_commas(g.retryable)} with exponential backoff,",
            f"using {word(d, 'retry_after')} when present; {cite(d, 'backoff')}:",
            f"multiply the wait by {g.backoff_factor:g} up to {_dur(g.backoff_cap_ms)} (jitter is fine).",
        )
    )


def _polled_after_terminal(f: Finding, ctx: Context) -> str:
    track, _model, task = _task_words(f, ctx)
    assert track is not None and track.terminal_time is not None
    at = [_plus(t - track.submitted) for t in f.times]
    d = ctx.dialect
    state = word(d, "state")
    return " ".join(
        (
            f"{task}: a status poll at {_plus(track.terminal_time - track.submitted)}",
            f"after the submit answered {state} {_state(d, track.terminal)},",
            f"then {plural(f.count, 'more poll')} followed (at {_listing(at, f.count)}).",
            f"{cite(d, 'poll_loop')}: stop polling once {state} is {_state(d, SUCCESS)}",
            f"(read {word(d, 'result')}) or {_state(d, FAILED)} (read {word(d, 'fail_code')}).",
        )
    )


def _results_not_downloaded(f: Finding, ctx: Context) -> str:
    track, _model, task = _task_words(f, ctx)
    assert track is not None
    facts = f.facts
    ttl = ctx.ttl_ms
    expires = facts["complete"] + ttl if facts["complete"] is not None else None
    if track.terminal == SUCCESS and track.terminal_time is not None:
        how = f"a poll at {_plus(track.terminal_time - track.submitted)} answered {_state(ctx.dialect, SUCCESS)}"
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
    d = ctx.dialect
    dispute = facts.get("dispute")
    if dispute is not None:  # fetched, but later than one page's lifetime (a warning)
        late = facts["late"] - facts["complete"]
        hours = f"{late / 3_600_000:.1f}".removesuffix(".0")
        return " ".join(
            (
                f"{task}: its results were first fetched {hours} h after it completed",
                f"(at {_clock(facts['late'])}), later than {_dur(dispute.strict)}.",
                f"The provider's pages disagree on how long result URLs live: {dispute.strict_source}",
                f"says {_dur(dispute.strict)}; {dispute.lenient_source} says {_dur(dispute.lenient)}.",
                f"A warning, not an error: fetch every {word(d, 'result_url')} within {_dur(dispute.strict)}",
                f"to follow both ({cite(d, 'downloads')}).",
            )
        )
    lifetime = d.guidance.result_lifetime
    said = f"the provider's pages say {lifetime}; " if lifetime else ""
    return " ".join(
        (
            f"{task}: {how} with {plural(facts['outputs'], 'result file')} in {word(d, 'result')},",
            f"but none was fetched {deadline}.{failed}",
            f"{cite(d, 'downloads')}: fetch every {word(d, 'result_url')} right away",
            f"and keep your own copy; result URLs expire ({said}this server: {_dur(ttl)}).",
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
            f"{cite(ctx.dialect, 'idempotency')}: use idempotency keys to avoid duplicate",
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
                f"never reached the client. {cite(ctx.dialect, 'callbacks')}: the",
                f"{word(ctx.dialect, 'callback_url')} must answer 200;",
                "poll the status as a fallback when callbacks fail.",
            )
        )
    d = ctx.dialect
    if track.last_request is None:
        last = "was never polled"
    else:
        seen = f" (answered {_state(d, track.last_state)})" if track.last_state else ""
        at = _plus(track.last_request - track.submitted)
        last = f"was last polled at {at}{seen}, then no more"
    if facts["state"] in TERMINAL and facts["complete"] is not None:
        at = _plus(facts["complete"] - track.submitted)
        end = f"it ended {_state(d, facts['state'])} at {at} and the client never saw it"
    else:
        end = f"it is still {_state(d, facts['state'])}"
    # Only where the provider has callbacks (its words name the callback field).
    callbacks = "; or use callback mode." if "callback_url" in d.guidance.words else "."
    return " ".join(
        (
            f"{task}: {last}; {end}.",
            f"{_poll_guidance(model, d)}: keep polling every {_dur(model.poll_interval_ms)}",
            f"until {_terminal_words(d)}, for up to {_dur(model.max_wait_ms)} (max wait){callbacks}",
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
            f"{cite(ctx.dialect, 'callbacks')}: the {word(ctx.dialect, 'callback_url')} must answer HTTP 200",
            "within 30 s; otherwise the delivery is retried up to 3 times and then dropped.",
            "Answer 200 first, then process the body.",
        )
    )


MESSAGES: dict[str, Callable[[Finding, Context], str]] = {
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
