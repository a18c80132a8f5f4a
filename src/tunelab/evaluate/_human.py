"""Blind A/B human review: export a sheet, import the filled sheets, compute win rates and agreement.

Export writes, for the same items:

- ``review.csv``: ``item, prompt, left, right, preference, rater, comment``; raters fill ``preference`` with
  ``left``, ``right``, ``tie`` or ``both_bad`` (and their name in ``rater``, or one file per rater);
- ``review_labelstudio.json`` (tasks) and ``labelstudio_config.xml`` (a Choices control named ``preference``)
  for Label Studio;
- ``review_mapping.json``: the side file that un-blinds: for each item which system sits on the left. The
  side is drawn per item from ``random.Random(seed)``, so raters cannot learn a position.

Import reads filled CSVs, Label Studio exports and/or ``votes.jsonl`` files (one JSON object per line with the
CSV's ``item``, ``preference``, ``rater`` and ``comment`` fields, as ``tunelab ui`` writes them), un-blinds with
the mapping, and reports system A's win/tie/loss (and both-bad) rates over all judgments with bootstrap CIs (resampling items, so several raters of one item
stay together) and, with two or more raters, Cohen's kappa for each pair of raters on their shared items
(``sklearn.metrics.cohen_kappa_score`` on the un-blinded labels ``a``/``b``/``tie``/``both_bad``).
"""

from __future__ import annotations

import csv
import itertools
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunelab._atomic import atomic_open, write_text_atomic
from tunelab.errors import InputError
from tunelab.scoring import MetricScore, bootstrap_ci

__all__ = ["ReviewExport", "ReviewResult", "export_review", "import_review", "review_sheets", "PREFERENCES"]

PREFERENCES = ("left", "right", "tie", "both_bad")
OUTCOMES = ("a", "b", "tie", "both_bad")  # un-blinded
CSV_COLUMNS = ("item", "prompt", "left", "right", "preference", "rater", "comment")
LS_CONFIG = """<View>
  <Header value="Which answer is better?"/>
  <Text name="prompt" value="$prompt"/>
  <Text name="left" value="$left"/>
  <Text name="right" value="$right"/>
  <Choices name="preference" toName="prompt" choice="single" required="true">
    <Choice value="left"/>
    <Choice value="right"/>
    <Choice value="tie"/>
    <Choice value="both_bad"/>
  </Choices>
</View>
"""


@dataclass
class ReviewExport:
    """Paths written by :func:`export_review`."""

    csv: Path
    labelstudio: Path
    labelstudio_config: Path
    mapping: Path


def export_review(
    ids: Sequence[str],
    prompts: Sequence[str],
    answers_a: Sequence[str],
    answers_b: Sequence[str],
    out_dir: str | Path,
    seed: int = 0,
    name_a: str = "A",
    name_b: str = "B",
) -> ReviewExport:
    """Write a blind A/B review sheet (CSV and Label Studio) and the un-blinding side file.

    Args:
        ids: unique item ids.
        prompts: the prompts shown to raters.
        answers_a: system A's answers.
        answers_b: system B's answers.
        out_dir: where to write.
        seed: the left/right randomization seed (recorded in the mapping).
        name_a: system A's name (recorded in the mapping only, never in the sheet).
        name_b: system B's name.

    Returns:
        A :class:`ReviewExport`.

    Raises:
        InputError: mismatched lengths, no items or duplicate ids.
    """
    n = len(ids)
    if n == 0 or not len(prompts) == len(answers_a) == len(answers_b) == n:
        raise InputError("need one prompt and two answers per item", field="answers")
    if len(set(ids)) != n:
        raise InputError("item ids must be unique", field="ids")
    rng = random.Random(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    left_is: dict[str, str] = {}
    rows, tasks = [], []
    for k, (i, p, a, b) in enumerate(zip(ids, prompts, answers_a, answers_b)):
        a_left = rng.random() < 0.5
        left_is[str(i)] = "a" if a_left else "b"
        left, right = (a, b) if a_left else (b, a)
        rows.append(
            {
                "item": str(i),
                "prompt": p,
                "left": left,
                "right": right,
                "preference": "",
                "rater": "",
                "comment": "",
            }
        )
        tasks.append({"id": k + 1, "data": {"item": str(i), "prompt": p, "left": left, "right": right}})
    paths = ReviewExport(
        out / "review.csv",
        out / "review_labelstudio.json",
        out / "labelstudio_config.xml",
        out / "review_mapping.json",
    )
    with atomic_open(paths.csv) as f:
        w = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    write_text_atomic(paths.labelstudio, json.dumps(tasks, ensure_ascii=False, indent=1))
    write_text_atomic(paths.labelstudio_config, LS_CONFIG)
    mapping = {
        "seed": seed,
        "systems": {"a": name_a, "b": name_b},
        "left": left_is,
        "fill": "preference = left | right | tie | both_bad",
    }
    write_text_atomic(paths.mapping, json.dumps(mapping, indent=1))
    return paths


@dataclass
class ReviewResult:
    """Un-blinded human preferences: system A's rates (with CIs) and inter-annotator agreement."""

    win_rate: MetricScore
    tie_rate: MetricScore
    loss_rate: MetricScore
    n_judgments: int
    n_items: int
    raters: list[str]
    n_missing: int
    kappa: dict[str, float] = field(default_factory=dict)
    mean_kappa: float | None = None
    systems: dict[str, str] = field(default_factory=dict)
    judgments: list[dict[str, str]] = field(default_factory=list)
    both_bad_rate: MetricScore | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: (v.to_dict() if isinstance(v, MetricScore) else v) for k, v in self.__dict__.items()}


