"""Render a comparison (``compare.json``) as a self-contained ``report.html`` and a ``report.md``.

The report shows what was measured and how: the base model (and, for the tiny model, that this is a
toy-scale demonstration), the verdict derived from the numbers, a per-slice table with 95% CIs and
paired differences, plots (loss curves with the overfitting region, metric bars with CI whiskers),
example outputs side by side, the cost table, and the metric definitions and decoding settings.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from tunelab._atomic import write_text_atomic
from tunelab.compare._human import human_html, human_judgement, human_markdown
from tunelab.compare._plots import loss_curves_png, slice_bars_png
from tunelab.errors import InputError

__all__ = ["render_report", "load_comparison"]

MODELS = ["base", "instruction", "finetune"]


def load_comparison(run_dir: str | Path) -> dict[str, Any]:
    """Read ``RUN_DIR/compare.json``.

    Raises:
        InputError: the folder has no readable compare.json.
    """
    p = Path(run_dir) / "compare.json"
    if not p.is_file():
        raise InputError("no compare.json here (run `tunelab compare` first)", file=str(run_dir))
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON: {e.msg}", file=str(p), line=e.lineno) from e
    if not isinstance(data, dict) or "slices" not in data:
        raise InputError("not a tunelab comparison (no 'slices')", file=str(p), field="slices")
    if "methods" in data and "approaches" not in data:  # written before the key was renamed (one release)
        data["approaches"] = data.pop("methods")
    return data


def _fmt(v: float | None, pct: bool) -> str:
    if v is None:
        return "n/a"
    return f"{100 * v:.1f}" if pct else f"{v:.3f}"


def _cell(r: dict[str, Any] | None, pct: bool) -> str:
    if not r:
        return "—"
    s = _fmt(r.get("value"), pct)
    ci = r.get("ci")
    if ci:
        s += f" [{_fmt(ci[0], pct)}, {_fmt(ci[1], pct)}]"
    return s


def _pair_text(p: dict[str, Any], pct: bool) -> str:
    d = p.get("diff")
    ci = p.get("ci") or [None, None]
    txt = f"{'+' if d is not None and d >= 0 else ''}{_fmt(d, pct)} [{_fmt(ci[0], pct)}, {_fmt(ci[1], pct)}]"
    if p.get("mcnemar_p") is not None:
        txt += f", McNemar p={p['mcnemar_p']:.3g}"
    if p.get("flipped") is not None:
        f = p["flipped"]
        txt += f", flips {f.get('gained', 0)}↑/{f.get('lost', 0)}↓"
    return txt


def _slice_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for key, s in data["slices"].items():
        pct = s.get("scale", "fraction") == "fraction"
        rows.append({"key": key, "slice": s, "pct": pct})
    return rows


def _curves(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for name, m in data.get("approaches", {}).items():
        c = m.get("curve", {})
        out[name] = {
            "train": [tuple(x) for x in c.get("train", [])],
            "val": [tuple(x) for x in c.get("val", [])],
            "overfit_from": m.get("overfitting", {}).get("overfit_from_step"),
            "best_step": m.get("overfitting", {}).get("best_step"),
        }
    return out


OVERFIT_HEADER = [
    "approach",
    "final train loss",
    "final val loss",
    "gap",
    "best step",
    "early stop",
    "overfit warning",
]
COST_HEADER = [
    "approach",
    "wall time (s)",
    "steps",
    "target tokens",
    "tokens/s",
    "peak memory (GiB)",
    "trainable params",
]


def _overfit_rows(data: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name, m in data.get("approaches", {}).items():
        o = m.get("overfitting", {})
        rows.append([
            name, _fmt(o.get("final_train_loss"), False), _fmt(o.get("final_val_loss"), False),
            _fmt(o.get("gap"), False), str(o.get("best_step", "n/a")), str(o.get("early_stop_step") or "no"),
            "yes" if o.get("overfit_warning") else "no",
        ])  # fmt: skip
    return rows


def _cost_rows(data: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name, m in data.get("approaches", {}).items():
        c = m.get("cost", {})
        rows.append([
            name, f"{c.get('wall_s', 0):.1f}", str(c.get("steps", "")), f"{c.get('target_tokens', 0):,}",
            f"{c.get('tokens_per_s', 0):,.0f}", f"{c.get('peak_memory_gib', 0):.2f}",
            f"{c.get('trainable_params', 0):,}",
        ])  # fmt: skip
    return rows


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return out + ["| " + " | ".join(r) + " |" for r in rows]


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    body = "".join(
        "<tr><td>" + e(r[0]) + "</td>" + "".join(f"<td class='num'>{e(c)}</td>" for c in r[1:]) + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def render_markdown(data: dict[str, Any]) -> str:
    """The report as Markdown (terminals, pull requests)."""
    lines = [f"# tunelab comparison: {data.get('title', 'instruction tuning vs fine-tuning')}", ""]
    source = f" ({data['base_model_source']})" if data.get("base_model_source") else ""
    lines.append(f"Base model: `{data['base_model']}`{source}.")
    if data.get("tiny"):
        lines.append(
            "**This is a demonstration at toy scale** on tunelab's embedded 3.7M-parameter base model: "
            "the numbers show what was measured here, not what a real model would do."
        )
    b = data.get("budget", {})
    lines += ["", f"Budget (same for both approaches): {b.get('description', '')}", "", "## Verdict", ""]
    lines += [f"- {v}" for v in data.get("verdict", [])]
    lines += ["", "## Results (95% CIs; paired differences on the same items)", ""]
    lines.append("| slice | metric | n | base | instruction | finetune | instruction − finetune |")
    lines.append("|---|---|---|---|---|---|---|")
    for r in _slice_rows(data):
        s, pct = r["slice"], r["pct"]
        pair = s.get("pairs", {}).get("instruction-finetune")
        lines.append(
            f"| {s['name']} | {s['metric']}{' (%)' if pct else ''} | {s.get('n', '')} | "
            + " | ".join(_cell(s["models"].get(m), pct) for m in MODELS)
            + f" | {_pair_text(pair, pct) if pair else '—'} |"
        )
    lines += ["", "## Overfitting", "", *_md_table(OVERFIT_HEADER, _overfit_rows(data))]
    lines += ["", "## Cost", "", *_md_table(COST_HEADER, _cost_rows(data))]
    lines += ["", "## Example outputs", ""]
    for r in _slice_rows(data):
        ex = r["slice"].get("examples") or []
        if not ex:
            continue
        lines.append(f"### {r['slice']['name']}")
        for e in ex[:3]:
            lines.append(f"- prompt: `{_short(e['prompt'])}` — gold: `{e['gold']}`")
            for m in MODELS:
                if m in e["outputs"]:
                    lines.append(f"  - {m}: `{_short(e['outputs'][m])}`")
        lines.append("")
    if data.get("human"):
        lines += human_markdown(data["human"])
    lines += ["## How these numbers were computed", ""]
    for r in _slice_rows(data):
        s = r["slice"]
        lines.append(f"- **{s['name']}**: {s.get('description', '')} Metric: {s.get('how', s['metric'])}")
    if data.get("contamination"):
        lines.append(f"- Decontamination: {_contamination_text(data['contamination'])}")
    if data.get("decoding"):
        lines.append(f"- Decoding: {json.dumps(data['decoding'])}")
    if data.get("statistics"):
        lines.append(f"- Statistics: {data['statistics']}")
    return "\n".join(lines) + "\n"


def _contamination_text(c: dict[str, Any]) -> str:
    per = "; ".join(
        f"{k}: {v['dropped_seen_in_training']} of {v['candidates']} candidates dropped, {v['kept']} kept"
        for k, v in c.get("slices", {}).items()
    )
    return f"{c.get('rule', '')} ({per})."


def _short(s: Any, n: int = 140) -> str:
    t = str(s).replace("\n", " ⏎ ").replace("`", "'")
    return t if len(t) <= n else t[: n - 1] + "…"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2rem auto;padding:0 1rem;
color:#1a202c;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #e2e8f0;padding-bottom:.2rem}
.toy{background:#fffbea;border:1px solid #f6e05e;padding:.6rem .9rem;border-radius:6px}
table{border-collapse:collapse;font-size:.9rem;margin:.6rem 0;display:block;overflow-x:auto}
th,td{border:1px solid #e2e8f0;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f7fafc}td.num{font-variant-numeric:tabular-nums;white-space:nowrap}
.verdict li{margin:.25rem 0}img{max-width:100%;height:auto;border:1px solid #edf2f7}
pre{white-space:pre-wrap;background:#f7fafc;padding:.4rem;border-radius:4px;font-size:.8rem;margin:0}
.muted{color:#718096;font-size:.85rem}
"""


