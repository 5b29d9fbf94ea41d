"""The test suite. Importing it (pytest does, before tests/conftest.py) sets up the bytecode cache."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def _cache_bytecode_outside_the_tree() -> None:
    """Where writing bytecode is off (PYTHONDONTWRITEBYTECODE, common in containers), cache it in a
    folder outside the tree instead, for this run's processes: workers and subprocesses inherit it.

    Without a cache every process (each pytest-xdist worker, `mockserver` subprocess and inner pytest
    run) compiles the package from source, and pytest rewrites every test module again: about a
    quarter of the suite's CPU (docs/performance.md). The checkout stays free of __pycache__ folders.
    """
    if not sys.dont_write_bytecode or sys.pycache_prefix or os.environ.get("PYTHONPYCACHEPREFIX"):
        return
    folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mockserver-tests" / "pycache"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return  # nowhere to write: compile as before
    sys.pycache_prefix = os.environ["PYTHONPYCACHEPREFIX"] = str(folder)
    sys.dont_write_bytecode = False
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


_cache_bytecode_outside_the_tree()
