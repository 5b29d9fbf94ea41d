"""README.md and docs/*.md: every code block is run or says why not, the Python and scenario blocks
run here, the README fits a screen, and every relative link lands on a file and a heading."""

from __future__ import annotations

import ast
import re
import shutil
import unicodedata
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest
import yaml

from mockserver.http.app import create_app
from mockserver.http.server import ServerThread
from tests.docs_blocks import DOCS, GENERATED, ROOT, RUNNERS, Block, all_blocks, block, blocks, relative, run_shell

README = ROOT / "README.md"
BLOCKS = all_blocks()


def _ids(found: list[Block]) -> list[str]:
    return [b.where for b in found]


# -- every block is run, or marked with the reason it is not ---------------------------------------


def unaccounted(found: list[Block]) -> list[str]:
    """The blocks no test runs and no marker excuses, with what is wrong."""
    problems = []
    for b in found:
        if b.marker is None:
            if b.lang != "python":
                what = f"a {b.lang or 'plain'} block with no marker"
                problems.append(f"{b.where}: {what} (run it, or <!-- not-run: why -->)")
        elif b.kind == "test":
            if b.arg not in RUNNERS:
                problems.append(f"{b.where}: no runner registered for test {b.arg!r} (tests/docs_blocks.py RUNNERS)")
        elif b.kind in ("scenario", "scenario-rules"):
            if b.lang != "yaml":
                problems.append(f"{b.where}: <!-- {b.kind} --> on a {b.lang} block, not yaml")
        elif b.kind == "pytest-example":
            if b.lang != "py" or not re.fullmatch(r"test_\w+\.py", b.arg):
                problems.append(f"{b.where}: a pytest example is a py block named test_*.py")
        elif b.kind == "not-run":
            if not b.arg:
                problems.append(f"{b.where}: not-run needs a reason")
        else:
            problems.append(f"{b.where}: unknown marker {b.marker!r}")
    return problems


def test_every_block_is_run_or_marked_with_a_reason():
    assert BLOCKS and {b.doc for b in BLOCKS} >= {README, ROOT / "docs" / "ci.md"}
    assert unaccounted(BLOCKS) == []


def test_the_check_catches_an_unmarked_block_and_an_unknown_runner(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "```sh\nls\n```\n\n<!-- test: nobody -->\n```sh\nls\n```\n\n<!-- not-run: -->\n```text\nx\n```\n\n"
        "<!-- not-run: a sample -->\n```json\n{}\n```\n\n1. a list\n\n   ```python\n   x = 1\n   ```\n"
    )
    found = blocks(page)
    assert [(b.lang, b.marker) for b in found] == [
        ("sh", None),
        ("sh", "test: nobody"),
        ("text", "not-run:"),
        ("json", "not-run: a sample"),
        ("python", None),
    ]
    assert found[-1].code == "x = 1\n"  # dedented
    assert unaccounted(found) == [
        "page.md:1: a sh block with no marker (run it, or <!-- not-run: why -->)",
        "page.md:6: no runner registered for test 'nobody' (tests/docs_blocks.py RUNNERS)",
        "page.md:11: not-run needs a reason",
    ]


def test_every_runner_exists_and_looks_its_block_up():
    named = [b.arg for b in BLOCKS if b.kind == "test"]
    assert sorted(named) == sorted(RUNNERS), "each runner has exactly one block, and each block its runner"
    for name, node in RUNNERS.items():
        path, function = node.split("::")
        source = (ROOT / path).read_text(encoding="utf-8")
        tree = ast.parse(source)
        (test,) = [f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.name == function]
        assert f'"{name}"' in ast.get_source_segment(source, test), f"{node} does not call block({name!r})"


# -- the blocks that run here -------------------------------------------------------------------------


PYTHON = [b for b in BLOCKS if b.marker is None and b.lang == "python"]


@pytest.mark.parametrize("code", [b.code for b in PYTHON], ids=_ids(PYTHON))
def test_python_blocks_run(code):
    exec(compile(code, "docs", "exec"), {})


SCENARIOS = [b for b in BLOCKS if b.kind in ("scenario", "scenario-rules")]


@pytest.mark.parametrize("b", SCENARIOS, ids=_ids(SCENARIOS))
def test_scenario_blocks_load(b):
    document = yaml.safe_load(b.code)
    if b.kind == "scenario-rules":
        assert isinstance(document, list)
        document = {"rules": document}
    create_app(clock="manual", scenario=document)  # raises ScenarioError naming the path


