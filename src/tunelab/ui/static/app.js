// tunelab ui: router, API client, runs list, launch form, live view. Plain JS, no build step.
// Everything from the server is inserted as text (textContent), never as HTML: model outputs are untrusted.
"use strict";

const TOKEN = new URLSearchParams(location.search).get("token") || "";
const MODELS = ["base", "instruction", "finetune"];
const COLORS = { instruction: "#2b6cb0", finetune: "#c05621" };
let timer = null;

async function api(path, opts = {}) {
  const headers = { "X-Tunelab-Token": TOKEN };
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, {
    method: opts.method || (opts.body !== undefined ? "POST" : "GET"),
    headers,
    body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
  });
  if (opts.raw) return r;
  const data = await r.json();
  if (!r.ok) throw new Error((data.error && data.error.message) || r.statusText);
  return data;
}

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of kids.flat()) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}

function show(...nodes) {
  const m = document.getElementById("main");
  m.replaceChildren(...nodes);
}

function errorBox(msg, id) {
  return el("p", { class: "err", id: id || "error" }, msg);
}

function pct(v) {
  return v === null || v === undefined ? "—" : (100 * v).toFixed(1);
}

function fmtNum(v, percent) {
  return v === null || v === undefined ? "—" : percent ? pct(v) : v.toFixed(3);
}

function badge(state) {
  return el("span", { class: "badge " + state, "data-state": state }, state);
}

function poll(fn, ms) {
  clearInterval(timer);
  fn();
  timer = setInterval(fn, ms);
}

// ------------------------------------------------------------------ loss curves (inline SVG)

function lossSvg(curves, id) {
  const W = 560, H = 220, L = 46, R = 10, T = 10, B = 28;
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("width", W);
  svg.setAttribute("height", H);
  if (id) svg.setAttribute("id", id);
  const pts = [];
  for (const c of Object.values(curves)) pts.push(...(c.train || []), ...(c.val || []));
  const add = (name, attrs, text) => {
    const n = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    svg.append(n);
    return n;
  };
  add("rect", { x: L, y: T, width: W - L - R, height: H - T - B, fill: "#fff", stroke: "#cbd5e0" });
  if (!pts.length) {
    add("text", { x: L + 10, y: H / 2 }, "no loss logged yet");
    return svg;
  }
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  const x0 = 0, x1 = Math.max(...xs, 1), y0 = Math.min(...ys), y1 = Math.max(...ys) + 1e-9;
  const sx = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  add("text", { x: 4, y: T + 10 }, y1.toFixed(2));
  add("text", { x: 4, y: H - B }, y0.toFixed(2));
  add("text", { x: W - R - 60, y: H - 8 }, `step ${x1}`);
  add("text", { x: L, y: H - 8 }, "0");
  let lx = L + 70;
  for (const [name, c] of Object.entries(curves)) {
    for (const [kind, dash] of [["train", ""], ["val", "5,3"]]) {
      const p = c[kind] || [];
      if (!p.length) continue;
      add("polyline", {
        points: p.map((q) => `${sx(q[0]).toFixed(1)},${sy(q[1]).toFixed(1)}`).join(" "),
        fill: "none", stroke: COLORS[name] || "#333", "stroke-width": 2, "stroke-dasharray": dash,
        "data-series": `${name}-${kind}`,
      });
      for (const q of p) add("circle", { cx: sx(q[0]).toFixed(1), cy: sy(q[1]).toFixed(1), r: 2.5, fill: COLORS[name] || "#333" });
    }
    add("text", { x: lx, y: H - 8, style: `fill:${COLORS[name] || "#333"}` }, `${name} (dashed: val)`);
    lx += 150;
  }
  return svg;
}

// ------------------------------------------------------------------ runs list

function headlineText(run) {
  return run.headline
    .map((h) => `${h.name}: ` + MODELS.map((m) => fmtNum(h.models[m], h.percent)).join(" / "))
    .join("; ");
}

