"""Render a comparison (``compare.json``) as a self-contained ``report.html`` and a ``report.md``.

The report shows what was measured and how: the base model named plainly (toy, quantized or real), the verdict
(one sentence per finding, computed from the numbers), every slice with strict, lenient and format scores per
model with 95% CIs over seeds and items and paired differences, the per-seed values, the flipped items with
both outputs, plots, the contamination counts, the cost and the training losses (which include replay text).
Tables wrap their cells so the page fits a 1280-pixel-wide window without horizontal scrolling.
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

__all__ = ["render_report", "load_comparison", "render_markdown", "render_html"]

MODELS = ["base", "instruction", "finetune"]
PAIR_KEYS = ["instruction-finetune", "finetune-base", "instruction-base"]


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
    return s + (f" [{_fmt(ci[0], pct)}, {_fmt(ci[1], pct)}]" if ci else "")


def _pair_text(p: dict[str, Any] | None, pct: bool) -> str:
    if not p:
        return "—"
    d, ci = p.get("diff"), p.get("ci") or [None, None]
    txt = f"{'+' if d is not None and d >= 0 else ''}{_fmt(d, pct)} [{_fmt(ci[0], pct)}, {_fmt(ci[1], pct)}]"
    f = p.get("flipped")
    if f:
        txt += f"; flips {f.get('gained', 0)}↑/{f.get('lost', 0)}↓"
    return txt


def _metrics_of(s: dict[str, Any]) -> dict[str, Any]:
    return s.get("metrics") or {
        s.get("metric", "value"): {"models": s["models"], "pairs": s.get("pairs", {})}
    }


RESULT_HEADER = [
    "slice",
    "metric",
    "n",
    *MODELS,
    "instruction − finetune",
    "finetune − base",
    "instruction − base",
]


def _result_rows(data: dict[str, Any]) -> list[list[str]]:
    rows = []
    for s in data["slices"].values():
        pct = s.get("scale", "fraction") == "fraction"
        for metric, m in _metrics_of(s).items():
            rows.append(
                [s["name"], metric + (" (%)" if pct else ""), str(s.get("n", ""))]
                + [_cell(m["models"].get(x), pct) for x in MODELS]
                + [_pair_text(m.get("pairs", {}).get(k), pct) for k in PAIR_KEYS]
            )
    return rows


def _seed_rows(data: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    seeds = [str(x) for x in data.get("seeds", [])]
    header = ["slice", "metric"] + [f"{m} s{s}" for m in ("instruction", "finetune") for s in seeds]
    header += [f"diff s{s}" for s in seeds]
    rows = []
    for s in data["slices"].values():
        pct = s.get("scale", "fraction") == "fraction"
        for metric, m in _metrics_of(s).items():
            cells = [s["name"], metric]
            for meth in ("instruction", "finetune"):
                per = (m["models"].get(meth) or {}).get("per_seed", {})
                cells += [_fmt(per.get(x), pct) for x in seeds]
            per = (m.get("pairs", {}).get("instruction-finetune") or {}).get("per_seed", {})
            cells += [_fmt(per.get(x), pct) for x in seeds]
            rows.append(cells)
    return header, rows


TRAIN_HEADER = [
    "method", "seed", "final train loss (incl. replay)", "final val loss (target data)", "best step",
    "early stop", "overfit", "wall s", "steps", "target tokens", "tokens/s", "peak GiB", "trainable params",
]  # fmt: skip


def _train_rows(data: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name, meth in data.get("approaches", {}).items():
        for seed, r in (meth.get("seeds") or {"": meth}).items():
            o, c = r.get("overfitting", {}), r.get("cost", {})
            rows.append([
                name, str(seed), _fmt(o.get("final_train_loss"), False), _fmt(o.get("final_val_loss"), False),
                str(o.get("best_step", "n/a")), str(o.get("early_stop_step") or "no"),
                "yes" if o.get("overfit_warning") else "no", f"{c.get('wall_s', 0):.0f}", str(c.get("steps", "")),
                f"{c.get('target_tokens', 0):,}", f"{c.get('tokens_per_s', 0):,.0f}",
                f"{c.get('peak_memory_gib', 0):.2f}", f"{c.get('trainable_params', 0):,}",
            ])  # fmt: skip
    return rows


def _contamination_rows(data: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    c = data.get("contamination", {})
    keys = list(data["slices"])
    header = ["training set"] + [data["slices"][k]["name"] for k in keys]
    rows = [
        ["items drawn / dropped as seen / kept"]
        + [
            "{candidates} / {dropped_seen_in_training} / {kept}".format(**c.get("slices", {}).get(k, {}))
            if k in c.get("slices", {})
            else "—"
            for k in keys
        ]
    ]
    for tset, per in (c.get("checks") or {}).items():
        rows.append(
            [f"{tset}: exact / 13-gram / 8-gram"]
            + ["{exact} / {13-gram} / {8-gram}".format(**per[k]) if k in per else "—" for k in keys]
        )
    return header, rows


def _flipped(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for s in data["slices"].values():
        f = (s.get("pairs", {}).get("instruction-finetune") or {}).get("flipped") or {}
        for it in f.get("items", []):
            out.append((s["name"], it))
    return out


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return out + ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]


def _html_table(header: list[str], rows: list[list[str]], cls: str = "") -> str:
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    body = "".join(
        "<tr><td>" + e(r[0]) + "</td>" + "".join(f"<td class='num'>{e(c)}</td>" for c in r[1:]) + "</tr>"
        for r in rows
    )
    return f"<table class='{cls}'><tr>{head}</tr>{body}</table>"


def _short(s: Any, n: int = 160) -> str:
    t = str(s).replace("\n", " ⏎ ").replace("`", "'")
    return t if len(t) <= n else t[: n - 1] + "…"


def _intro(data: dict[str, Any]) -> list[str]:
    seeds = data.get("seeds", [data.get("seed")])
    return [
        f"Base model: {data['base_model']} — {data.get('base_model_note', '')}",
        f"Seeds: {len(seeds)} ({', '.join(str(x) for x in seeds)}); every number is a mean over seeds with a 95% "
        "CI over seeds and items.",
        f"Budget: {data.get('budget', {}).get('description', '')}",
    ]


def render_markdown(data: dict[str, Any]) -> str:
    """The report as Markdown (terminals, pull requests)."""
    lines = [f"# tunelab comparison: {data.get('title', 'instruction tuning vs fine-tuning')}", ""]
    lines += [x + "\n" for x in _intro(data)]
    if data.get("base_model_source"):
        lines.append(f"Weights: {data['base_model_source']}.\n")
    if data.get("base_model_kind") == "toy" or data.get("tiny"):
        lines.append("**This is a demonstration at toy scale.**\n")
    lines += ["## Verdict", "", *[f"- {v}" for v in data.get("verdict", [])], ""]
    lines += ["## Results (mean over seeds, 95% CI over seeds and items; paired differences)", ""]
    lines += _md_table(RESULT_HEADER, _result_rows(data))
    h, r = _seed_rows(data)
    lines += ["", "## Per seed", "", *_md_table(h, r)]
    lines += [
        "",
        "## Training (train loss includes the replay text; validation loss is target data only)",
        "",
    ]
    lines += _md_table(TRAIN_HEADER, _train_rows(data))
    h, r = _contamination_rows(data)
    lines += ["", "## Contamination", "", data.get("contamination", {}).get("rule", ""), "", *_md_table(h, r)]
    lines += ["", "## Flipped items (instruction vs finetune, strict, first seed)", ""]
    for name, it in _flipped(data)[:24]:
        who = (
            "instruction right, finetune wrong"
            if it["direction"] == "gained"
            else "finetune right, instruction wrong"
        )
        lines.append(f"- {name} `{it['id']}` ({who}) — gold `{_short(it['gold'], 60)}`")
        for m, o in it["outputs"].items():
            lines.append(f"  - {m}: `{_short(o)}`")
    lines += ["", "## Example outputs", ""]
    for s in data["slices"].values():
        for x in (s.get("examples") or [])[:2]:
            lines.append(f"- {s['name']}: `{_short(x['prompt'])}` — gold `{_short(x['gold'], 60)}`")
            for m in MODELS:
                if m in x["outputs"]:
                    lines.append(f"  - {m}: `{_short(x['outputs'][m])}`")
    lines.append("")
    if data.get("human"):
        lines += human_markdown(data["human"])
    lines += ["## How these numbers were computed", ""]
    for s in data["slices"].values():
        lines.append(f"- **{s['name']}**: {s.get('description', '')} {s.get('how', '')}")
    for k in ("decoding", "statistics"):
        if data.get(k):
            v = data[k]
            lines.append(f"- {k.capitalize()}: {v if isinstance(v, str) else json.dumps(v)}")
    return "\n".join(lines) + "\n"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1220px;margin:1.5rem auto;padding:0 .8rem;
color:#1a202c;line-height:1.4}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{margin-top:1.8rem;border-bottom:1px solid #e2e8f0;padding-bottom:.2rem}
.toy{background:#fffbea;border:1px solid #f6e05e;padding:.6rem .9rem;border-radius:6px}
table{border-collapse:collapse;font-size:.78rem;margin:.6rem 0;width:100%;table-layout:auto}
th,td{border:1px solid #e2e8f0;padding:.25rem .35rem;text-align:left;vertical-align:top;overflow-wrap:break-word}
th{background:#f7fafc}td.num{font-variant-numeric:tabular-nums}
.verdict li{margin:.2rem 0}img{max-width:100%;height:auto;border:1px solid #edf2f7}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f7fafc;padding:.3rem;border-radius:4px;font-size:.75rem;margin:0}
.muted{color:#718096;font-size:.85rem}
"""


