"""The code blocks of README.md and docs/*.md: found, told apart by their marker, and run.

Every fenced block is run (or checked) by a test, or says why not. The HTML comment on the line
just before its fence is its marker:

- none, on a ```python block: executed as written (tests/test_docs.py);
- ``<!-- scenario -->`` on a yaml block: loaded as a scenario; ``<!-- scenario-rules -->``: a list of
  rules, loaded as the rules of one (tests/test_docs.py);
- ``<!-- pytest-example: FILE -->`` on a py block: written to FILE and run under the pytest plugin
  (tests/testing/test_pytest_plugin.py);
- ``<!-- test: NAME -->``: run or checked by the test ``RUNNERS[NAME]`` names, which finds the block
  with ``block(NAME)``;
- ``<!-- not-run: REASON -->``: not run, and REASON says why (a workflow for another CI, a sample).

tests/test_docs.py checks that every block has one of these and that every runner exists.
"""

from __future__ import annotations

import os
import re
import subprocess
import sysconfig
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Generated pages are tested by their own test, not block by block: docs/models.md is rewritten by
# scripts/gen_models_md.py, and tests/test_models_doc.py submits every example body on it to the mock.
GENERATED = {ROOT / "docs" / "models.md": "tests/test_models_doc.py"}
DOCS = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").glob("*.md") if p not in GENERATED)]

# Blocks run by a test of their own: NAME -> "file::test function".
RUNNERS = {
    "quick-start-serve": "tests/test_readme.py::test_quick_start_commands_are_the_ci_ones",
    "quick-start-tests": "tests/test_readme.py::test_quick_start_commands_are_the_ci_ones",
    "walkthrough": "tests/test_readme.py::test_walkthrough_runs_against_a_live_server",
    "admin-fail": "tests/test_docs.py::test_the_admin_example_fails_a_task",
    "scenario-rule": "tests/scenarios/test_loading.py::test_docs_runtime_rule_example_runs",
    "report-commands": "tests/report/test_report.py::test_the_docs_report_commands_run",
    "report-example": "tests/report/test_report.py::test_docs_example_prints_the_output_shown",
    "report-example-output": "tests/report/test_report.py::test_docs_example_prints_the_output_shown",
    "validate": "tests/test_validate_cli.py::test_the_docs_example_prints_what_the_docs_say",
    "validate-output": "tests/test_validate_cli.py::test_the_docs_example_prints_what_the_docs_say",
    "replay-report": "tests/test_examples.py::test_the_docs_show_the_report_as_printed",
    "ci-script": "tests/test_docs_ci.py::test_the_shell_script_starts_the_mock_uses_it_and_stops_it_with_exit_0",
    "github-actions": "tests/test_docs_ci.py::test_the_github_actions_start_step_exports_the_url",
    "openapi-python-client-config": (
        "tests/contract/test_generated_client.py::test_the_docs_config_reads_every_result_file_as_bytes"
    ),
    "123api-walkthrough": (
        "tests/test_docs_123api.py::test_the_walkthrough_runs_against_a_live_server_and_prints_what_it_says"
    ),
}

_FENCE = re.compile(r"^( *)```(\S*)\s*$")
_MARKER = re.compile(r"^\s*<!-- (.+?) -->\s*$")


@dataclass(frozen=True)
class Block:
    doc: Path
    line: int  # of the opening fence, 1-based
    lang: str
    marker: str | None  # the comment before the fence, without <!-- -->
    code: str

    @property
    def where(self) -> str:
        return f"{relative(self.doc)}:{self.line}"

    @property
    def kind(self) -> str:
        """What the marker says: "", "scenario", "test", "pytest-example", "not-run" or the unknown word."""
        return (self.marker or "").split(":", 1)[0].strip()

    @property
    def arg(self) -> str:
        """What follows the marker's colon: a test name, a file name, a reason."""
        return (self.marker or "").partition(":")[2].strip()


def relative(doc: Path) -> str:
    """A page's name as the messages give it: relative to the checkout when it is in it."""
    return str(doc.relative_to(ROOT)) if doc.is_relative_to(ROOT) else doc.name


def blocks(doc: Path) -> list[Block]:
    """Every fenced block of one Markdown file, indented ones (inside a list) dedented."""
    lines = doc.read_text(encoding="utf-8").split("\n")
    found = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, lang = opening[1], opening[2]
        end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
        marker = _MARKER.match(lines[i - 1]) if i else None
        code = textwrap.dedent("\n".join(lines[i + 1 : end]) + "\n") if indent else "\n".join(lines[i + 1 : end]) + "\n"
        found.append(Block(doc, i + 1, lang, marker[1] if marker else None, code))
        i = end + 1
    return found


def all_blocks() -> list[Block]:
    return [b for doc in DOCS for b in blocks(doc)]


def block(name: str) -> Block:
    """The one block marked ``<!-- test: NAME -->``, in whichever page it lives."""
    (found,) = [b for b in all_blocks() if b.kind == "test" and b.arg == name]
    return found


def shell_env(tmp_path: Path) -> dict[str, str]:
    """The environment a reader's shell has: `mockserver` on PATH (this interpreter's scripts)."""
    return {
        **os.environ,
        "PATH": sysconfig.get_path("scripts") + os.pathsep + os.environ["PATH"],
        "TMPDIR": str(tmp_path),
    }


def run_shell(
    script: str, url: str, cwd: Path, *, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """A shell block as a reader runs it, against the server at ``url`` instead of the default one."""
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script.replace("http://127.0.0.1:8000", url)],
        cwd=cwd,
        env={**shell_env(cwd), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
