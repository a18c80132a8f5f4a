// tunelab ui: results (report tables, curves, flipped items), blind judging, side-by-side chat.
"use strict";

(function () {
  const { api, el, show, errorBox, pct, fmtNum, lossSvg, MODELS } = window.tunelab;
  const enc = encodeURIComponent;

  function tabs(name, here) {
    const t = [["results", "Results"], ["judge", "Judge blind"], ["chat", "Chat"]];
    return el("p", { class: "tabs" }, el("a", { href: `#/run/${enc(name)}` }, "Live view"),
      t.map(([k, label]) => (k === here ? el("b", {}, label, " ") : el("a", { href: `#/run/${enc(name)}/${k}`, id: `tab-${k}` }, label))));
  }

  function select(id, options, value) {
    const s = el("select", { id }, options.map(([v, label]) => el("option", { value: v }, label)));
    if (value !== undefined) s.value = value;
    return s;
  }

  function headlineTable(r) {
    const head = el("tr", {}, ["slice", "metric", "n", ...MODELS, "instruction − finetune (paired 95% CI)"].map((h) => el("th", {}, h)));
    const rows = r.headline.map((h) => {
      const p = (r.pairs[h.key] || {})["instruction-finetune"];
      const diff = p ? `${fmtNum(p.diff, h.percent)} [${fmtNum(p.ci[0], h.percent)}, ${fmtNum(p.ci[1], h.percent)}]` : "—";
      return el("tr", {}, el("td", {}, h.name), el("td", {}, h.metric + (h.percent ? " (%)" : "")), el("td", { class: "num" }, h.n),
        MODELS.map((m) => el("td", { class: "num" }, fmtNum(h.models[m], h.percent))), el("td", { class: "num" }, diff));
    });
    return el("table", { id: "headline" }, head, ...rows);
  }

  function flipCard(it, a, b) {
    return el("div", { class: "card flip", "data-slice": it.slice, "data-task": it.task },
      el("div", { class: "muted" }, `${it.slice} · ${it.task} · ${it.id}`),
      el("pre", { class: "prompt" }, it.prompt),
      el("div", {}, "gold: ", el("b", {}, String(it.gold))),
      el("table", {}, el("tr", {}, MODELS.map((m) => el("th", {}, m + (m === a || m === b ? " *" : "")))),
        el("tr", {}, MODELS.map((m) => el("td", {}, el("pre", {}, it.outputs[m]),
          el("span", { class: it.strict[m] ? "ok" : "bad" }, it.strict[m] ? "right" : "wrong"))))));
  }

  async function pageResults(name) {
    const r = await api(`/api/runs/${enc(name)}/results`);
    const sliceOpts = [["", "all slices"], ...Object.entries(r.item_slices).map(([k, v]) => [k, `${v.name} (${v.n})`])];
    const fa = select("flips-a", MODELS.map((m) => [m, m]), "finetune");
    const fb = select("flips-b", MODELS.map((m) => [m, m]), "base");
    const fs = select("flips-slice", sliceOpts, "");
    const ft = select("flips-task", [["", "all tasks"], ...r.tasks.map((t) => [t, t])], "");
    const fm = select("flips-mode", [["strict", "strict"], ["lenient", r.lenient ? "lenient" : "lenient (not recorded)"]], "strict");
    if (!r.lenient) fm.options[1].disabled = true;
    const count = el("p", { id: "flips-count" });
    const list = el("div", { id: "flips" });
    const load = async () => {
      if (fa.value === fb.value) {
        count.textContent = "pick two different models";
        list.replaceChildren();
        return;
      }
      const q = new URLSearchParams({ a: fa.value, b: fb.value, slice: fs.value, task: ft.value, mode: fm.value });
      try {
        const f = await api(`/api/runs/${enc(name)}/flips?${q}`);
        count.textContent = `${f.n} items; ${f.a_only.length} right only for ${f.a}, ${f.b_only.length} right only for ${f.b} (${f.mode})`;
        count.dataset.aOnly = f.a_only.length;
        count.dataset.bOnly = f.b_only.length;
        count.dataset.n = f.n;
        list.replaceChildren(
          el("h3", {}, `right only for ${f.a}`), ...f.a_only.slice(0, 50).map((it) => flipCard(it, f.a, f.b)),
          el("h3", {}, `right only for ${f.b}`), ...f.b_only.slice(0, 50).map((it) => flipCard(it, f.a, f.b)));
      } catch (e) {
        list.replaceChildren(errorBox(e.message));
      }
    };
    for (const s of [fa, fb, fs, ft, fm]) s.addEventListener("change", load);
    show(
      el("h1", {}, `Results: ${r.title || name}`), tabs(name, "results"),
      r.tiny ? el("p", { class: "note" }, "Demonstration at toy scale on tunelab's embedded 3.7M-parameter base model.") : null,
      el("p", {}, el("b", {}, "Base model "), r.base_model, ". ", el("b", {}, "Budget: "), r.budget || ""),
      el("h2", {}, "Verdict"), el("ul", { id: "verdict" }, r.verdict.map((v) => el("li", {}, v))),
      el("h2", {}, "Results (95% CIs)"), headlineTable(r),
      el("h2", {}, "Loss curves"), lossSvg(r.curves, "results-loss"),
      el("h2", {}, "Items that flipped"),
      el("p", {}, "between ", fa, " and ", fb, " in ", fs, " task ", ft, " scoring ", fm), count, list,
      el("h2", {}, "The full report"),
      r.has_report ? el("iframe", { id: "report", src: `/api/runs/${enc(name)}/report.html`, title: "report" }) : el("p", {}, "no report yet"),
    );
    await load();
  }

  // ---------------------------------------------------------------- blind judging

  function rateRows(res) {
    const a = res.systems.a, b = res.systems.b;
    const cell = (m) => (m ? `${pct(m.value)}% [${pct(m.ci_low)}, ${pct(m.ci_high)}]` : "—");
    const rows = [[`${a} preferred (win rate)`, cell(res.win_rate), "winrate"], [`${b} preferred`, cell(res.loss_rate), "lossrate"],
      ["tie", cell(res.tie_rate), "tierate"], ["both bad", cell(res.both_bad_rate), "bothbadrate"]];
    for (const [k, v] of Object.entries(res.kappa || {})) rows.push([`Cohen's kappa ${k.replace("|", " vs ")}`, v.toFixed(2), "kappa"]);
    return rows.map(([k, v, id]) => el("tr", {}, el("td", {}, k), el("td", { class: "num", id }, v)));
  }

  async function pageJudge(name) {
    const summaryBox = el("div", { id: "judge-summary" });
    const itemBox = el("div", { id: "judge-item" });
    const rater = el("input", { id: "rater", value: localStorage.getItem("tunelab-rater") || "rater1" });
    rater.addEventListener("change", () => { localStorage.setItem("tunelab-rater", rater.value); nextItem(); });
    const refreshSummary = async () => {
      const s = await api(`/api/runs/${enc(name)}/judge`);
      if (!s.systems) return s;
      const rep = s.report.updating ? "report.md / report.html: updating…" : s.report.updated ? `report.md / report.html updated at ${s.report.updated}` : "";
      summaryBox.replaceChildren(
        el("p", {}, `Judging ${s.systems.a} (A) vs ${s.systems.b} (B): ${s.n_items} items whose answers differ.`),
        s.result ? el("div", {}, el("p", {}, `${s.result.n_judgments} judgments of ${s.result.n_items} items by ${s.result.raters.join(", ")}.`),
          el("table", { id: "rates" }, rateRows({ ...s.result, systems: s.systems })))
          : el("p", { class: "muted" }, "no votes yet"),
        el("p", { class: "muted", id: "report-status", "data-updating": s.report.updating ? "1" : "0" }, rep));
      return s;
    };
    const vote = async (item, preference, comment, btns, reveal) => {
      btns.forEach((x) => (x.disabled = true));
      try {
        const v = await api(`/api/runs/${enc(name)}/judge/vote`, { body: { item, preference, rater: rater.value, comment: comment.value } });
        reveal.replaceChildren(el("p", { class: "note", id: "revealed" }, `Left was ${v.left_model}, right was ${v.right_model}. `,
          el("button", { id: "next", onclick: nextItem }, "Next item")));
        await refreshSummary();
      } catch (e) {
        reveal.replaceChildren(errorBox(e.message));
      }
    };
    const nextItem = async () => {
      const n = await api(`/api/runs/${enc(name)}/judge/next?${new URLSearchParams({ rater: rater.value })}`);
      if (!n.item) {
        itemBox.replaceChildren(el("p", { class: "note", id: "judge-done" }, `${rater.value} has judged all ${n.total} items.`));
        return;
      }
      const it = n.item;
      const comment = el("input", { id: "comment", placeholder: "comment (optional)", size: 60 });
      const reveal = el("div", { id: "reveal" });
      const btns = [["left", "Left is better"], ["right", "Right is better"], ["tie", "Tie"], ["both_bad", "Both bad"]].map(([p, label]) =>
        el("button", { id: `vote-${p}`, class: p === "tie" || p === "both_bad" ? "secondary" : null }, label));
      btns.forEach((x, i) => x.addEventListener("click", () => vote(it.item, ["left", "right", "tie", "both_bad"][i], comment, btns, reveal)));
      itemBox.replaceChildren(
        el("p", { class: "muted", id: "judge-progress" }, `item ${n.judged + 1} of ${n.total} · ${it.item}`),
        el("pre", { class: "prompt" }, it.prompt),
        el("div", { class: "row" }, el("div", { class: "col" }, el("b", {}, "Left"), el("pre", { id: "answer-left" }, it.left)),
          el("div", { class: "col" }, el("b", {}, "Right"), el("pre", { id: "answer-right" }, it.right))),
        el("p", {}, ...btns.flatMap((x) => [x, " "])), el("p", {}, comment), reveal);
    };
    // the win rates and the report's state follow the votes (the report is rewritten in the background)
    const keepSummaryFresh = () => window.tunelab.poll(async () => {
      try { await refreshSummary(); } catch (e) { summaryBox.replaceChildren(errorBox(e.message)); }
    }, 2000);
    show(el("h1", {}, `Judge blind: ${name}`), tabs(name, "judge"),
      el("p", { class: "muted" }, "The models' names stay hidden until you vote; which model is left was drawn at random per item and is recorded. Votes go to human/votes.jsonl and count in report.html / report.md."),
      el("p", {}, "rater ", rater), summaryBox, itemBox);
    const s = await refreshSummary();
    if (!s.systems) {
      const a = select("judge-a", MODELS.map((m) => [m, m]), "instruction");
      const b = select("judge-b", MODELS.map((m) => [m, m]), "finetune");
      const msg = el("div");
      summaryBox.replaceChildren(el("p", {}, "Judge ", a, " against ", b, " ",
        el("button", { id: "judge-start", onclick: async () => {
          try {
            await api(`/api/runs/${enc(name)}/judge/start`, { body: { a: a.value, b: b.value } });
            keepSummaryFresh();
            await nextItem();
          } catch (e) { msg.replaceChildren(errorBox(e.message)); }
        } }, "Start")), msg);
      return;
    }
    keepSummaryFresh();
    await nextItem();
  }

  // ---------------------------------------------------------------- chat

  async function pageChat(name) {
    const a = select("chat-a", MODELS.map((m) => [m, m]), "instruction");
    const b = select("chat-b", MODELS.map((m) => [m, m]), "finetune");
    const msg = el("textarea", { id: "chat-msg", rows: 3, cols: 80 }, "Headline: Acme Corp raises full-year guidance\nSentiment:");
    const outA = el("pre", { id: "chat-out-a" }), outB = el("pre", { id: "chat-out-b" });
    const headA = el("b", {}), headB = el("b", {});
    const status = el("p", { id: "chat-status", class: "muted" });
    const send = el("button", { id: "chat-send" }, "Send to both");
    send.addEventListener("click", async () => {
      if (a.value === b.value) { status.replaceChildren(errorBox("pick two different models")); return; }
      send.disabled = true;
      outA.textContent = outB.textContent = "";
      headA.textContent = a.value;
      headB.textContent = b.value;
      status.textContent = "loading the models and generating…";
      const out = { [a.value]: outA, [b.value]: outB };
      try {
        const r = await api(`/api/runs/${enc(name)}/chat`, { body: { models: [a.value, b.value], message: msg.value, max_new_tokens: 64 }, raw: true });
        if (!r.ok) throw new Error(((await r.json()).error || {}).message || r.statusText);
        const reader = r.body.getReader();
        const dec = new TextDecoder();
        let buf = "", finished = 0;
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += dec.decode(value, { stream: true });
          let i;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            const line = buf.slice(0, i);
            buf = buf.slice(i + 2);
            if (!line.startsWith("data: ")) continue;
            const ev = JSON.parse(line.slice(6));
            if (ev.delta) out[ev.model].textContent += ev.delta;
            if (ev.done || ev.error) finished += 1;
            if (ev.error) out[ev.model].textContent += `\n[error: ${ev.error}]`;
          }
        }
        status.textContent = finished === 2 ? "both answered" : "stream ended";
        status.dataset.done = "1";
      } catch (e) {
        status.replaceChildren(errorBox(e.message));
      } finally {
        send.disabled = false;
      }
    });
    show(el("h1", {}, `Chat: ${name}`), tabs(name, "chat"),
      el("p", { class: "muted" }, "One message to two models, greedy decoding, at most 64 new tokens; each model gets the prompt format it was trained on (chat template, or the fine-tuned model's plain format)."),
      el("p", {}, a, " vs ", b), el("p", {}, msg), el("p", {}, send), status,
      el("div", { class: "row" }, el("div", { class: "col" }, headA, outA), el("div", { class: "col" }, headB, outB)));
  }

  window.tunelabResults = { pageResults, pageJudge, pageChat };
})();