async function pageRuns() {
  const table = el("table", { id: "runs-table" });
  show(
    el("h1", {}, "Runs"),
    el("p", {}, el("a", { href: "#/new", id: "new-run" }, "New comparison")),
    table,
    el("p", { class: "muted" }, "Headline numbers: base / instruction / finetune (accuracy in %, bits per byte for forgetting)."),
  );
  poll(async () => {
    let data;
    try {
      data = await api("/api/runs");
    } catch (e) {
      table.replaceChildren(el("tr", {}, el("td", {}, e.message)));
      return;
    }
    const head = el("tr", {}, ["run", "state", "base model", "target", "headline", "created"].map((h) => el("th", {}, h)));
    const rows = data.runs.map((r) =>
      el("tr", { "data-run": r.name },
        el("td", {}, el("a", { href: `#/run/${encodeURIComponent(r.name)}` }, r.name)),
        el("td", {}, badge(r.state)),
        el("td", {}, r.base_model || "—"),
        el("td", {}, r.target || "—"),
        el("td", {}, r.headline.length ? headlineText(r) : "—"),
        el("td", {}, r.created || ""),
      ));
    table.replaceChildren(head, ...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 6 }, "no runs yet"))]));
    table.dataset.loaded = "1";
  }, 3000);
}

// ------------------------------------------------------------------ launch form

async function pageNew() {
  clearInterval(timer);
  const { presets, methods } = await api("/api/presets");
  const names = Object.keys(presets);
  const f = {};
  const input = (id, attrs) => (f[id] = el("input", { id, name: id, ...attrs }));
  const select = (id, opts) => (f[id] = el("select", { id, name: id }, opts.map((o) => el("option", { value: o }, o))));
  const grid = el("form", { class: "grid", id: "launch-form", onsubmit: (e) => e.preventDefault() },
    el("label", { for: "preset" }, "preset"), select("preset", names),
    el("label", { for: "name" }, "run name"), input("name", { value: "run-" + Date.now().toString(36) }),
    el("label", { for: "model" }, "base model (hub id or tunelab-tiny)"), input("model", {}),
    el("label", { for: "target_task" }, "target task"), select("target_task", []),
    el("label", { for: "method" }, "method"), select("method", methods),
    el("label", { for: "max_steps" }, "budget: optimizer steps"), input("max_steps", { type: "number", min: 1 }),
    el("label", { for: "n_per_task" }, "examples per task"), input("n_per_task", { type: "number", min: 1 }),
    el("label", { for: "n_eval" }, "evaluation items per slice"), input("n_eval", { type: "number", min: 1 }),
    el("label", { for: "seed" }, "seed"), input("seed", { type: "number", min: 0 }),
  );
  const yaml = el("pre", { id: "yaml", hidden: true });
  const msg = el("div", { id: "form-msg" });
  let digest = null;
  const launchBtn = el("button", { id: "launch", disabled: true }, "Launch");
  const fill = () => {
    const p = presets[f.preset.value];
    f.model.value = p.model;
    f.target_task.replaceChildren(...p.tasks.map((t) => el("option", { value: t }, t)));
    f.target_task.value = p.target_task;
    f.method.value = p.method;
    for (const k of ["max_steps", "n_per_task", "n_eval", "seed"]) f[k].value = p[k];
  };
  const form = () => {
    const o = {};
    for (const [k, e] of Object.entries(f)) o[k] = e.type === "number" ? (e.value === "" ? null : Number(e.value)) : e.value;
    return o;
  };
  const stale = () => {
    digest = null;
    launchBtn.disabled = true;
    yaml.hidden = true;
  };
  f.preset.addEventListener("change", () => { fill(); stale(); });
  for (const e of Object.values(f)) e.addEventListener("input", stale);
  fill();
  const previewBtn = el("button", { id: "preview", class: "secondary", onclick: async () => {
    msg.replaceChildren();
    try {
      const r = await api("/api/launch/preview", { body: form() });
      yaml.textContent = r.yaml;
      yaml.hidden = false;
      digest = r.digest;
      launchBtn.disabled = false;
    } catch (e) {
      msg.replaceChildren(errorBox(e.message, "form-error"));
    }
  } }, "Show resolved config");
  launchBtn.addEventListener("click", async () => {
    try {
      const r = await api("/api/launch", { body: { form: form(), digest } });
      location.hash = `#/run/${encodeURIComponent(r.name)}`;
    } catch (e) {
      msg.replaceChildren(errorBox(e.message, "form-error"));
    }
  });
  show(
    el("h1", {}, "New comparison"),
    el("p", { class: "muted" }, "Instruction tuning vs fine-tuning from one base model on one budget. Only a preset and these fields can be set; the run goes into the runs folder. The config below is exactly what `tunelab compare` will run."),
    grid,
    el("p", {}, previewBtn, " ", launchBtn),
    msg,
    yaml,
  );
}

