"""Reading a suite's data: files, generated tasks, generated general text."""

from __future__ import annotations

from pathlib import Path

import tunelab.benchmarks  # noqa: F401 - registers the benchmark formats (finqa, medcalc ...)
from tunelab.data import Example, human_texts, load
from tunelab.errors import InputError
from tunelab.evaluate._suite import DataSpec, Suite
from tunelab.synth import general_text, generate

__all__ = ["load_items", "load_texts", "read_text_file"]


def _load_source(spec: DataSpec) -> list[Example]:
    if spec.task:
        return generate(spec.task, spec.n, seed=spec.seed, templates=spec.templates)
    if spec.path:
        # evaluation items may end without an assistant turn (no reference needed when meta has gold)
        return load(spec.path, format=spec.format, training=False)
    raise InputError("this source holds texts, not items (perplexity suites only)", field="data")


def load_items(suite: Suite, limit: int | None = None) -> list[Example]:
    """All items of a ``generate``/``choice`` suite, sources concatenated, the first ``limit`` kept.

    Items without an id get ``SOURCE-INDEX``; ids must be unique (paired statistics join on them).

    Raises:
        InputError: a bad source, duplicate ids, or no items.
    """
    items: list[Example] = []
    for k, spec in enumerate(suite.data):
        got = _load_source(spec)
        for j, ex in enumerate(got):
            if not ex.id:
                ex.id = f"src{k}-{j:06d}"
        items.extend(got)
    if limit is not None:
        items = items[: max(0, limit)]
    if not items:
        raise InputError("the suite's data holds no items", file=suite.source, field="data")
    seen: set[str] = set()
    for ex in items:
        if ex.id in seen:
            raise InputError(f"duplicate item id {ex.id!r}", file=suite.source, field="data")
        seen.add(ex.id)
    return items


def read_text_file(path: str) -> list[str]:
    """Texts of a ``.txt`` file: one per blank-line-separated paragraph (empty ones skipped).

    Raises:
        InputError: the file does not exist.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError("no such file", file=path, field="data.path")
    raw = p.read_text(encoding="utf-8")
    return [t.strip() for t in raw.replace("\r\n", "\n").split("\n\n") if t.strip()]


def load_texts(suite: Suite, limit: int | None = None) -> tuple[list[str], list[str]]:
    """``(ids, texts)`` of a ``perplexity`` suite.

    A ``.txt`` file gives paragraphs; a record file gives each record's ``text`` field (task records) or the
    concatenated turns of each example; ``text: general`` gives held-out general prose.

    Raises:
        InputError: a bad source, or no texts.
    """
    ids: list[str] = []
    texts: list[str] = []
    for k, spec in enumerate(suite.data):
        if spec.text == "general":
            got = general_text(spec.n, seed=spec.seed)
            ids.extend(f"general-s{spec.seed}-{j:06d}" for j in range(len(got)))
            texts.extend(got)
        elif spec.text == "python_docs":
            pairs = human_texts(spec.n)
            ids.extend(f"pydoc-{j:04d}-{src}" for j, (src, _) in enumerate(pairs))
            texts.extend(t for _, t in pairs)
        elif spec.path and spec.path.endswith(".txt"):
            got = read_text_file(spec.path)
            ids.extend(f"{Path(spec.path).stem}-{j:06d}" for j in range(len(got)))
            texts.extend(got)
        else:
            for j, ex in enumerate(_load_source(spec)):
                ids.append(ex.id or f"src{k}-{j:06d}")
                texts.append(str(ex.meta.get("text") or "\n".join(m["content"] for m in ex.messages)))
    if limit is not None:
        ids, texts = ids[: max(0, limit)], texts[: max(0, limit)]
    if not texts:
        raise InputError("the suite's data holds no texts", file=suite.source, field="data")
    return ids, texts