def _read_csv(path: Path, known: set[str]) -> tuple[list[tuple[str, str, str]], int]:
    out, missing = [], 0
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        for col in ("item", "preference"):
            if col not in (reader.fieldnames or []):
                raise InputError(f"missing column {col!r}", file=str(path), line=1, field=col)
        for row in reader:
            line = reader.line_num  # the physical line where the record ends (prompts may span lines)
            pref = (row.get("preference") or "").strip().lower()
            item = (row.get("item") or "").strip()
            if item not in known:
                raise InputError(
                    f"unknown item {item!r} (not in the mapping)", file=str(path), line=line, field="item"
                )
            if not pref:
                missing += 1
                continue
            if pref not in PREFERENCES:
                raise InputError(
                    f"{pref!r} is not one of {', '.join(PREFERENCES)}",
                    file=str(path),
                    line=line,
                    field="preference",
                )
            rater = (row.get("rater") or "").strip() or path.stem
            out.append((rater, item, pref))
    return out, missing


def _read_labelstudio(path: Path, known: set[str]) -> tuple[list[tuple[str, str, str]], int]:
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(f"not JSON: {e}", file=str(path), line=e.lineno) from e
    if not isinstance(tasks, list):
        raise InputError("a Label Studio export is a JSON list of tasks", file=str(path))
    out, missing = [], 0
    for k, task in enumerate(tasks):
        item = str((task.get("data") or {}).get("item", ""))
        if item not in known:
            raise InputError(f"unknown item {item!r}", file=str(path), field=f"[{k}].data.item")
        anns = task.get("annotations") or []
        if not anns:
            missing += 1
        for a in anns:
            choice = next(
                (
                    r["value"]["choices"][0]
                    for r in a.get("result", [])
                    if r.get("from_name") == "preference" and r.get("value", {}).get("choices")
                ),
                None,
            )
            if choice is None:
                missing += 1
                continue
            if choice not in PREFERENCES:
                raise InputError(
                    f"{choice!r} is not one of {', '.join(PREFERENCES)}",
                    file=str(path),
                    field=f"[{k}].annotations",
                )
            out.append((str(a.get("completed_by", "labelstudio")), item, choice))
    return out, missing


def _read_votes(
    path: Path, known: set[str], left_is: dict[str, str]
) -> tuple[list[tuple[str, str, str]], int]:
    """A ``votes.jsonl``: one object per line with ``item``, ``preference``, ``rater`` (and ``comment``).
    A line that also records ``left_model``/``right_model`` must agree with the mapping's side."""
    out, missing = [], 0
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as e:
            raise InputError(f"malformed JSON: {e.msg}", file=str(path), line=n, field="json") from e
        if not isinstance(row, dict):
            raise InputError("each line must be a JSON object", file=str(path), line=n)
        item = str(row.get("item", "")).strip()
        if item not in known:
            raise InputError(
                f"unknown item {item!r} (not in the mapping)", file=str(path), line=n, field="item"
            )
        pref = str(row.get("preference") or "").strip().lower()
        if not pref:
            missing += 1
            continue
        if pref not in PREFERENCES:
            raise InputError(
                f"{pref!r} is not one of {', '.join(PREFERENCES)}", file=str(path), line=n, field="preference"
            )
        side = row.get("left_system")
        if side is not None and side != left_is[item]:
            raise InputError(
                f"records system {side!r} on the left, the mapping says {left_is[item]!r}",
                file=str(path),
                line=n,
                field="left_system",
            )
        out.append((str(row.get("rater") or "").strip() or path.stem, item, pref))
    return out, missing