// ------------------------------------------------------------------ live view

function fmtEta(s) {
  if (s === null || s === undefined) return "—";
  return s < 90 ? `${Math.round(s)} s` : `${Math.round(s / 60)} min`;
}

async function pageLive(name) {
  const state = el("span", { id: "state" });
  const stage = el("span", { id: "stage" });
  const eta = el("span", { id: "eta" });
  const steps = el("div", { id: "steps" });
  const curves = el("div", { id: "curves" });
  const log = el("pre", { id: "log" });
  const extra = el("div", { id: "live-extra" });
  const cancel = el("button", { id: "cancel", class: "secondary", hidden: true, onclick: async () => {
    cancel.disabled = true;
    try { await api(`/api/runs/${encodeURIComponent(name)}/cancel`, { body: {} }); } catch (e) { extra.replaceChildren(errorBox(e.message)); }
  } }, "Cancel");
  show(
    el("h1", {}, `Run ${name}`),
    el("div", { class: "card" }, "State: ", state, " · stage: ", stage, " · training ETA: ", eta, " ", cancel),
    steps, extra,
    el("h2", {}, "Loss curves"), curves,
    el("h2", {}, "Log"), log,
  );
  poll(async () => {
    let p;
    try {
      p = await api(`/api/runs/${encodeURIComponent(name)}/progress`);
    } catch (e) {
      extra.replaceChildren(errorBox(e.message));
      return;
    }
    state.replaceChildren(badge(p.state));
    stage.textContent = p.model ? `${p.state} ${p.model}` : p.state;
    eta.textContent = fmtEta(p.eta_s);
    steps.replaceChildren(...Object.entries(p.runs).map(([m, r]) =>
      el("div", {}, `${m}: `, el("span", { id: `step-${m}`, "data-step": r.step }, `step ${r.step} / ${r.max_steps}`), r.done ? " (trained)" : "")));
    curves.replaceChildren(lossSvg({ instruction: p.runs.instruction, finetune: p.runs.finetune }, "live-loss"));
    log.textContent = p.log.join("\n");
    const running = ["starting", "training", "evaluating", "reporting"].includes(p.state);
    cancel.hidden = !(running && p.launched_here);
    if (p.state === "failed") extra.replaceChildren(errorBox(`The run failed: ${p.error || "no message"}`, "run-error"));
    else if (p.state === "done") {
      clearInterval(timer);
      extra.replaceChildren(el("p", { class: "note" }, "Finished. ", el("a", { id: "open-results", href: `#/run/${encodeURIComponent(name)}/results` }, "Open the results")));
    } else if (p.state === "cancelled") extra.replaceChildren(el("p", { class: "note", id: "cancelled" }, "This run was cancelled."));
  }, 1000);
}

// ------------------------------------------------------------------ router

function route() {
  clearInterval(timer);
  const h = location.hash.replace(/^#\/?/, "");
  const parts = h.split("/").map(decodeURIComponent);
  const run = (fn) => fn().catch((e) => show(errorBox(e.message)));
  if (!h) return run(pageRuns);
  if (parts[0] === "new") return run(pageNew);
  if (parts[0] === "run" && parts[1]) {
    const sub = parts[2] || "";
    if (sub === "results") return run(() => window.tunelabResults.pageResults(parts[1]));
    if (sub === "judge") return run(() => window.tunelabResults.pageJudge(parts[1]));
    if (sub === "chat") return run(() => window.tunelabResults.pageChat(parts[1]));
    return run(() => pageLive(parts[1]));
  }
  show(errorBox("no such page"));
}

window.tunelab = { api, el, show, errorBox, pct, fmtNum, lossSvg, badge, MODELS, poll, stopPoll: () => clearInterval(timer) };
window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", route);