def render_html(data: dict[str, Any]) -> str:
    """The report as one self-contained HTML page (plots embedded as base64 PNG)."""
    e = html.escape
    rows = _slice_rows(data)
    bar_slices = [
        {"name": r["slice"]["name"], "metric": r["slice"]["metric"], "models": r["slice"]["models"]}
        for r in rows
        if r["pct"]
    ]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>tunelab report: {e(data.get('title', 'comparison'))}</title><style>{_CSS}</style></head><body>",
        f"<h1>Instruction tuning vs fine-tuning: {e(data.get('title', ''))}</h1>",
        f"<p class='muted'>Base model <code>{e(str(data['base_model']))}</code> · seed {e(str(data.get('seed')))} · "
        f"tunelab {e(str(data.get('tunelab_version', '')))} · {e(str(data.get('created', '')))}</p>",
    ]
    if data.get("base_model_source"):
        parts.append(f"<p class='muted'>Weights: {e(str(data['base_model_source']))}</p>")
    if data.get("tiny"):
        parts.append(
            "<p class='toy'><b>Demonstration at toy scale.</b> These models are tunelab's embedded 3.7M-parameter "
            "base model and its tuned variants. The numbers are what was measured here; they do not predict "
            "what a real model would do.</p>"
        )
    b = data.get("budget", {})
    parts.append(f"<p><b>Budget</b> (same for both approaches): {e(str(b.get('description', '')))}</p>")
    parts.append("<h2>Verdict</h2><ul class='verdict'>")
    parts += [f"<li>{e(v)}</li>" for v in data.get("verdict", [])]
    parts.append("</ul>")
    parts.append("<h2>Results</h2><table><tr><th>slice</th><th>metric</th><th>n</th>")
    parts += [f"<th>{m}</th>" for m in MODELS]
    parts.append(
        "<th>instruction − finetune (paired)</th><th>finetune − base</th><th>instruction − base</th></tr>"
    )
    for r in rows:
        s, pct = r["slice"], r["pct"]
        parts.append(
            f"<tr><td>{e(s['name'])}</td><td>{e(s['metric'])}{' (%)' if pct else ''}</td>"
            f"<td class='num'>{s.get('n', '')}</td>"
        )
        parts += [f"<td class='num'>{e(_cell(s['models'].get(m), pct))}</td>" for m in MODELS]
        for key in ("instruction-finetune", "finetune-base", "instruction-base"):
            p = s.get("pairs", {}).get(key)
            parts.append(f"<td class='num'>{e(_pair_text(p, pct)) if p else '—'}</td>")
        parts.append("</tr>")
    parts.append("</table>")
    if bar_slices:
        parts.append("<h2>Scores with 95% confidence intervals</h2>")
        parts.append(
            f"<img alt='metric bars' src='data:image/png;base64,{slice_bars_png(bar_slices, MODELS)}'>"
        )
    curves = _curves(data)
    if curves:
        parts.append("<h2>Loss curves and overfitting</h2>")
        parts.append(f"<img alt='loss curves' src='data:image/png;base64,{loss_curves_png(curves)}'>")
        parts.append(_html_table(OVERFIT_HEADER, _overfit_rows(data)))
    parts.append("<h2>Cost</h2>" + _html_table(COST_HEADER, _cost_rows(data)))
    parts.append("<h2>Example outputs</h2>")
    for r in rows:
        ex = r["slice"].get("examples") or []
        if not ex:
            continue
        parts.append(f"<h3>{e(r['slice']['name'])}</h3><table><tr><th>prompt</th><th>gold</th>")
        parts += [f"<th>{m}</th>" for m in MODELS]
        parts.append("</tr>")
        for x in ex[:4]:
            parts.append(f"<tr><td><pre>{e(_short(x['prompt'], 400))}</pre></td><td>{e(str(x['gold']))}</td>")
            parts += [f"<td><pre>{e(_short(x['outputs'].get(m, ''), 300))}</pre></td>" for m in MODELS]
            parts.append("</tr>")
        parts.append("</table>")
    if data.get("human"):
        parts.append(human_html(data["human"]))
    parts.append("<h2>How these numbers were computed</h2><ul>")
    for r in rows:
        s = r["slice"]
        parts.append(
            f"<li><b>{e(s['name'])}</b>: {e(s.get('description', ''))} "
            f"<i>Metric:</i> {e(s.get('how', s['metric']))}</li>"
        )
    if data.get("contamination"):
        parts.append(f"<li><b>Decontamination</b>: {e(_contamination_text(data['contamination']))}</li>")
    if data.get("decoding"):
        parts.append(f"<li><b>Decoding</b>: {e(json.dumps(data['decoding']))}</li>")
    if data.get("statistics"):
        parts.append(f"<li><b>Statistics</b>: {e(str(data['statistics']))}</li>")
    parts.append("</ul></body></html>")
    return "\n".join(parts)


def render_report(run_dir: str | Path, data: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.md`` into ``run_dir`` (with a "Human judgement" section when
    ``run_dir/human/`` holds votes).

    Returns:
        The two paths.
    """
    rd = Path(run_dir)
    d = data if data is not None else load_comparison(rd)
    human = human_judgement(rd, seed=int(d.get("seed") or 0))
    if human is not None:
        d = {**d, "human": human}
    html_path, md_path = rd / "report.html", rd / "report.md"
    write_text_atomic(html_path, render_html(d))
    write_text_atomic(md_path, render_markdown(d))
    return html_path, md_path
