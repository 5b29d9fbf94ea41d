"""The contract suite (``contract_tests/``, shipped inside the package) run against any server."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from mockserver._data import data_dir


def suite_dir() -> Path:
    """The suite's folder: inside an installed package, else the checkout's contract_tests/."""
    return data_dir("contract_tests")


def suite_args(
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    admin_token: str | None = None,
    allow_spend: bool = False,
    model: str | None = None,
    dialect: str | None = None,
    pytest_args: Sequence[str] = (),
) -> list[str]:
    """The pytest command line that runs the suite, whatever the current folder's own pytest set-up
    (``dialect``: the wire format the server speaks; only its tests run)."""
    root = suite_dir()
    # The suite's own configuration only: the caller's pytest.ini or pyproject (addopts, testpaths)
    # is about their tests, and no cache is written into an installed package.
    args = [str(root), "--rootdir", str(root), "-c", os.devnull, "-p", "no:cacheprovider"]
    # Not the mock_api plugin: the suite does not use it. pytest would rewrite the asserts of
    # mockserver (it has a plugin) but this process imported it already: nothing to warn about.
    args += ["-p", "no:mockserver.pytest_plugin", "-W", "ignore::pytest.PytestAssertRewriteWarning"]
    # Nor Hypothesis's, Schemathesis's or anyio's plugins, which the suite does not use either:
    # loading Schemathesis's imports Hypothesis too, seconds of CPU before the first test (most of
    # a run); anyio's imports its event-loop backends.
    args += ["-p", "no:schemathesis", "-p", "no:hypothesispytest", "-p", "no:anyio"]
    for option, value in (
        ("--base-url", base_url),
        ("--api-key", api_key),
        ("--admin-token", admin_token),
        ("--model", model),
        ("--dialect", dialect),
    ):
        if value is not None:
            args += [option, value]
    if allow_spend:
        args.append("--allow-spend")
    return [*args, *pytest_args]


def run_suite(**options) -> int:
    """Run the suite in this process (``suite_args`` options): 0 passed, 1 a test failed, 2 it could not run."""
    import pytest

    code = pytest.main(suite_args(**options))
    return {pytest.ExitCode.OK: 0, pytest.ExitCode.TESTS_FAILED: 1}.get(pytest.ExitCode(code), 2)