def import_review(
    sheets: Sequence[str | Path], mapping_path: str | Path, n_bootstrap: int = 1000, seed: int = 0
) -> ReviewResult:
    """Read filled review sheets and compute system A's win rates and rater agreement.

    Args:
        sheets: filled ``.csv`` sheets, Label Studio ``.json`` exports and/or ``.jsonl`` vote files (a row
            without a ``rater`` counts as rater = the file's stem).
        mapping_path: the ``review_mapping.json`` written by :func:`export_review`.
        n_bootstrap: resamples for the CIs (over items).
        seed: bootstrap seed.

    Returns:
        A :class:`ReviewResult`; ``kappa`` maps ``"r1|r2"`` to Cohen's kappa on the items both rated.

    Raises:
        InputError: a bad sheet (naming file, line and field), an unknown item, or no judgments at all.
    """
    from sklearn.metrics import cohen_kappa_score

    mapping = json.loads(Path(mapping_path).read_text(encoding="utf-8"))
    left_is: dict[str, str] = mapping["left"]
    known = set(left_is)
    raw: list[tuple[str, str, str]] = []
    missing = 0
    for s in sheets:
        p = Path(s)
        if not p.is_file():
            raise InputError("no such file", file=str(p))
        if p.suffix == ".jsonl":
            got, miss = _read_votes(p, known, left_is)
        elif p.suffix == ".json":
            got, miss = _read_labelstudio(p, known)
        else:
            got, miss = _read_csv(p, known)
        raw.extend(got)
        missing += miss
    if not raw:
        raise InputError(
            "no filled preferences in the sheets", file=str(sheets[0]) if sheets else None, field="preference"
        )

    def unblind(item: str, pref: str) -> str:
        if pref in ("tie", "both_bad"):
            return pref
        side_a = left_is[item] == "a"
        return "a" if (pref == "left") == side_a else "b"

    judgments = [{"rater": r, "item": i, "preference": p, "winner": unblind(i, p)} for r, i, p in raw]
    by_item: dict[str, list[str]] = {}
    for j in judgments:
        by_item.setdefault(j["item"], []).append(j["winner"])
    groups = list(by_item.values())
    ci_rule = (
        f"percentile bootstrap over items (all of an item's judgments together), {n_bootstrap} resamples, "
        f"seed {seed}, 95%"
    )

    def rate(target: str) -> MetricScore:
        def stat(gs: Sequence[list[str]]) -> float:
            flat = [w for g in gs for w in g]
            return sum(w == target for w in flat) / len(flat)

        ci = bootstrap_ci(groups, n=n_bootstrap, seed=seed, statistic=stat)
        what = {
            "a": "share of judgments preferring A",
            "b": "share of judgments preferring B",
            "tie": "share of judgments calling a tie",
            "both_bad": "share of judgments calling both answers bad",
        }[target]
        return MetricScore(ci.estimate, ci.low, ci.high, len(judgments), what, ci_rule)

    raters = sorted({j["rater"] for j in judgments})
    per_rater = {r: {j["item"]: j["winner"] for j in judgments if j["rater"] == r} for r in raters}
    kappa: dict[str, float] = {}
    for r1, r2 in itertools.combinations(raters, 2):
        shared = sorted(set(per_rater[r1]) & set(per_rater[r2]))
        if len(shared) >= 2:
            y1 = [per_rater[r1][i] for i in shared]
            y2 = [per_rater[r2][i] for i in shared]
            kappa[f"{r1}|{r2}"] = float(cohen_kappa_score(y1, y2, labels=list(OUTCOMES)))
    finite = [k for k in kappa.values() if k == k]
    return ReviewResult(
        win_rate=rate("a"),
        tie_rate=rate("tie"),
        loss_rate=rate("b"),
        n_judgments=len(judgments),
        n_items=len(by_item),
        raters=raters,
        n_missing=missing,
        kappa=kappa,
        mean_kappa=sum(finite) / len(finite) if finite else None,
        systems=dict(mapping.get("systems", {})),
        judgments=judgments,
        both_bad_rate=rate("both_bad"),
    )


def review_sheets(folder: str | Path) -> tuple[list[Path], Path] | None:
    """The filled sheets of a review folder and its mapping, or None when there is nothing to import.

    Counts ``votes.jsonl`` (written by ``tunelab ui``), filled CSV sheets other than the blank ``review.csv``
    that :func:`export_review` wrote, and Label Studio exports named ``labelstudio_*.json``.
    """
    d = Path(folder)
    mapping = d / "review_mapping.json"
    if not mapping.is_file():
        return None
    votes = d / "votes.jsonl"
    sheets = [votes] if votes.is_file() and votes.stat().st_size > 0 else []
    sheets += sorted(p for p in d.glob("*.csv") if p.name != "review.csv")
    sheets += sorted(d.glob("labelstudio_*.json"))
    return (sheets, mapping) if sheets else None
