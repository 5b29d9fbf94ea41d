"""mockserver: a stateful mock of async AI-generation APIs, and a contract-testing toolkit.

The public API is what ``__all__`` lists; the modules behind it are implementation.
Names are imported on first use, so ``import mockserver`` (and the pytest plugin, which
imports the package first) stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> module that defines it
_EXPORTS = {
    "ApiError": "errors",
    "MockApi": "testing",
    "MockService": "service",
    "ScenarioError": "scenario",
    "ServerThread": "server",
    "Settings": "config",
    "create_app": "app",
    "curl_for": "testing",
    "load_catalog": "catalog",
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
    from .app import create_app
    from .catalog import load_catalog
    from .config import Settings
    from .errors import ApiError
    from .scenario import ScenarioError
    from .server import ServerThread
    from .service import MockService
    from .testing import MockApi, curl_for


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mockserver' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
