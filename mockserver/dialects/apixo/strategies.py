"""Hypothesis strategies for APIXO's envelopes: submit bodies and status answers (SPEC 2).

``mockserver.strategies`` reaches these through the dialect (``APIXO.submit_bodies``,
``APIXO.status_envelopes``); the model's ``input`` objects are drawn there, from the model's
JSON Schema, and handed in. A status envelope is a drawn ``TaskView`` spelt by the dialect's own
``status_body``, so it is exactly what the mock sends for such a task. Nothing here validates
per draw.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from mockserver.core.words import FAIL_MESSAGES, FAILED, STATES, SUCCESS, TaskView
from mockserver.dialects.apixo.wire import APIXO, PROVIDERS

if TYPE_CHECKING:  # pragma: no cover
    from mockserver.core.catalog import Model

__all__ = ["status_envelopes", "submit_bodies"]

_TASK_IDS = st.text(alphabet="0123456789abcdef", min_size=16, max_size=16).map(lambda s: f"task_{s}")
_CREATED = st.integers(1_600_000_000_000, 2_000_000_000_000)
_DURATIONS = st.integers(0, 600_000)  # ms from creation to the end
_FAIL_CODES = st.sampled_from(sorted(FAIL_MESSAGES))
# Result URLs as a CDN hands them out: any https link, not only the mock's own /files/.
_RESULT_URLS = st.builds(
    lambda host, name, ext: f"https://{host}.example.com/{name}.{ext}",
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=10),
    st.sampled_from(["png", "jpg", "webp", "mp3", "mp4"]),
)
# Top levels APIXO refuses with 400 whatever the input: a bad request_type, a callback without a
# usable callback_url, an unknown provider, an unknown field.
_BROKEN_TOPS = (
    {"request_type": "sometimes"},
    {"request_type": "callback"},
    {"request_type": "callback", "callback_url": "ftp://example.com/hook"},
    {"provider": "cheapest"},
    {"unknownField": True},
)


def submit_bodies(
    model: Model,
    inputs: st.SearchStrategy[object],
    *,
    valid: bool = True,
    invalid_inputs: st.SearchStrategy[object] | None = None,
) -> st.SearchStrategy[dict]:
    """Submit bodies (``{"request_type", "provider", "input"}``) for ``model`` carrying one of ``inputs``.

    ``valid=False``: bodies the mock refuses with 400: one of ``invalid_inputs`` (when given) under
    a good top level, one of ``inputs`` under a broken one, or no ``input`` at all.
    """
    providers = ["official"] if model.official_only else list(PROVIDERS)
    # Callbacks stay out of valid bodies: a drawn callback_url would send the mock's
    # deliveries to a host nobody runs.
    top = st.fixed_dictionaries({}, optional={"request_type": st.just("async"), "provider": st.sampled_from(providers)})
    if valid:
        return st.builds(_with_input, top, inputs)
    bad = [st.builds(_with_input, top, invalid_inputs)] if invalid_inputs is not None else []
    broken_top = st.builds(_with_input, st.sampled_from(_BROKEN_TOPS), inputs)
    return st.one_of(*bad, broken_top, top)


def _with_input(top: dict, input: object) -> dict:
    return {**top, "input": input}


def status_envelopes(model: str | None = None, *, state: str | None = None) -> st.SearchStrategy[dict]:
    """Status answers as APIXO sends them, in ``state`` (None: any); APIXO's envelope does not name the model."""
    if state is not None and state not in STATES:
        raise InvalidArgument(f"state={state!r} is not one of {', '.join(STATES)}")
    views = [_views(s, model or "") for s in ([state] if state else STATES)]
    return st.one_of(views).map(APIXO.status_body)


def _views(state: str, model: str) -> st.SearchStrategy[TaskView]:
    """Task views in ``state``, with the fields that state shows (the dialect spells them)."""
    end: st.SearchStrategy[tuple[Any, ...]]
    if state == SUCCESS:
        end = st.tuples(_DURATIONS, st.lists(_RESULT_URLS, min_size=1, max_size=4).map(tuple), st.none())
    elif state == FAILED:
        end = st.tuples(_DURATIONS, st.just(()), _FAIL_CODES)
    else:
        end = st.just((None, (), None))

    def view(task_id: str, created_ms: int, end: tuple) -> TaskView:
        took, urls, code = end
        complete = None if took is None else created_ms + took
        return TaskView(task_id, model, state, created_ms, complete, urls, code)

    return st.builds(view, _TASK_IDS, _CREATED, end)
