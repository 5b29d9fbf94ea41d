"""Hypothesis strategies for APIXO's envelopes (transitional: mockserver.testing.strategies)."""

from __future__ import annotations

from typing import Any


def status_envelopes(model: str | None = None) -> Any:
    from mockserver.testing.strategies import status_envelopes as envelopes

    return envelopes(model=model)
