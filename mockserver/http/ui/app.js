// The dashboard: reads the admin API, follows /__admin/events, redraws what changed.
// No framework, no build step. The admin token (when the server has one) is asked for in the page,
// kept in this tab's sessionStorage and sent as a header: never in a URL.
"use strict";

const ADMIN = new URL("../", location.href).pathname.replace(/\/$/, "");
const TOKEN_KEY = "mockserverAdminToken";
const MAX_JOURNAL_ROWS = 500;
const $ = (id) => document.getElementById(id);

const ui = {
  token: sessionStorage.getItem(TOKEN_KEY) || "",
  selected: null,
  tasks: [],
  journal: [],
  models: new Set(),
  refreshTimer: null,
  stream: null,
};
const tip = Timeline.tooltips($("tooltip"));

function headers(extra) {
  const h = Object.assign({}, extra || {});
  if (ui.token) h.Authorization = "Bearer " + ui.token;
  return h;
}

async function api(path, options) {
  const opts = Object.assign({}, options || {});
  opts.headers = headers(opts.headers);
  const r = await fetch(ADMIN + path, opts);
  if (r.status === 401) {
    askToken();
    throw new Error("admin token required");
  }
  if (!r.ok) throw new Error(`${path}: ${r.status}`);
  return r.json();
}

