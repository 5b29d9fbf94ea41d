"""docs/123api.md: its curl walk-through runs as written against a live server, and its table of
scenario keys covers every key of the scenario schema.

The walk-through runs as the README's does (tests/docs_blocks.py): the block marked
`<!-- test: 123api-walkthrough -->`, in bash with pipefail, against a ServerThread whose URL replaces
the doc's, with `mockserver` on PATH.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from mockserver.http.app import create_app
from mockserver.http.server import ServerThread
from tests.docs_blocks import block, run_shell

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "123api.md").read_text(encoding="utf-8")


@pytest.mark.skipif(shutil.which("curl") is None, reason="the walk-through calls curl")
def test_the_walkthrough_runs_against_a_live_server_and_prints_what_it_says(tmp_path):
    script = block("123api-walkthrough").code
    with ServerThread(create_app(clock="manual")) as server:  # `mockserver serve --clock manual`
        out = run_shell(script, server.url, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip() == "completed"
    task = re.search(r"^submitted (task-[0-9a-f]{8}-[0-9a-f]{8})$", out.stdout, flags=re.M)[1]
    queued = json.loads(out.stdout.splitlines()[1])
    assert queued == {"task_id": task, "status": "queued", "model": "gpt-4o-image"}
    downloads = re.findall(r"^200 image/png (\S+)$", out.stdout, flags=re.M)
    assert downloads == [f"{server.url}/v1/files/{task}/{n}.png" for n in (0, 1)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.png", "1.png"]
    assert re.search(r"^retry-after: 3\r?$", out.stdout, flags=re.M | re.I)
    assert '{"error":"rate_limit_exceeded","message":"Rate limit exceeded","retryAfter":3}' in out.stdout


def _table(marker: str) -> str:
    return DOC.split(f"<!-- {marker} -->", 1)[1].strip().split("\n\n", 1)[0]


def schema_keys() -> set[str]:
    """Every key a scenario may hold: top level, a rule's, its `when`'s, and each action's fields."""
    schema = json.loads((ROOT / "schemas" / "scenario.schema.json").read_text())
    defs = schema["$defs"]
    keys = {k for k in schema["properties"] if k != "$schema"}
    for k in defs["rule"]["properties"]:
        keys.add(k if k in ("when", *_ACTIONS) else f"rules[].{k}")
    keys |= {f"when.{k}" for k in defs["when"]["properties"]}
    for action in ("respond", "fail", "timing", "delay"):
        keys |= {f"{action}.{k}" for k in defs[action]["properties"]}
    return keys - {"when"}  # `when` is its keys


_ACTIONS = ("respond", "fail", "timing", "delay", "fault", "callback")


def test_the_scenario_keys_table_lists_every_key_of_the_schema():
    rows = re.findall(r"^\| (.+?) \| (yes|no) \| (yes|no) \|", _table("scenario-keys"), flags=re.M)
    listed = [key for cell, _apixo, _api123 in rows for key in re.findall(r"`([^`]+)`", cell)]
    assert len(listed) == len(set(listed))
    assert set(listed) == schema_keys()
    apixo_only = {
        key
        for cell, apixo, api123 in rows
        if (apixo, api123) == ("yes", "no")
        for key in re.findall(r"`([^`]+)`", cell)
    }
    assert apixo_only == {"callbacks", "when.provider", "when.request_type", "when.attempt", "callback"}
