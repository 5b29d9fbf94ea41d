"""The README's walk-through runs as written, and its set-up commands are the ones CI runs.

Its other blocks, and every docs/ page's, are run through tests/docs_blocks.py (tests/test_docs.py).
"""

from __future__ import annotations

import re

from mockserver.http.app import create_app
from mockserver.http.server import ServerThread
from tests.docs_blocks import ROOT, block, run_shell


def test_walkthrough_runs_against_a_live_server(tmp_path):
    script = block("walkthrough").code
    with ServerThread(create_app()) as server:  # the defaults: real clock, any key
        out = run_shell(script, server.url, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "success" in out.stderr
    downloads = re.findall(r"^200 image/png (\S+)$", out.stdout, flags=re.M)
    assert len(downloads) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.png", "1.png"]


def test_quick_start_commands_are_the_ci_ones():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 -m venv .venv" in ci
    assert "pip install --quiet -e '.[test]'" in ci and "python -m pytest -q -p no:cacheprovider -n auto" in ci
    assert block("quick-start-tests").code == (
        "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest -n auto\n"
    )
    # The serve command: a plain install (CI's smoke test installs the same way) and the defaults.
    assert "install --quiet .\n" in ci
    assert block("quick-start-serve").code == (
        "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/mockserver serve\n"
    )
