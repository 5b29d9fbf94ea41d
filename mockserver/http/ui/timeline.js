// One task on the virtual clock, as SVG: its state bands, every request about it coloured by its
// answer, the model's guidance (initial wait, poll interval, give-up time), result downloads,
// callback attempts, and the report's findings pinned where they happened (evidence on hover).
// Data: GET /__admin/tasks/{id}/timeline. Used by the dashboard and by `mockserver report --html`.
"use strict";

const Timeline = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const W = 960, L = 96, R = 24;
  const ROWS = { state: 28, guidance: 62, requests: 92, downloads: 118, callbacks: 144, findings: 170 };
  const H = 210;

  function el(name, attrs, parent, text) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  function answerClass(entry) {
    if (entry.fault || !entry.status) return "fault";
    if (entry.status >= 500) return "s5xx";
    if (entry.status >= 400) return "s4xx";
    return "s2xx";
  }

  function seconds(ms) {
    const s = ms / 1000;
    return (Math.abs(s) >= 10 ? s.toFixed(0) : s.toFixed(1).replace(/\.0$/, "")) + " s";
  }

  function clock(ms) {
    return new Date(ms).toISOString().slice(11, 23);
  }

  function describeRequest(e, t0) {
    const answer = e.fault ? `fault ${e.fault}` : String(e.status);
    const state = e.state ? ` state=${e.state}` : "";
    const error = e.error && e.status >= 400 ? ` (${e.error})` : "";
    return `#${e.id} +${seconds(e.time - t0)} ${e.method} ${e.path} → ${answer}${state}${error}`;
  }

  function niceStep(spanMs) {
    const steps = [100, 250, 500, 1000, 2000, 5000, 10000, 15000, 30000, 60000, 120000, 300000, 600000, 1800000];
    return steps.find((s) => spanMs / s <= 10) || 3600000;
  }

  function isDownload(e) {
    // A result file: a GET about the task whose path names it (a status poll names it in the query).
    return e.method === "GET" && !e.state && !!e.taskId && e.path.includes(e.taskId);
  }

  // data: the timeline JSON; tip(node, text): attach hover text to a node.
  function render(data, tip) {
    const task = data.task, g = data.guidance || {};
    const t0 = task.createTime;
    const times = [data.now, ...data.requests.map((e) => e.time), ...data.callbacks.map((a) => a.time)];
    if (g.initialWaitMs) times.push(t0 + g.initialWaitMs + (g.pollIntervalMs || 0));
    let end = Math.max(...times);
    const giveUp = g.maxWaitMs ? t0 + g.maxWaitMs : null;
    const giveUpShown = giveUp !== null && giveUp - t0 <= 2.5 * Math.max(end - t0, 1);
    if (giveUpShown) end = Math.max(end, giveUp);
    const span = Math.max(end - t0, 1000) * 1.04;
    const x = (t) => L + ((t - t0) / span) * (W - L - R);

    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, class: "timeline", "data-task": task.taskId });
    for (const [name, y] of Object.entries(ROWS)) el("text", { x: 4, y: y + 4, class: "row-label" }, svg, name);

    // axis, in seconds after the submit
    const axis = el("g", { class: "axis" }, svg);
    el("line", { x1: L, x2: W - R, y1: H - 18, y2: H - 18 }, axis);
    const step = niceStep(span);
    for (let t = 0; t <= span; t += step) {
      el("line", { x1: x(t0 + t), x2: x(t0 + t), y1: H - 18, y2: H - 14 }, axis);
      el("text", { x: x(t0 + t), y: H - 3, "text-anchor": "middle" }, axis, "+" + seconds(t));
    }

    // state bands
    for (const b of data.bands) {
      const w = Math.max(x(b.to) - x(b.from), b.to > b.from ? 1 : 3);
      const band = el("rect", { x: x(b.from), y: ROWS.state - 10, width: w, height: 20, class: `band ${b.state}` }, svg);
      tip(band, `${b.state}: +${seconds(b.from - t0)} → +${seconds(b.to - t0)}`);
      if (w > 60) el("text", { x: x(b.from) + 4, y: ROWS.state + 4 }, svg, b.state);
    }

    // the provider's guidance for this model
    if (g.initialWaitMs) {
      const first = t0 + g.initialWaitMs;
      if (g.pollIntervalMs) {
        let n = 0;
        for (let t = first + g.pollIntervalMs; t <= t0 + span && n < 400; t += g.pollIntervalMs, n++) {
          el("line", { x1: x(t), x2: x(t), y1: ROWS.guidance - 5, y2: ROWS.guidance + 5, class: "poll-tick" }, svg);
        }
      }
      const line = el("line", { x1: x(first), x2: x(first), y1: ROWS.state - 12, y2: ROWS.findings + 8, class: "guide initial-wait" }, svg);
      tip(line, `initial wait: ${seconds(g.initialWaitMs)} after the submit, then a poll every ${seconds(g.pollIntervalMs)}` +
        (g.source ? `\n${g.source}` : ""));
      el("text", { x: x(first) + 3, y: ROWS.guidance - 8, class: "guide-label" }, svg,
        `initial wait ${seconds(g.initialWaitMs)}, poll every ${seconds(g.pollIntervalMs)}`);
    }
    if (giveUp !== null) {
      if (giveUpShown) {
        const line = el("line", { x1: x(giveUp), x2: x(giveUp), y1: ROWS.state - 12, y2: ROWS.findings + 8, class: "guide give-up" }, svg);
        tip(line, `give up: ${seconds(g.maxWaitMs)} after the submit`);
        el("text", { x: x(giveUp) - 3, y: ROWS.guidance + 16, "text-anchor": "end", class: "guide-label" }, svg, `give up ${seconds(g.maxWaitMs)}`);
      } else {
        el("text", { x: W - R, y: ROWS.guidance + 16, "text-anchor": "end", class: "guide-label give-up" }, svg, `give up at +${seconds(g.maxWaitMs)} →`);
      }
    }

    // now (under the marks: it must not hide them from the pointer)
    el("line", { x1: x(data.now), x2: x(data.now), y1: ROWS.state - 14, y2: H - 18, class: "now" }, svg);
    el("text", { x: x(data.now) + 3, y: H - 22, class: "row-label" }, svg, "now");

    // requests (submit and polls) and downloads
    const marks = new Map();
    for (const e of data.requests) {
      const download = isDownload(e);
      const y = download ? ROWS.downloads : ROWS.requests;
      const cls = download ? `mark download ${answerClass(e)}` : `mark request-mark ${answerClass(e)}`;
      const mark = download
        ? el("rect", { x: x(e.time) - 4, y: y - 4, width: 8, height: 8, class: cls, "data-entry": e.id }, svg)
        : el("circle", { cx: x(e.time), cy: y, r: 5, class: cls, "data-entry": e.id }, svg);
      tip(mark, describeRequest(e, t0));
      marks.set(e.id, mark);
    }

    // callback attempts
    for (const a of data.callbacks) {
      const cx = x(a.time), y = ROWS.callbacks;
      const mark = el("path", { d: `M${cx - 5},${y + 4} L${cx + 5},${y + 4} L${cx},${y - 5} Z`, class: `mark callback ${a.outcome}` }, svg);
      tip(mark, `callback attempt ${a.attempt}${a.stage ? ` (${a.stage})` : ""} +${seconds(a.time - t0)}: ${a.outcome}` +
        (a.status ? ` ${a.status}` : "") + (a.error ? ` (${a.error})` : "") + `\n${a.url}`);
    }

    // the report's findings, pinned at their first evidence
    const byId = new Map(data.requests.map((e) => [e.id, e]));
    const pinned = [];
    data.findings.forEach((f) => {
      const evidence = (f.evidence || []).map((id) => byId.get(id)).filter(Boolean);
      const at = evidence.length ? evidence[0].time : data.now;
      let cx = x(at);
      while (pinned.some((p) => Math.abs(p - cx) < 15)) cx += 16; // side by side, never on top of another
      pinned.push(cx);
      const y = ROWS.findings;
      const pin = el("path", { d: `M${cx},${y - 7} L${cx + 7},${y} L${cx},${y + 7} L${cx - 7},${y} Z`,
        class: `finding-mark ${f.severity}`, "data-code": f.code }, svg);
      const lines = [`${f.code} (${f.severity})`, f.message, "evidence:", ...evidence.map((e) => "  " + describeRequest(e, t0))];
      tip(pin, lines.join("\n"), () => evidence.forEach((e) => marks.get(e.id)?.classList.add("evidence")),
        () => evidence.forEach((e) => marks.get(e.id)?.classList.remove("evidence")));
    });

    return svg;
  }

  // Hover text in one floating box (#tooltip), for the dashboard and the HTML report alike.
  function tooltips(box) {
    return (node, text, enter, leave) => {
      node.addEventListener("mouseenter", (ev) => {
        box.textContent = text;
        box.hidden = false;
        box.style.left = Math.min(ev.clientX + 12, window.innerWidth - 540) + "px";
        box.style.top = ev.clientY + 14 + "px";
        if (enter) enter();
      });
      node.addEventListener("mouseleave", () => {
        box.hidden = true;
        if (leave) leave();
      });
    };
  }

  return { render, tooltips, answerClass, clock, seconds };
})();
