"""Hypothesis strategies for 123API's bodies: submit bodies and task answers (SPEC 9).

``mockserver.strategies`` reaches these through the dialect (``API123.submit_bodies``,
``API123.status_envelopes``). A 123API model's schema (``schemas/123api/models/NAME.json``) is
the whole submit body, ``model`` included, so the "inputs" handed in are already bodies: a valid
body is one of them as it is. A status envelope is a drawn ``TaskView`` spelt by the dialect's
own ``status_body``, so it is exactly what the mock sends for such a task. Nothing here
validates per draw.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from mockserver.core.words import FAIL_MESSAGES, FAILED, STATES, SUCCESS, TaskView
from mockserver.dialects.api123.wire import API123

if TYPE_CHECKING:  # pragma: no cover
    from mockserver.core.catalog import Model

__all__ = ["status_envelopes", "submit_bodies"]

_HEX8 = st.text(alphabet="0123456789abcdef", min_size=8, max_size=8)
_TASK_IDS = st.builds(lambda a, b: f"task-{a}-{b}", _HEX8, _HEX8)  # as new_task_id spells them
_CREATED = st.integers(1_600_000_000_000, 2_000_000_000_000)
_DURATIONS = st.integers(0, 600_000)  # ms from creation to the end
_FAIL_CODES = st.sampled_from(sorted(FAIL_MESSAGES))
# Result URLs as 123API's storage hands them out: any https link, not only the mock's /v1/files/.
_RESULT_URLS = st.builds(
    lambda host, name, ext: f"https://{host}.example.com/{name}.{ext}",
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=10),
    st.sampled_from(["png", "jpg", "webp", "mp4"]),
)
# What 123API refuses with 400 around a good body: a field asking for a callback (it documents
# none), a field no model takes (every model schema is closed), a model that is not a string.
_HOOK = "https://example.com/hook"
_BROKEN_ADDITIONS = (
    {"callback_url": _HOOK},
    {"webhook_url": _HOOK},
    {"request_type": "callback", "callback_url": _HOOK},
    {"request_type": "async"},
    {"unknownField": True},
    {"model": 123},
    {"model": ["gpt-4o-image"]},
    {"model": None},
)


def submit_bodies(
    model: Model,
    inputs: st.SearchStrategy[object],
    *,
    valid: bool = True,
    invalid_inputs: st.SearchStrategy[object] | None = None,
) -> st.SearchStrategy[dict]:
    """Submit bodies for ``model``: one of ``inputs`` (drawn from the model's schema, which is the
    whole body), naming ``model`` whatever the input said.

    ``valid=False``: bodies the mock refuses with 400 on the model's route: one of
    ``invalid_inputs`` (when given) as it is, one of ``inputs`` with a callback field, an unknown
    field or a model that is not a string, or a body with no prompt or no model at all.
    """
    named = inputs.map(lambda body: _naming(body, model.name))
    if valid:
        return named
    bad = [invalid_inputs] if invalid_inputs is not None else []
    broken = st.builds(_with, named, st.sampled_from(_BROKEN_ADDITIONS))
    empty = st.sampled_from([{}, {"model": model.name}, {"prompt": "a red fox"}])
    return st.one_of(*bad, broken, empty)


def _naming(body: object, name: str) -> dict:
    return {**body, "model": name} if isinstance(body, dict) else {"model": name}


def _with(body: dict, addition: dict) -> dict:
    return {**body, **addition}


def status_envelopes(model: str | None = None, *, state: str | None = None) -> st.SearchStrategy[dict]:
    """Task answers (``GET /v1/tasks/{task_id}``) as 123API sends them, in ``state`` (a core state:
    pending, processing, success, failed; None: any), naming ``model`` (None: one of 123API's)."""
    if state is not None and state not in STATES:
        raise InvalidArgument(f"state={state!r} is not one of {', '.join(STATES)}")
    if model is not None and (not isinstance(model, str) or not model):
        raise InvalidArgument(f"model must be a model name, got {model!r}")
    names = st.just(model) if model is not None else st.sampled_from(API123.catalog().names())
    views = [_views(s, names) for s in ([state] if state else STATES)]
    return st.one_of(views).map(API123.status_body)


def _views(state: str, names: st.SearchStrategy[str]) -> st.SearchStrategy[TaskView]:
    """Task views in ``state``, with the fields that state shows (the dialect spells them)."""
    end: st.SearchStrategy[tuple[Any, ...]]
    if state == SUCCESS:
        end = st.tuples(_DURATIONS, st.lists(_RESULT_URLS, min_size=1, max_size=4).map(tuple), st.none())
    elif state == FAILED:
        end = st.tuples(_DURATIONS, st.just(()), _FAIL_CODES)
    else:
        end = st.just((None, (), None))

    def view(task_id: str, model: str, created_ms: int, end: tuple) -> TaskView:
        took, urls, code = end
        complete = None if took is None else created_ms + took
        return TaskView(task_id, model, state, created_ms, complete, urls, code)

    return st.builds(view, _TASK_IDS, names, _CREATED, end)
