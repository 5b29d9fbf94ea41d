"""The README's examples run as written."""

from __future__ import annotations

import pathlib
import re
import subprocess

import pytest

from mockserver.http.app import create_app
from mockserver.http.server import ServerThread

README = (pathlib.Path(__file__).parent.parent / "README.md").read_text()


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_walkthrough_runs_against_a_live_server(tmp_path):
    block = README.split("<!-- walkthrough -->", 1)[1]
    script = re.search(r"```sh\n(.*?)```", block, flags=re.S).group(1)
    with ServerThread(create_app()) as server:  # the defaults: real clock, any key
        script = script.replace("http://127.0.0.1:8000", server.url)
        out = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
    assert out.returncode == 0, out.stderr
    assert "success" in out.stderr
    downloads = re.findall(r"^200 image/png (\S+)$", out.stdout, flags=re.M)
    assert len(downloads) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.png", "1.png"]


@pytest.mark.parametrize("code", [b for b in blocks("python")])
def test_python_examples_run(code):
    exec(compile(code, "README.md", "exec"), {})


def test_quick_start_commands_are_the_ci_ones():
    ci = (pathlib.Path(__file__).parent.parent / ".ci" / "run").read_text()
    assert "pip install --quiet -e '.[test]'" in ci and "python -m pytest" in ci
    assert "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest" in README
    assert "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/mockserver serve" in README
