"""Test toolkit: ``MockApi`` (one handle on a mock, in memory or over HTTP), the pytest plugin,
Hypothesis strategies and replay bundles.

Names are imported on first use: the pytest plugin lives in this package and must load light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["DEFAULT_KEY", "IN_PROCESS_URL", "MockApi", "curl_for"]

if TYPE_CHECKING:  # pragma: no cover
    from mockserver.testing.mock_api import DEFAULT_KEY, IN_PROCESS_URL, MockApi, curl_for


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'mockserver.testing' has no attribute {name!r}")
    from mockserver.testing import mock_api

    value = getattr(mock_api, name)
    globals()[name] = value
    return value
