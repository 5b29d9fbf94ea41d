"""docs/ci.md: its shell script runs as written, and its GitHub Actions steps do what they say."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from tests.docs_blocks import block, shell_env

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="the script calls curl")


def test_the_shell_script_starts_the_mock_uses_it_and_stops_it_with_exit_0(tmp_path):
    script = block("ci-script").code
    done = subprocess.run(["bash", "-c", script], env=shell_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert '"balance":' in done.stdout and done.stdout.rstrip().endswith("mockserver stopped")
    assert list(tmp_path.iterdir()) == []  # the url file went with the server


def test_the_github_actions_start_step_exports_the_url(tmp_path):
    (job,) = yaml.safe_load(block("github-actions").code)["jobs"].values()
    (start,) = [step["run"] for step in job["steps"] if step.get("name") == "Start mockserver"]
    github_env = tmp_path / "github_env"
    env = {**shell_env(tmp_path), "RUNNER_TEMP": str(tmp_path), "GITHUB_ENV": str(github_env)}
    # The runner stops the background server after the job; here the step's own shell does.
    script = f"set -euo pipefail\n{start}\nkill %1\nwait %1\n"
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"MOCKSERVER_URL=http://127\.0\.0\.1:\d+\n", github_env.read_text())