@pytest.mark.skipif(shutil.which("curl") is None, reason="the example calls curl")
def test_the_admin_example_fails_a_task(tmp_path):
    auth = {"Authorization": "Bearer k"}
    with ServerThread(create_app(clock="manual")) as server, httpx.Client(base_url=server.url, headers=auth) as api:
        body = {"input": {"mode": "text-to-image", "prompt": "a fox"}}
        task = api.post("/api/v1/generateTask/nano-banana", json=body).json()["data"]["taskId"]
        out = run_shell(block("admin-fail").code, server.url, tmp_path, env={"TASK": task})
        data = api.get("/api/v1/statusTask/nano-banana", params={"taskId": task}).json()["data"]
    assert out.returncode == 0, out.stderr
    assert (data["state"], data["failCode"]) == ("failed", "CONTENT_VIOLATION")


def test_the_schemathesis_example_uses_the_checks_ci_runs():
    (shown,) = [b for b in BLOCKS if b.lang == "sh" and "schemathesis run" in b.code]
    checks = re.search(r"--checks (\S+)", shown.code)[1]
    assert f"--checks {checks}" in (ROOT / ".ci" / "run").read_text()


# -- the README fits a screen ------------------------------------------------------------------------


def test_the_readme_is_short_and_starts_with_the_two_set_up_commands():
    lines = README.read_text(encoding="utf-8").split("\n")
    assert len(lines) <= 250, f"README.md has {len(lines)} lines; move detail to docs/"
    head = "\n".join(lines[:40])
    assert "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/mockserver serve" in head
    assert "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest" in head


def test_the_readme_lists_every_docs_page():
    text = README.read_text(encoding="utf-8")
    pages = {p.name for p in (ROOT / "docs").glob("*.md")} | {"models.md"}
    assert {page for page in pages if f"](docs/{page})" not in text} == set()


# -- relative links ------------------------------------------------------------------------------------

_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")


def unfenced(text: str) -> str:
    """The text outside fenced blocks, where a # starts a heading."""
    return re.sub(r"^( *)```.*?^\1```", "", text, flags=re.S | re.M)


def prose(text: str) -> str:
    """The text outside fenced blocks and inline code, where links are links."""
    return re.sub(r"`[^`\n]*`", "", unfenced(text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text, lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = unicodedata.normalize("NFC", text.strip().lower())
    text = "".join(c for c in text if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


def anchors(doc: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *#*$", unfenced(doc.read_text(encoding="utf-8")), flags=re.M):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    return found


def broken_links(doc: Path) -> list[str]:
    broken = []
    for match in _LINK.finditer(prose(doc.read_text(encoding="utf-8"))):
        target = match[1] or match[2]
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        where = (doc.parent / unquote(path)).resolve() if path else doc
        if not where.exists():
            broken.append(f"{relative(doc)}: {target}: no such file")
        elif anchor and where.suffix == ".md" and anchor not in anchors(where):
            broken.append(f"{relative(doc)}: {target}: no heading #{anchor}")
    return broken


def test_slugs_are_githubs():
    assert slug("The `mock_api` fixture") == "the-mock_api-fixture"
    assert slug("Choices where 123API's docs are silent") == "choices-where-123apis-docs-are-silent"
    assert slug("Webhook storms (`bench/bench_load.py storm`)") == "webhook-storms-benchbench_loadpy-storm"
    assert slug("suno: three stages") == "suno-three-stages"


def test_every_relative_link_points_at_a_file_and_a_heading():
    pages = [*DOCS, *GENERATED, ROOT / "CONTRIBUTING.md"]
    assert [problem for doc in pages for problem in broken_links(doc)] == []


def test_the_link_check_catches_a_missing_file_and_a_missing_heading(tmp_path):
    (tmp_path / "other.md").write_text("# Other\n\n## A `code` heading\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#a-code-heading) [self](#page) [gone](missing.md) [bad](other.md#nope)\n"
        "`[inline](nowhere.md)` [web](https://example.com/x#y)\n\n# Page\n\n```md\n[in a block](nowhere.md)\n```\n"
    )
    assert broken_links(page) == ["page.md: missing.md: no such file", "page.md: other.md#nope: no heading #nope"]
