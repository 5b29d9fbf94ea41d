"""The pytest plugin, run with pytester: the mock_api fixture, options, server errors, replay bundles.

The inner runs name the plugin with ``-p mockserver.pytest_plugin``: the project is not
installed in every environment the suite runs in. Where it is (CI), the entry point loads
the same plugin under the same name, which the last tests check does not clash.
"""

from __future__ import annotations

import ast
import json
import pathlib
import re
import subprocess
import sys
import textwrap
import tomllib

import pytest

from mockserver._command import command
from mockserver.testing.replay import load_bundle

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
PLUGIN = "mockserver.pytest_plugin"


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", PLUGIN, "-p", "no:cacheprovider", *args)


def test_mock_api_is_one_live_server_reset_before_each_test(pytester):
    pytester.makepyfile(
        """
        import httpx

        URLS = []
        SEEDS = []

        def submit(mock_api):
            body = {"input": {"mode": "text-to-image", "prompt": "a fox"}}
            r = httpx.post(f"{mock_api.url}/api/v1/generateTask/nano-banana", json=body, headers=mock_api.headers)
            assert r.status_code == 200, r.text
            return r.json()["data"]["taskId"]

        def test_a(mock_api):
            URLS.append(mock_api.url)
            SEEDS.append(mock_api.health()["seed"])
            assert mock_api.url.startswith("http://127.0.0.1:") and mock_api.api_key == "sk_test_mockserver"
            mock_api.load({"name": "mine", "rules": [{"when": {"endpoint": "balance"}, "respond": {"status": 503}}]})
            task_id = submit(mock_api)
            mock_api.advance(to="idle")
            assert [t["state"] for t in mock_api.tasks()] == ["success"]

        def test_b(mock_api):
            assert URLS == [mock_api.url]  # one server per session
            assert mock_api.scenario() == {} and mock_api.tasks() == [] and mock_api.journal() == []
            task_id = submit(mock_api)
            # No seed given: one drawn for the session, the same for every test (each reset keeps it).
            assert SEEDS == [mock_api.health()["seed"]] and mock_api.clock()["mode"] == "manual"
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=2)
    [header] = [line for line in result.stdout.lines if line.startswith("mockserver: seed ")]
    seed = int(header.split()[2])
    assert header == f"mockserver: seed {seed} (drawn at random; --mockserver-seed={seed} repeats it)"
    result = run(pytester, "--mockserver-seed", "0")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["mockserver: seed 0"])


def test_seed_comes_from_the_option_or_the_environment(pytester, monkeypatch):
    pytester.makepyfile(
        """
        import os

        def test_seed(mock_api):
            assert mock_api.health()["seed"] == int(os.environ["EXPECTED_SEED"])
        """
    )
    monkeypatch.setenv("EXPECTED_SEED", "42")
    result = run(pytester, "--mockserver-seed", "42")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["mockserver: seed 42"])
    monkeypatch.setenv("MOCKSERVER_SEED", "7")
    monkeypatch.setenv("EXPECTED_SEED", "7")
    result = run(pytester)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["mockserver: seed 7"])


def test_mockserver_environment_sets_the_scenario_and_keys_each_test_starts_from(pytester, monkeypatch):
    monkeypatch.setenv("MOCKSERVER_SCENARIO", "flaky-5xx")
    monkeypatch.setenv("MOCKSERVER_API_KEYS", "sk_ci_one:100,sk_ci_two")
    pytester.makepyfile(
        """
        import httpx

        def test_a(mock_api):
            assert mock_api.scenario()["name"] == "flaky-5xx" and mock_api.api_key == "sk_ci_one"
            mock_api.load("happy-path")
            r = httpx.get(f"{mock_api.url}/api/v1/apikeys/current-balance", headers=mock_api.headers)
            assert r.json()["data"]["balance"] == 100

        def test_b(mock_api):
            assert mock_api.scenario()["name"] == "flaky-5xx"
            other = {"Authorization": "Bearer sk_other"}
            r = httpx.get(f"{mock_api.url}/api/v1/apikeys/current-balance", headers=other)
            assert r.status_code == 401  # only the configured keys
        """
    )
    run(pytester).assert_outcomes(passed=2)


def test_an_error_inside_the_mock_fails_the_test_that_caused_it(pytester):
    pytester.makepyfile(
        test_bug="""
        import httpx

        def break_balance(mock_api, monkeypatch):
            def boom(key):
                raise RuntimeError("the balance is on fire")
            monkeypatch.setattr(mock_api.app.state.mock, "balance", boom)

        def test_passes_on_its_own(mock_api, monkeypatch):
            break_balance(mock_api, monkeypatch)
            r = httpx.get(f"{mock_api.url}/api/v1/apikeys/current-balance", headers=mock_api.headers)
            assert r.status_code == 500

        def test_fails_on_its_own(mock_api, monkeypatch):
            break_balance(mock_api, monkeypatch)
            httpx.get(f"{mock_api.url}/api/v1/apikeys/current-balance", headers=mock_api.headers)
            assert False, "the test's own failure"

        def test_next_one_is_clean(mock_api):
            r = httpx.get(f"{mock_api.url}/api/v1/apikeys/current-balance", headers=mock_api.headers)
            assert r.status_code == 200
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*_ test_passes_on_its_own _*",
            # The mock's own traceback is in the report, down to the line that raised.
            '*raise RuntimeError("the balance is on fire")',
            "E       RuntimeError: the balance is on fire",
            "*_ test_fails_on_its_own _*",
            "E       AssertionError: the test's own failure*",
            "E       mockserver: 1 error(s) inside the mock during this test:",
            "E         RuntimeError: the balance is on fire",
        ]
    )