function askToken() {
  $("token-form").hidden = false;
  $("token-input").focus();
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function since(ms, t0) {
  return ms === undefined || ms === null ? "" : "+" + Timeline.seconds(ms - t0);
}

// -- panels --------------------------------------------------------------------------------

async function refreshServer() {
  const h = await api("/health");
  $("server-info").textContent = `${h.version} · ${h.dialects.join(", ")} · scenario ${h.scenario || "none"} · seed ${h.seed}`;
  $("scenario-name").textContent = h.scenario || "none";
}

async function refreshClock() {
  const c = await api("/clock");
  $("clock-now").textContent = `${Timeline.clock(c.now)} (${c.mode}) · ${c.unfinished} unfinished`;
}

async function refreshTasks() {
  const { tasks } = await api("/tasks");
  ui.tasks = tasks;
  for (const t of tasks) {
    if (!ui.models.has(t.model)) {
      ui.models.add(t.model);
      const opt = document.createElement("option");
      opt.textContent = t.model;
      $("filter-model").appendChild(opt);
    }
  }
  drawTasks();
}

function drawTasks() {
  const key = $("filter-key").value.trim(), model = $("filter-model").value, state = $("filter-state").value;
  const shown = ui.tasks.filter((t) => (!key || (t.key || "").includes(key)) && (!model || t.model === model) && (!state || t.state === state));
  const body = $("tasks").tBodies[0];
  body.replaceChildren();
  for (const t of shown) {
    const row = document.createElement("tr");
    row.dataset.task = t.taskId;
    if (t.taskId === ui.selected) row.classList.add("selected");
    cell(row, t.taskId);
    cell(row, t.dialect);
    cell(row, t.model);
    cell(row, t.key);
    const st = cell(row, "");
    const badge = document.createElement("span");
    badge.className = `state ${t.state}`;
    badge.textContent = t.state;
    st.appendChild(badge);
    cell(row, t.polls);
    cell(row, Timeline.clock(t.createTime));
    cell(row, since(t.completeTime, t.createTime));
    row.addEventListener("click", () => select(t.taskId));
    body.appendChild(row);
  }
  $("tasks-count").textContent = `${shown.length} of ${ui.tasks.length}`;
}

function select(taskId) {
  ui.selected = taskId;
  drawTasks();
  refreshTimeline();
}

async function refreshTimeline() {
  if (!ui.selected) return;
  let data;
  try {
    data = await api(`/tasks/${encodeURIComponent(ui.selected)}/timeline`);
  } catch (e) {
    $("timeline").replaceChildren();
    $("timeline-title").textContent = "task gone (reset?)";
    ui.selected = null;
    return;
  }
  const t = data.task;
  $("timeline-title").textContent = `${t.taskId} · ${t.model} (${t.dialect}) · ${t.state} · ${data.requests.length} requests`;
  $("timeline").replaceChildren(Timeline.render(data, tip));
  const list = $("findings");
  list.replaceChildren();
  for (const f of data.findings) {
    const li = document.createElement("li");
    li.className = f.severity;
    li.textContent = `${f.code}: ${f.message}`;
    list.appendChild(li);
  }
}

function journalRow(e) {
  const li = document.createElement("li");
  const cls = Timeline.answerClass(e);
  li.className = cls;
  li.dataset.answer = cls;
  const answer = e.fault ? `fault:${e.fault}` : e.status;
  const state = e.state ? ` ${e.state}` : "";
  li.textContent = `${Timeline.clock(e.time)} #${e.id} ${e.key || "-"} ${e.method} ${e.path}${e.query ? "?" + e.query : ""} ${answer}${state}`;
  if (e.error && e.status >= 400) li.title = e.error;
  return li;
}

function journalShown(li) {
  const text = $("journal-filter").value.trim().toLowerCase(), answer = $("journal-status").value;
  return (!text || li.textContent.toLowerCase().includes(text) || (li.title || "").toLowerCase().includes(text)) &&
    (!answer || li.dataset.answer === answer);
}

function addJournal(e) {
  const list = $("journal");
  const li = journalRow(e);
  li.hidden = !journalShown(li);
  list.prepend(li);
  while (list.children.length > MAX_JOURNAL_ROWS) list.lastChild.remove();
  $("journal-count").textContent = `${list.children.length} shown`;
}

function journalNote(text) {
  const li = document.createElement("li");
  li.className = "note";
  li.textContent = text;
  $("journal").prepend(li);
}

async function refreshJournal() {
  const { entries } = await api(`/journal?limit=${MAX_JOURNAL_ROWS}`);
  $("journal").replaceChildren();
  for (const e of entries) addJournal(e);
}

function filterJournal() {
  for (const li of $("journal").children) if (!li.classList.contains("note")) li.hidden = !journalShown(li);
}

async function refreshCallbacks() {
  const { attempts, pending } = await api("/callbacks?limit=200");
  const body = $("callbacks").tBodies[0];
  body.replaceChildren();
  for (const a of attempts.slice().reverse()) {
    const row = document.createElement("tr");
    cell(row, Timeline.clock(a.time));
    cell(row, a.taskId);
    cell(row, a.attempt);
    cell(row, a.outcome, a.outcome === "delivered" ? "s2xx" : "s5xx");
    cell(row, a.status ?? a.error ?? "");
    cell(row, a.url, "url");
    body.appendChild(row);
  }
  $("callbacks-count").textContent = `${attempts.length} attempts, ${pending.length} scheduled`;
}

async function refreshScenario() {
  const doc = await api("/scenario");
  $("scenario-yaml").textContent = toYaml(doc) || "{}";
  const { rules } = await api("/rules");
  const body = $("rules").tBodies[0];
  body.replaceChildren();
  for (const r of rules) {
    const row = document.createElement("tr");
    const { when, ...then } = r.rule;
    cell(row, r.index);
    cell(row, JSON.stringify(when || {}));
    cell(row, JSON.stringify(then));
    cell(row, r.matches);
    cell(row, r.acts + (r.spent ? " (spent)" : ""));
    body.appendChild(row);
  }
}

// A scenario document as YAML, the way the library's files are written.
function toYaml(value, indent = "") {
  const scalar = (v) => (v === null ? "null" : typeof v === "string" ? (/^[\w./ -]*$/.test(v) && v !== "" && !/^(true|false|null|\d)/.test(v) ? v : JSON.stringify(v)) : String(v));
  if (Array.isArray(value)) {
    if (!value.length) return "[]";
    return value.map((v) => {
      const inner = typeof v === "object" && v !== null ? toYaml(v, indent + "  ").replace(/^\s+/, "") : scalar(v);
      return `${indent}- ${inner}`;
    }).join("\n");
  }
  if (typeof value === "object" && value !== null) {
    const keys = Object.keys(value);
    if (!keys.length) return "{}";
    return keys.map((k) => {
      const v = value[k];
      if (typeof v === "object" && v !== null && Object.keys(v).length) return `${indent}${k}:\n${toYaml(v, indent + "  ")}`;
      return `${indent}${k}: ${typeof v === "object" && v !== null ? (Array.isArray(v) ? "[]" : "{}") : scalar(v)}`;
    }).join("\n");
  }
  return indent + scalar(value);
}

async function refreshAll() {
  await Promise.all([refreshServer(), refreshClock(), refreshTasks(), refreshJournal(), refreshCallbacks(), refreshScenario()]);
  await refreshTimeline();
}

// After events, redraw what they touch, at most a few times a second.
function soon() {
  if (ui.refreshTimer) return;
  ui.refreshTimer = setTimeout(async () => {
    ui.refreshTimer = null;
    try {
      await Promise.all([refreshClock(), refreshTasks(), refreshCallbacks(), refreshTimeline()]);
    } catch (e) { /* shown by the token form, or retried on the next event */ }
  }, 150);
}

// -- the live stream -----------------------------------------------------------------------

function onEvent(kind, data) {
  if (kind === "hello") {
    setLive(true);
  } else if (kind === "request") {
    addJournal(data);
    soon();
  } else if (kind === "callback") {
    soon();
  } else if (kind === "dropped") {
    journalNote(`${data.count} events missed (the page fell behind)`);
    refreshAll().catch(() => {});
  } else if (kind === "reset" || kind === "scenario" || kind === "clock") {
    if (kind !== "clock") journalNote(kind === "reset" ? "reset" : `scenario loaded: ${data.name}`);
    (kind === "clock" ? Promise.all([refreshClock(), refreshTasks(), refreshCallbacks(), refreshTimeline()]) : refreshAll()).catch(() => {});
  }
}

function setLive(on) {
  $("live").textContent = on ? "live" : "offline";
  $("live").className = "badge " + (on ? "on" : "off");
}

// EventSource cannot send a header, so the stream is read with fetch.
async function follow() {
  for (;;) {
    const abort = new AbortController();
    ui.stream = abort;
    try {
      const r = await fetch(ADMIN + "/events", { headers: headers({ Accept: "text/event-stream" }), signal: abort.signal, cache: "no-store" });
      if (r.status === 401) {
        askToken();
        setLive(false);
        return;
      }
      const reader = r.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          let kind = null, data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("event:")) kind = line.slice(6).trim();
            else if (line.startsWith("data:")) data += line.slice(5).trim();
          }
          if (kind) onEvent(kind, JSON.parse(data));
        }
      }
    } catch (e) {
      if (abort.signal.aborted) return;
    }
    setLive(false);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

