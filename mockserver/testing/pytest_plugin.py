"""pytest plugin (entry point ``pytest11``): one mock per test session, a ``mock_api`` handle per test.

Loading this module costs nothing: the server and its dependencies are imported the
first time a test asks for ``mock_api``. The server runs in a background thread on a
loopback port 0, with a manual clock unless MOCKSERVER_CLOCK says otherwise; each test
starts from the session's scenario (MOCKSERVER_SCENARIO, else none), reset.

A bug inside the mock while it served a test fails that test with the mock's own
exception. A test that used ``mock_api`` and failed leaves a replay bundle in
``.mockserver/failures/`` (``--mockserver-failures DIR``); its report shows the
command that serves the same scenario again, and a curl line of the last request.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

import pytest

_HANDLE = pytest.StashKey[Any]()  # on a test item: its mock_api handle
_BUNDLES = pytest.StashKey[list]()
_SEED = pytest.StashKey[
    tuple
]()  # on the config: (the session's seed, whether it was drawn)  # on the config: (test, path) of every bundle written


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mockserver", "mockserver: a mock of async AI-generation APIs")
    group.addoption(
        "--mockserver-seed",
        type=int,
        default=None,
        metavar="N",
        help="seed of the session's mock: task ids, timings, rule decisions "
        "(default: $MOCKSERVER_SEED, else drawn at random and printed in the header)",
    )
    group.addoption(
        "--mockserver-dialect",
        default=None,
        metavar="NAME[,NAME]",
        help="the dialects the session's mock speaks: apixo, 123api (default: $MOCKSERVER_DIALECTS, else all)",
    )
    group.addoption(
        "--mockserver-failures",
        default=None,
        metavar="DIR",
        help="where failed tests leave replay bundles (default: .mockserver/failures under the rootdir)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_BUNDLES] = []
    config.stash[_SEED] = _session_seed(config)
    _check_dialects(config)


def _check_dialects(config: pytest.Config) -> None:
    """An unknown --mockserver-dialect is a usage error at once, not an error in every test."""
    dialects = config.getoption("--mockserver-dialect")
    if not dialects:
        return
    from mockserver.dialects import resolve

    try:
        resolve(dialects)
    except ValueError as exc:
        raise pytest.UsageError(f"--mockserver-dialect={dialects}: {exc}") from None


def _session_seed(config: pytest.Config) -> tuple[int, bool]:
    """(seed, drawn): --mockserver-seed, else $MOCKSERVER_SEED, else one drawn now (and printed,
    as pytest-randomly and Hypothesis print theirs), so every run of the session is repeatable."""
    seed = config.getoption("--mockserver-seed")
    if seed is not None:
        return seed, False
    raw = os.environ.get("MOCKSERVER_SEED")
    if raw:
        try:
            return int(raw), False
        except ValueError:
            raise pytest.UsageError(f"MOCKSERVER_SEED={raw!r} is not an integer") from None
    from mockserver.core.service import draw_seed

    return draw_seed(), True


class MockServerSession:
    """The session's server: a uvicorn thread, the scenario and key each test starts from."""

    def __init__(self, config: pytest.Config) -> None:
        from mockserver.core.config import Settings, env_settings
        from mockserver.http.app import create_app
        from mockserver.http.server import ServerThread

        values = env_settings()
        values["seed"] = config.stash[_SEED][0]
        dialects = config.getoption("--mockserver-dialect")
        if dialects:
            values["dialects"] = dialects
        values.setdefault("clock", "manual")
        values["host"], values["port"] = "127.0.0.1", 0
        self.app = create_app(Settings(**values))  # type: ignore[arg-type]
        mock = self.app.state.mock
        self.default_scenario: dict = dict(mock.scenario.document)
        keys = mock.settings.api_keys
        self.api_key: str | None = next(iter(keys)) if keys else None
        self.admin_token: str | None = mock.settings.admin_token
        self.thread = ServerThread(self.app).start()
        self.url = self.thread.url

    def handle(self) -> Any:
        """A fresh handle on this server, reset to the session's scenario."""
        from mockserver.testing.mock_api import DEFAULT_KEY, MockApi

        if self.thread.error is not None:
            raise RuntimeError("the mockserver thread has died") from self.thread.error
        handle = MockApi(
            self.url,
            api_key=self.api_key or DEFAULT_KEY,
            admin_token=self.admin_token,
            app=self.app,
            default_scenario=self.default_scenario,
        )
        handle.load(None)
        self.app.state.errors.clear()
        return handle

    def stop(self) -> None:
        self.thread.stop()