def test_a_failed_test_leaves_a_replay_bundle_and_says_how_to_replay_it(pytester):
    pytester.makepyfile(
        test_flaky="""
        import httpx

        RULE = {"when": {"endpoint": "statusTask", "nth": 2}, "respond": {"status": 503}}

        def test_client_survives(mock_api):
            mock_api.load({"name": "second-poll-503", "rules": [RULE]})
            headers = {**mock_api.headers, "Idempotency-Key": "abc"}
            body = {"input": {"mode": "text-to-image", "prompt": "it's a fox"}}
            r = httpx.post(f"{mock_api.url}/api/v1/generateTask/nano-banana", json=body, headers=headers)
            query = {"taskId": r.json()["data"]["taskId"]}
            mock_api.advance(ms=5000)
            for _ in range(2):
                r = httpx.get(f"{mock_api.url}/api/v1/statusTask/nano-banana", params=query, headers=mock_api.headers)
                r.raise_for_status()

        def test_passing(mock_api):
            pass

        def test_failing_without_the_mock():
            assert False
        """
    )
    result = run(pytester, "--mockserver-seed", "0")  # the bundle's seed is checked below
    result.assert_outcomes(passed=1, failed=2)
    folder = pytester.path / ".mockserver" / "failures"
    (path,) = folder.glob("*.json")
    shown = str(path.relative_to(pytester.path))
    # Beside the bundle, the report with each task's timeline, as one HTML file (keys masked).
    page = path.with_suffix(".html").read_text(encoding="utf-8")
    assert '"code":"RETRIED_NON_RETRYABLE"' not in page and '"taskId":"task_' in page
    assert "sk_test_mockserver" not in page and "<script src=" not in page
    assert re.fullmatch(r"\.mockserver/failures/test_flaky-test_client_survives-[0-9a-f]{8}\.json", shown)
    result.stdout.fnmatch_lines(
        [
            "*- mockserver replay -*",
            f"{command()} replay {shown}",
            "last request: curl -X GET 'http://127.0.0.1:*/api/v1/statusTask/nano-banana?taskId=task_*'"
            ' -H "Authorization: Bearer $MOCKSERVER_API_KEY"',
            "scenario second-poll-503, seed 0, virtual time +5 s, 3 requests",
            f"timelines: {shown.removesuffix('.json')}.html",
        ]
    )
    result.stdout.fnmatch_lines(
        ["*= mockserver: replay a failure =*", f"{command()} replay {shown}    # test_flaky.py::test_client_survives"]
    )
    assert "sk_test_mockserver" not in result.stdout.str()  # the key stays out of the report
    bundle = load_bundle(path)
    assert bundle["test"] == "test_flaky.py::test_client_survives"
    assert bundle["error"].startswith("httpx.HTTPStatusError: Server error '503 Service Unavailable' for url")
    assert bundle["scenario"]["name"] == "second-poll-503" and bundle["scenario"]["seed"] == 0
    assert [(e["method"], e["status"]) for e in bundle["journal"]] == [("POST", 200), ("GET", 200), ("GET", 503)]
    assert json.loads(bundle["journal"][0]["body"])["input"]["prompt"] == "it's a fox"
    # Elsewhere with --mockserver-failures; a passing run writes nothing.
    result = run(pytester, "--mockserver-seed", "0", "--mockserver-failures", "elsewhere", "-k", "client_survives")
    result.assert_outcomes(failed=1)
    assert sorted(p.suffix for p in (pytester.path / "elsewhere").iterdir()) == [".html", ".json"]
    run(pytester, "-k", "test_passing").assert_outcomes(passed=1)
    assert len(list(folder.iterdir())) == 2