// -- controls ------------------------------------------------------------------------------

async function advance(body) {
  await api("/clock/advance", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  await Promise.all([refreshClock(), refreshTasks(), refreshCallbacks(), refreshTimeline()]);
}

function wire() {
  $("advance-by").addEventListener("click", () => {
    const ms = Math.max(0, Math.round(parseFloat($("advance-seconds").value || "0") * 1000));
    advance({ ms });
  });
  $("advance-next").addEventListener("click", () => advance({ to: "next" }));
  $("advance-idle").addEventListener("click", () => advance({ to: "idle" }));
  $("reset").addEventListener("click", async () => {
    await api("/reset", { method: "POST" });
    ui.selected = null;
    $("timeline").replaceChildren();
    $("findings").replaceChildren();
    $("timeline-title").textContent = "select a task";
    await refreshAll();
  });
  for (const id of ["filter-key", "filter-model", "filter-state"]) $(id).addEventListener("input", drawTasks);
  for (const id of ["journal-filter", "journal-status"]) $(id).addEventListener("input", filterJournal);
  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    ui.token = $("token-input").value;
    sessionStorage.setItem(TOKEN_KEY, ui.token);
    $("token-form").hidden = true;
    if (ui.stream) ui.stream.abort();
    start();
  });
}

function start() {
  refreshAll().catch(() => {});
  follow();
  // A real clock moves without events: keep the clock and the task states current.
  if (!ui.ticker) ui.ticker = setInterval(() => Promise.all([refreshClock(), refreshTasks()]).catch(() => {}), 2000);
}

wire();
start();