@pytest.fixture(scope="session")
def mockserver_session(request: pytest.FixtureRequest):
    """The session's mock server (``.url``, ``.app``); tests use ``mock_api``."""
    session = MockServerSession(request.config)
    yield session
    session.stop()
    if session.thread.error is not None:
        raise session.thread.error


@pytest.fixture
def mock_api(request: pytest.FixtureRequest, mockserver_session: MockServerSession):
    """A handle on the session's mock (mockserver.testing.MockApi), reset before the test."""
    handle = mockserver_session.handle()
    request.node.stash[_HANDLE] = handle
    yield handle
    handle.close()


def _server_errors(item: pytest.Item) -> list[BaseException]:
    handle = item.stash.get(_HANDLE, None)
    if handle is None or handle.app is None:
        return []
    errors = list(handle.app.state.errors)
    handle.app.state.errors.clear()
    return errors


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """Errors raised inside the mock while it served this test fail the test."""
    try:
        result = yield
    except BaseException as exc:
        errors = _server_errors(item)
        if errors:
            exc.add_note(_errors_note(errors))
        raise
    errors = _server_errors(item)
    if errors:
        if len(errors) > 1:
            errors[0].add_note(_errors_note(errors[1:], more=True))
        raise errors[0]
    return result


def _errors_note(errors: list[BaseException], more: bool = False) -> str:
    lines = [f"mockserver: {'and ' if more else ''}{len(errors)} error(s) inside the mock during this test:"]
    lines += [f"  {type(e).__name__}: {e}" for e in errors[:5]]
    return "\n".join(lines)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    handle = item.stash.get(_HANDLE, None)
    if handle is None or report.when != "call" or not report.failed:
        return report
    from mockserver.testing.replay import bundle_of, write_bundle, write_html_report

    error = call.excinfo.exconly().strip().splitlines()[0] if call.excinfo is not None else None
    folder = item.config.getoption("--mockserver-failures") or item.config.rootpath / ".mockserver" / "failures"
    try:
        bundle = bundle_of(handle, item.nodeid, error)
        path = write_bundle(bundle, folder)
    except Exception as exc:  # the test has failed already: a bundle is a help, never a second failure
        report.sections.append(("mockserver replay", f"no replay bundle: {type(exc).__name__}: {exc}"))
        return report
    shown = _shown(path)
    item.config.stash[_BUNDLES].append((item.nodeid, shown))
    lines = [f"{_replay_command(shown)}"]
    if bundle.get("lastRequest"):
        lines.append(f"last request: {bundle['lastRequest']}")
    lines.append(
        f"scenario {bundle['scenario'].get('name') or '(unnamed)'}, seed {bundle['seed']}, "
        f"virtual time +{(bundle['clock']['now'] - bundle['clock']['start']) / 1000:g} s, "
        f"{len(bundle['journal'])} requests"
    )
    # The report with each task's timeline, beside the bundle (same name, .html).
    try:
        lines.append(f"timelines: {_shown(write_html_report(handle, path))}")
    except Exception as exc:  # as for the bundle: a help, never a second failure
        lines.append(f"no HTML report: {type(exc).__name__}: {exc}")
    report.sections.append(("mockserver replay", "\n".join(lines)))
    return report


def _replay_command(shown: str) -> str:
    """The replay command line, runnable as printed: ``.venv/bin/mockserver`` when not on PATH."""
    import shlex

    from mockserver._command import command

    return f"{command()} replay {shlex.quote(shown)}"


def _shown(path: pathlib.Path) -> str:
    """The path as the user should type it: relative to where pytest was started, if inside."""
    try:
        return str(path.resolve().relative_to(pathlib.Path.cwd().resolve()))
    except ValueError:
        return str(path)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    bundles = config.stash.get(_BUNDLES, [])
    if not bundles:
        return
    terminalreporter.section("mockserver: replay a failure")
    for nodeid, shown in bundles:
        terminalreporter.write_line(f"{_replay_command(shown)}    # {nodeid}")


def pytest_report_header(config: pytest.Config) -> str | None:
    seed, drawn = config.stash[_SEED]
    return f"mockserver: seed {seed}" + (f" (drawn at random; --mockserver-seed={seed} repeats it)" if drawn else "")