def test_a_failing_fuzz_test_bundles_the_example_it_reports(pytester):
    pytester.makepyfile(
        """
        import httpx
        from hypothesis import HealthCheck, given, settings, strategies as st

        @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
        @given(status=st.sampled_from([200, 201, 429, 503]))
        def test_status_is_200(mock_api, status):
            rule = {"when": {"endpoint": "balance"}, "respond": {"status": status}}
            mock_api.load({"name": f"answers-{status}", "rules": [rule]})
            r = httpx.get(f"{mock_api.url}/api/v1/apikeys/current-balance", headers=mock_api.headers)
            assert r.status_code == 200
        """
    )
    result = run(pytester, "--hypothesis-seed=1")
    result.assert_outcomes(failed=1)
    (path,) = (pytester.path / ".mockserver" / "failures").glob("*.json")
    bundle = load_bundle(path)
    # Hypothesis reports (and runs last) the simplest failing example: 201 comes before 429, 503.
    assert bundle["scenario"]["name"] == "answers-201" and [e["status"] for e in bundle["journal"]] == [201]


def test_the_plugin_is_loaded_once_by_name_and_entry_point(pytester, monkeypatch):
    """Installed, the entry point loads the plugin; `-p mockserver.pytest_plugin` then names the same one."""
    entry_points = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["pytest11"]
    assert entry_points == {PLUGIN: PLUGIN}
    # An installed distribution declaring the same entry point, found on sys.path.
    site = pytester.path / "site"
    dist = site / "mockserver_entry_point-0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mockserver-entry-point\nVersion: 0\n")
    (dist / "entry_points.txt").write_text(f"[pytest11]\n{PLUGIN} = {PLUGIN}\n")
    monkeypatch.syspath_prepend(site)
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    pytester.makepyfile(
        """
        def test_fixture(mock_api, pytestconfig):
            assert mock_api.health()["status"] == "ok"
            plugins = pytestconfig.pluginmanager.list_name_plugin()
            assert [name for name, _ in plugins if name.startswith("mockserver")] == ["mockserver.pytest_plugin"]
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)  # the entry point alone
    run(pytester).assert_outcomes(passed=1)  # the entry point and -p


def test_loading_the_plugin_imports_nothing_heavy():
    code = textwrap.dedent(
        """
        import sys
        import mockserver.pytest_plugin
        heavy = ("starlette", "uvicorn", "httpx", "httpcore", "hypothesis", "jsonschema", "yaml", "anyio")
        print(sorted(m for m in sys.modules if m.split(".")[0] in heavy or m.startswith("mockserver.")))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    # The package root, the version and the plugin's own modules: none of them imports a dependency.
    assert set(ast.literal_eval(out.stdout.strip())) == {
        "mockserver._version",
        "mockserver.pytest_plugin",
        "mockserver.testing",
        "mockserver.testing.pytest_plugin",
    }


def test_the_docs_examples_pass_under_the_plugin(pytester):
    """Every block marked <!-- pytest-example: FILE --> in README.md and docs/ (tests/docs_blocks.py)."""
    from tests.docs_blocks import all_blocks

    examples = [(b.arg, b.code) for b in all_blocks() if b.kind == "pytest-example"]
    assert [name for name, _ in examples] == ["test_recipe.py", "test_my_client.py", "test_fuzz.py"]
    for name, code in examples:
        (pytester.path / name).write_text(code)
    run(pytester, "--hypothesis-seed=0").assert_outcomes(passed=4)
