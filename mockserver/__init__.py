"""mockserver: a stateful mock of async AI-generation APIs, and a contract-testing toolkit.

The public API is what ``__all__`` lists; the modules behind it are implementation.
Names are imported on first use, so ``import mockserver`` (and the pytest plugin, which
imports the package first) stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

# name -> module that defines it
_EXPORTS = {
    "ApiError": "core.errors",
    "MockApi": "testing.mock_api",
    "MockService": "core.service",
    "ScenarioError": "scenarios.loading",
    "ServerThread": "http.server",
    "Settings": "core.config",
    "create_app": "http.app",
    "curl_for": "testing.mock_api",
    "load_catalog": "core.catalog",
}

__all__ = [
    "ApiError",
    "MockApi",
    "MockService",
    "ScenarioError",
    "ServerThread",
    "Settings",
    "__version__",
    "create_app",
    "curl_for",
    "load_catalog",
]

if TYPE_CHECKING:  # pragma: no cover
    from mockserver.core.catalog import load_catalog
    from mockserver.core.config import Settings
    from mockserver.core.errors import ApiError
    from mockserver.core.service import MockService
    from mockserver.http.app import create_app
    from mockserver.http.server import ServerThread
    from mockserver.scenarios.loading import ScenarioError
    from mockserver.testing.mock_api import MockApi, curl_for


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mockserver' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