def _html_examples(data: dict[str, Any]) -> list[str]:
    e = html.escape
    parts = ["<h2>Flipped items (instruction vs finetune, strict, first seed)</h2>"]
    flips = _flipped(data)
    if not flips:
        parts.append("<p>No item flipped.</p>")
    else:
        parts.append(
            "<table><tr><th>slice</th><th>item</th><th>prompt</th><th>gold</th><th>instruction</th><th>finetune</th></tr>"
        )
        for name, it in flips[:24]:
            parts.append(
                f"<tr><td>{e(name)}</td><td>{e(it['id'])} ({e(it['direction'])})</td>"
                f"<td><pre>{e(_short(it['prompt'], 300))}</pre></td><td>{e(_short(it['gold'], 80))}</td>"
                + "".join(
                    f"<td><pre>{e(_short(it['outputs'].get(m, ''), 240))}</pre></td>"
                    for m in ("instruction", "finetune")
                )
                + "</tr>"
            )
        parts.append("</table>")
    parts.append("<h2>Example outputs (first seed)</h2><table><tr><th>slice</th><th>prompt</th><th>gold</th>")
    parts += [f"<th>{m}</th>" for m in MODELS]
    parts.append("</tr>")
    for s in data["slices"].values():
        for x in (s.get("examples") or [])[:2]:
            parts.append(
                f"<tr><td>{e(s['name'])}</td><td><pre>{e(_short(x['prompt'], 300))}</pre></td><td>{e(_short(x['gold'], 80))}</td>"
            )
            parts += [f"<td><pre>{e(_short(x['outputs'].get(m, ''), 200))}</pre></td>" for m in MODELS]
            parts.append("</tr>")
    parts.append("</table>")
    return parts


