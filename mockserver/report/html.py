"""The client report as one self-contained HTML file: findings, and each task's timeline.

Everything is inlined (the dashboard's CSS and timeline script, the data as JSON), so the file opens
from a CI artifact with no server and no network. Data: ``GET /__admin/timelines``
(``control.timelines``).
"""

from __future__ import annotations

import html
import json
from typing import Any

from mockserver.http.ui import read

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
{css}
body {{ padding: 12px 16px; }}
h1 {{ font-size: 18px; margin: 0 0 4px; }}
h2 {{ font-size: 15px; margin: 16px 0 4px; }}
.summary {{ margin: 0 0 8px; }}
table.findings-table td {{ white-space: normal; vertical-align: top; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p class="summary muted">{summary}</p>
<h2>Findings</h2>
{findings}
<h2>Timelines</h2>
<div id="timelines"></div>
<div id="tooltip" role="tooltip" hidden></div>
<script type="application/json" id="report-data">{data}</script>
<script>
{timeline_js}
</script>
<script>
"use strict";
(() => {{
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const tip = Timeline.tooltips(document.getElementById("tooltip"));
  const root = document.getElementById("timelines");
  if (!data.tasks.length) root.textContent = "No tasks.";
  for (const t of data.tasks) {{
    const box = document.createElement("section");
    box.className = "report-task panel";
    const h = document.createElement("h3");
    const task = t.task;
    h.textContent = `${{task.taskId}} · ${{task.model}} (${{task.dialect}}) · ${{task.state}} · key ${{task.key}}` +
      ` · ${{t.requests.length}} requests`;
    box.appendChild(h);
    box.appendChild(Timeline.render(t, tip));
    root.appendChild(box);
  }}
}})();
</script>
</body>
</html>
"""


def _findings_table(report: dict) -> str:
    findings = report.get("findings", [])
    if not findings:
        return "<p>None: the client followed the provider's guidance.</p>"
    rows = "".join(
        "<tr><td class='{sev}'>{sev}</td><td>{code}</td><td>{task}</td><td>{msg}</td><td>{ev}</td></tr>".format(
            sev=html.escape(f["severity"]),
            code=html.escape(f["code"]),
            task=html.escape(f.get("taskId") or ""),
            msg=html.escape(f["message"]),
            ev=html.escape(", ".join(f"#{i}" for i in f.get("evidence", []))),
        )
        for f in findings
    )
    head = "<tr><th>severity</th><th>check</th><th>task</th><th>what</th><th>journal entries</th></tr>"
    return f"<table class='findings-table findings'><thead>{head}</thead><tbody>{rows}</tbody></table>"


def render_html(data: dict[str, Any], title: str = "mockserver client report") -> str:
    """``data`` (what GET /__admin/timelines answers) as one HTML page."""
    summary = data["report"]["summary"]
    server = data.get("server", {})
    line = (
        f"{summary.get('errors', 0)} errors, {summary.get('warnings', 0)} warnings; "
        f"{summary.get('requests', 0)} requests, {summary.get('tasks', 0)} tasks; "
        f"mockserver {server.get('version', '?')}, {', '.join(server.get('dialects', []))}, "
        f"scenario {server.get('scenario') or 'none'}, seed {server.get('seed')}"
    )
    # In a <script> element only "</" can end it early: escaped, the JSON still parses the same.
    payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False).replace("</", "<\\/")
    return _PAGE.format(
        title=html.escape(title),
        css=read("app.css").decode("utf-8"),
        summary=html.escape(line),
        findings=_findings_table(data["report"]),
        data=payload,
        timeline_js=read("timeline.js").decode("utf-8"),
    )
