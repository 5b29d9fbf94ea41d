"""examples/: the clients' tests pass (APIXO's and 123API's); the naive client's fuzz test fails, and its
bundle replays the failure.

The example files are copied into a pytester folder and run as a user would run them,
with the plugin named by ``-p`` (the project is not installed everywhere the suite runs).
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys

import httpx
import pytest

from mockserver._command import command
from mockserver.testing.replay import load_bundle

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
EXAMPLE_FILES = (
    "apixo_client.py",
    "test_client.py",
    "test_naive_client.py",
    "api123_client.py",
    "test_api123_client.py",
)
# Hypothesis's explain phase reruns the failure many times to say which lines matter: worth
# it at a desk, seconds of CI here. The rest (generate, shrink) runs as users run it.
CONFTEST = """
from hypothesis import Phase, settings

settings.register_profile("no-explain", phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink])
"""


@pytest.fixture
def examples(pytester: pytest.Pytester) -> pathlib.Path:
    for name in EXAMPLE_FILES:
        shutil.copy(EXAMPLES / name, pytester.path / name)
    pytester.makeconftest(CONFTEST)
    return pytester.path


def run_examples(pytester: pytest.Pytester, name: str) -> pytest.RunResult:
    return pytester.runpytest(
        "-p", "mockserver.pytest_plugin", "-p", "no:cacheprovider",
        "--hypothesis-seed=0", "--hypothesis-profile=no-explain", name,
    )  # fmt: skip


def test_the_client_passes_its_happy_path_and_fuzz_tests(pytester, examples):
    run_examples(pytester, "test_client.py").assert_outcomes(passed=3)


def test_the_123api_client_passes_its_happy_path_retry_and_fuzz_tests(pytester, examples):
    run_examples(pytester, "test_api123_client.py").assert_outcomes(passed=9)


def test_every_example_is_run_here():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXAMPLE_FILES)


# What the failure report prints (docs/testing.md, "When a test fails: replay it", shows a real one).
REPORT = (
    # `mockserver` as a shell runs it without an activated venv: .venv/bin/mockserver, a full path...
    r"(\S+/)?mockserver replay \.mockserver/failures/test_naive_client-"
    r"test_the_naive_client_gets_through_every_scenario-[0-9a-f]{8}\.json",
    r"last request: curl -X (GET|POST) http://127\.0\.0\.1:\d+/\S+ -H \"Authorization: Bearer \$MOCKSERVER_API_KEY\".*",
    r"scenario fuzz, seed \d+, virtual time \+[\d.]+ s, \d+ requests",
)


def is_report(lines: list[str]) -> bool:
    return len(lines) == len(REPORT) and all(re.fullmatch(p, line) for p, line in zip(REPORT, lines, strict=True))


def test_the_docs_show_the_report_as_printed():
    from tests.docs_blocks import block as docs_block

    block = docs_block("replay-report").code.splitlines()
    assert block[0].startswith("---") and "mockserver replay" in block[0]
    assert is_report(block[1:])


def _normalised(error: str) -> str:
    return re.sub(r"http://127\.0\.0\.1:\d+", "http://MOCK", error.strip())


def test_the_naive_client_fails_and_its_bundle_replays_the_failure_outside_pytest(pytester, examples):
    result = run_examples(pytester, "test_naive_client.py")
    result.assert_outcomes(failed=1)
    # The failure's report names the bundle, and so does the summary at the end.
    named = {m[1] for x in result.outlines if (m := re.fullmatch(r"\S*mockserver replay (\S+)", x))}
    (shown,) = named
    at = result.outlines.index(f"{command()} replay {shown}")
    assert is_report(result.outlines[at : at + len(REPORT)])
    bundle_path = examples / shown
    bundle = load_bundle(bundle_path)
    assert bundle["test"] == "test_naive_client.py::test_the_naive_client_gets_through_every_scenario"
    assert bundle["scenario"]["name"] == "fuzz" and bundle["scenario"]["rules"]  # the scenario that broke it
    failure = bundle["error"]
    assert failure.startswith(("httpx.", "json.decoder.JSONDecodeError")), failure

    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    replay = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "replay", str(bundle_path), "--port", "0"],
        cwd=examples,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        printed = []
        while not (printed and printed[-1].startswith("Replaying on")):
            out = replay.stdout.readline()
            assert out, replay.stderr.read()
            printed.append(out.rstrip("\n"))
        assert printed[0] == f"Replay of {bundle['test']}" and printed[1] == f"  failed with: {failure}"
        url = printed[-1].split()[2]
        # The naive client, as a script outside pytest, against the replay: the same error.
        client = subprocess.run(
            [sys.executable, "apixo_client.py", "--naive", "--no-sleep", "--base-url", url]
            + ["nano-banana", "a red fox in the snow"],
            cwd=examples,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert client.returncode == 1, client.stdout + client.stderr
        # The traceback's last exception line (an HTTPStatusError's message runs on to a second line).
        kind = failure.split(":", 1)[0]
        raised = [x for x in client.stderr.splitlines() if x.startswith(f"{kind}:")]
        assert raised and _normalised(raised[-1]) == _normalised(failure), client.stderr
        tape = httpx.get(f"{url}/__admin/journal", timeout=10).json()["entries"]
    finally:
        replay.send_signal(signal.SIGINT)
        out, err = replay.communicate(timeout=20)
    assert replay.returncode == 0, err
    # The same requests got the same answers, in the same order.
    fields = ("method", "path", "query", "status", "taskId", "rule", "fault", "state")
    assert [[e[k] for k in fields] for e in tape] == [[e[k] for k in fields] for e in bundle["journal"]]