def render_html(data: dict[str, Any]) -> str:
    """The report as one self-contained HTML page (plots embedded as base64 PNG)."""
    e = html.escape
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>tunelab report: {e(data.get('title', 'comparison'))}</title><style>{_CSS}</style></head><body>",
        f"<h1>Instruction tuning vs fine-tuning: {e(data.get('title', ''))}</h1>",
        f"<p class='muted'>tunelab {e(str(data.get('tunelab_version', '')))} · {e(str(data.get('created', '')))}</p>",
    ]
    intro = _intro(data)
    cls = "toy" if data.get("base_model_kind") == "toy" or data.get("tiny") else ""
    parts.append(f"<p class='{cls}'><b>{e(intro[0])}</b></p>")
    parts += [f"<p>{e(x)}</p>" for x in intro[1:]]
    if data.get("base_model_source"):
        parts.append(f"<p class='muted'>Weights: {e(str(data['base_model_source']))}</p>")
    parts.append("<h2>Verdict</h2><ul class='verdict'>")
    parts += [f"<li>{e(v)}</li>" for v in data.get("verdict", [])]
    parts.append("</ul><h2>Results</h2><p class='muted'>Mean over seeds, 95% CI over seeds and items; "
                 "differences are paired on the same items.</p>")  # fmt: skip
    parts.append(_html_table(RESULT_HEADER, _result_rows(data), "results"))
    bars = [
        {"name": s["name"], "metric": metric, "models": s["metrics"][metric]["models"]}
        for s in data["slices"].values()
        if s.get("scale", "fraction") == "fraction" and s.get("metrics")
        for metric in ("strict", "lenient")
        if metric in s["metrics"]
    ]
    if bars:
        parts.append("<h2>Strict and lenient scores with 95% CIs</h2>")
        parts.append(f"<img alt='metric bars' src='data:image/png;base64,{slice_bars_png(bars, MODELS)}'>")
    h, r = _seed_rows(data)
    parts.append("<h2>Per seed</h2>" + _html_table(h, r))
    curves = {}
    for name, meth in data.get("approaches", {}).items():
        runs = meth.get("seeds") or {"": meth}
        first = runs[next(iter(runs))]
        c, o = first.get("curve", {}), first.get("overfitting", {})
        curves[name] = {"train": [tuple(x) for x in c.get("train", [])], "val": [tuple(x) for x in c.get("val", [])],
                        "overfit_from": o.get("overfit_from_step"), "best_step": o.get("best_step")}  # fmt: skip
    if curves:
        parts.append("<h2>Loss curves (first seed; train loss includes replay text)</h2>")
        parts.append(f"<img alt='loss curves' src='data:image/png;base64,{loss_curves_png(curves)}'>")
    parts.append("<h2>Training and cost</h2>" + _html_table(TRAIN_HEADER, _train_rows(data)))
    h, r = _contamination_rows(data)
    parts.append(f"<h2>Contamination</h2><p>{e(data.get('contamination', {}).get('rule', ''))}</p>")
    parts.append(_html_table(h, r))
    parts += _html_examples(data)
    if data.get("human"):
        parts.append(human_html(data["human"]))
    parts.append("<h2>How these numbers were computed</h2><ul>")
    for s in data["slices"].values():
        parts.append(
            f"<li><b>{e(s['name'])}</b>: {e(s.get('description', ''))} <i>{e(s.get('how', ''))}</i></li>"
        )
    for k in ("decoding", "statistics"):
        if data.get(k):
            v = data[k]
            parts.append(f"<li><b>{k.capitalize()}</b>: {e(v if isinstance(v, str) else json.dumps(v))}</li>")
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
