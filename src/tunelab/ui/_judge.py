"""Blind side-by-side judging of two models' answers to the same evaluation prompts.

The judging set is a human-review export (:func:`tunelab.evaluate.export_review`) in ``RUN_DIR/human/``:
``review.csv`` holds what a rater sees (prompt, left answer, right answer) and ``review_mapping.json`` which
system sat on the left of each item, drawn at random per item. The UI shows the sheet's rows without names,
appends each vote to ``human/votes.jsonl`` (``item``, ``preference`` = left | right | tie | both_bad,
``rater``, ``comment``, plus the side and names it revealed) and counts the votes with
:func:`tunelab.evaluate.import_review`, so the same sheet filled outside the UI counts alongside.
"""

from __future__ import annotations

import csv
import json
import random
import re
import threading
import time
from pathlib import Path
from typing import Any

from tunelab.errors import InputError
from tunelab.ui._runs import MODELS, accuracy_items

__all__ = ["start_judging", "next_item", "cast_vote", "judging_summary", "RATER"]

RATER = re.compile(r"^[\w .@-]{1,40}$")
MAX_COMMENT = 2000
_LOCK = threading.Lock()


def _human(d: Path) -> Path:
    return d / "human"


def _mapping(d: Path) -> dict[str, Any] | None:
    p = _human(d) / "review_mapping.json"
    return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else None


def start_judging(d: Path, a: str, b: str, seed: int = 0) -> dict[str, Any]:
    """Create the judging set of ``a`` vs ``b`` (every evaluation item whose two outputs differ), or return
    the one that exists.

    Raises:
        InputError: bad model names, no items, or a set for another pair exists already.
    """
    from tunelab.evaluate import export_review

    if a not in MODELS or b not in MODELS or a == b:
        raise InputError(f"pick two different models of {', '.join(MODELS)}", field="a,b")
    with _LOCK:
        m = _mapping(d)
        if m is not None:
            if sorted(m["systems"].values()) != sorted([a, b]):
                raise InputError(
                    f"this run is judged as {m['systems']['a']} vs {m['systems']['b']} already", field="a,b"
                )
            return {"systems": m["systems"], "n_items": len(m["left"])}
        items = [
            it
            for v in accuracy_items(d).values()
            for it in v
            if it["outputs"][a].strip() != it["outputs"][b].strip()
        ]
        if not items:
            raise InputError("the two models answer every item identically: nothing to judge", field="a,b")
        export_review(
            [f"{it['slice']}/{it['id']}" for it in items],
            [it["prompt"] for it in items],
            [it["outputs"][a] for it in items],
            [it["outputs"][b] for it in items],
            _human(d),
            seed=seed,
            name_a=a,
            name_b=b,
        )
        return {"systems": {"a": a, "b": b}, "n_items": len(items)}


def _sheet(d: Path) -> list[dict[str, str]]:
    with (_human(d) / "review.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _votes(d: Path) -> list[dict[str, Any]]:
    p = _human(d) / "votes.jsonl"
    if not p.is_file():
        return []
    return [json.loads(x) for x in p.read_text(encoding="utf-8").splitlines() if x.strip()]


def _rater(rater: str) -> str:
    if not RATER.match(rater or ""):
        raise InputError("a rater name is 1-40 letters, digits, spaces or . @ _ -", field="rater")
    return rater.strip()


def next_item(d: Path, rater: str, seed: int = 0) -> dict[str, Any]:
    """The next item this rater has not judged: prompt and the two answers, without the models' names.
    Each rater meets the items in their own random order."""
    rater = _rater(rater)
    m = _mapping(d)
    if m is None:
        raise InputError("start judging first (pick the two models)", field="judge")
    rows = _sheet(d)
    done = {v["item"] for v in _votes(d) if v.get("rater") == rater}
    order = list(range(len(rows)))
    random.Random(f"{seed}:{rater}").shuffle(order)
    left = [rows[i] for i in order if rows[i]["item"] not in done]
    out: dict[str, Any] = {"total": len(rows), "judged": len(rows) - len(left), "item": None}
    if left:
        r = left[0]
        out["item"] = {"item": r["item"], "prompt": r["prompt"], "left": r["left"], "right": r["right"]}
    return out


def cast_vote(d: Path, item: str, preference: str, rater: str, comment: str = "") -> dict[str, Any]:
    """Append one vote to ``human/votes.jsonl`` and reveal which model was on which side.

    Raises:
        InputError: unknown item, a bad preference, rater or comment, or a second vote of this rater on it.
    """
    from tunelab.evaluate import REVIEW_PREFERENCES as PREFERENCES

    rater = _rater(rater)
    if preference not in PREFERENCES:
        raise InputError(f"{preference!r} is not one of {', '.join(PREFERENCES)}", field="preference")
    if len(comment) > MAX_COMMENT:
        raise InputError(f"a comment is at most {MAX_COMMENT} characters", field="comment")
    m = _mapping(d)
    if m is None or item not in m["left"]:
        raise InputError(f"unknown item {item!r}", field="item")
    left_sys = m["left"][item]
    right_sys = "b" if left_sys == "a" else "a"
    with _LOCK:
        if any(v["item"] == item and v.get("rater") == rater for v in _votes(d)):
            raise InputError(f"{rater} has judged {item} already", field="item")
        rec = {
            "item": item,
            "preference": preference,
            "rater": rater,
            "comment": comment.replace("\r", ""),
            "left_system": left_sys,
            "left_model": m["systems"][left_sys],
            "right_model": m["systems"][right_sys],
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        with (_human(d) / "votes.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return {"left_model": rec["left_model"], "right_model": rec["right_model"], "preference": preference}


def judging_summary(d: Path, seed: int = 0) -> dict[str, Any]:
    """The pair being judged and, once someone voted, system A's win/tie/loss/both-bad rates with 95% CIs
    and Cohen's kappa between raters (the human-review import)."""
    from tunelab.evaluate import import_review, review_sheets

    m = _mapping(d)
    if m is None:
        return {"systems": None, "result": None}
    found = review_sheets(_human(d))
    result = None
    if found is not None:
        res = import_review(found[0], found[1], n_bootstrap=1000, seed=seed).to_dict()
        res.pop("judgments", None)
        result = res
    return {"systems": m["systems"], "n_items": len(m["left"]), "result": result}
