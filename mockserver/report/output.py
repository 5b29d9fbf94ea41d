"""Using a report: the table ``mockserver report`` prints, and ``assert_conforming`` for tests."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable

from mockserver.report.checks import CHECKS, ERROR
from mockserver.report.messages import plural


def assert_conforming(report: dict, allow: Iterable[str] = (), *, warnings: bool = False) -> None:
    """Raise AssertionError listing every error finding (and warnings if asked) not in ``allow``."""
    allowed = set(allow)
    unknown = sorted(allowed - set(CHECKS))
    if unknown:
        raise ValueError(f"unknown finding code(s) in allow: {', '.join(unknown)}; known: {', '.join(CHECKS)}")
    failing = [
        f for f in report.get("findings", []) if f["code"] not in allowed and (f["severity"] == ERROR or warnings)
    ]
    if not failing:
        return
    lines = [f"the client does not conform: {plural(len(failing), 'finding')}"]
    for f in failing:
        lines.append(_finding_line(f))
        lines.append(textwrap.indent(f["message"], "    "))
    suppressed = report.get("summary", {}).get("suppressed") or {}
    if suppressed:
        lines.append("not listed (cap per code reached): " + ", ".join(f"{c} x{n}" for c, n in suppressed.items()))
    if allowed:
        lines.append("allowed: " + ", ".join(sorted(allowed)))
    raise AssertionError("\n".join(lines))


def _finding_line(f: dict) -> str:
    where = f" task {f['taskId']}" if f.get("taskId") else ""
    key = "(no key)" if f.get("key") is None else f["key"]
    evidence = " ".join(f"#{i}" for i in f["evidence"])
    more = f" (x{f['count']})" if f.get("count", 1) > 1 else ""
    return f"{f['severity'].upper():<8} {f['code']}{more}  key {key}{where}  evidence {evidence}"


_UNIT = re.compile(r"(\d) (s|ms|min|h|days?)\b")


def _wrap(message: str, width: int) -> list[str]:
    """Wrap an indented message, never between a number and its unit."""
    glued = _UNIT.sub("\\1\xa0\\2", message)  # textwrap breaks only on ASCII whitespace
    lines = textwrap.wrap(glued, width, initial_indent="    ", subsequent_indent="    ")
    return [line.replace("\xa0", " ") for line in lines]


def format_report(report: dict, width: int = 100) -> str:
    """The report as a readable table: one block per finding, then the totals."""
    summary = report.get("summary", {})
    findings = report.get("findings", [])
    scope = "all keys" if summary.get("allKeys", True) else f"key {summary.get('key') or '(no key)'}"
    journal = summary.get("journal") or {}
    requests = plural(summary.get("requests", 0), "request")
    tasks = plural(summary.get("tasks", 0), "task")
    head = f"Client conformance report ({scope}): {requests}, {tasks}"
    if journal:
        kept, dropped = journal.get("kept", 0), journal.get("dropped", 0)
        head += f"; the journal keeps the last {kept} ({dropped} dropped)"
    lines = [head, ""]
    if not findings:
        lines.append("No findings: the client follows the provider's guidance.")
    else:
        lines.append(f"{'SEVERITY':<8} {'CODE':<36} {'KEY':<16} {'TASK':<22} EVIDENCE (journal ids)")
        for f in findings:
            key = "(no key)" if f.get("key") is None else f["key"]
            evidence = " ".join(f"#{i}" for i in f["evidence"]) + (" ..." if f["count"] > len(f["evidence"]) else "")
            code = f["code"] + (f" x{f['count']}" if f["count"] > 1 else "")
            lines.append(f"{f['severity']:<8} {code:<36} {key:<16} {f.get('taskId') or '-':<22} {evidence}")
            lines.extend(_wrap(f["message"], width))
    lines.append("")
    errors = plural(summary.get("errors", 0), "error")
    counts = f"{errors}, {plural(summary.get('warnings', 0), 'warning')}"
    by_code = ", ".join(f"{c} {n}" for c, n in (summary.get("byCode") or {}).items())
    lines.append(counts + (f" ({by_code})" if by_code else ""))
    suppressed = summary.get("suppressed") or {}
    if suppressed:
        lines.append("Not listed (cap per code reached): " + ", ".join(f"{c} x{n}" for c, n in suppressed.items()))
    return "\n".join(lines) + "\n"
