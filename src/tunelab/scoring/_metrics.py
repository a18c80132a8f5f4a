"""Text and classification metrics that agree with the reference libraries.

BLEU and chrF are sacrebleu's corpus scores, ROUGE is rouge-score's ``RougeScorer``, accuracy/precision/recall/F1
are scikit-learn's, exact match and token F1 follow the SQuAD v1.1 script. Every result carries the rule or
signature that says how it was computed. The libraries are imported inside the functions.

References: each item has one reference (a string) or several (a list of strings); ``refs[i]`` belongs to
``preds[i]``.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "CLASSIFICATION_METRICS",
    "DEFAULT_METRICS",
    "METRIC_NAMES",
    "MetricResult",
    "bleu",
    "chrf",
    "classification",
    "compute_metrics",
    "exact_match",
    "f1",
    "normalize_squad",
    "perplexity_from_nll",
    "rouge",
    "rouge_items",
    "split_sentences",
    "squad_em",
    "squad_f1",
]

Refs = Sequence[str | Sequence[str]]

ROUGE_TYPES: tuple[str, ...] = ("rouge1", "rouge2", "rougeL", "rougeLsum")
CLASSIFICATION_METRICS: tuple[str, ...] = (
    "accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "f1_micro",
)
METRIC_NAMES: tuple[str, ...] = ("bleu", "chrf", *ROUGE_TYPES, "exact_match", "f1", *CLASSIFICATION_METRICS)
DEFAULT_METRICS: tuple[str, ...] = ("bleu", "chrf", *ROUGE_TYPES, "exact_match", "f1")


@dataclass(frozen=True)
class MetricResult:
    """Scores and how they were computed.

    Attributes:
        scores: metric name -> value (BLEU/chrF 0-100, the rest 0-1).
        rule: how the scores were computed (a sacrebleu signature, the ROUGE settings, the normalization...).
        n_items: the number of items scored.
    """

    scores: dict[str, float]
    rule: str
    n_items: int = 0
    extra: dict[str, object] = field(default_factory=dict)

    def __getitem__(self, name: str) -> float:
        return self.scores[name]


def _ref_lists(preds: Sequence[str], refs: Refs) -> list[list[str]]:
    if len(preds) != len(refs):
        raise ValueError(f"{len(preds)} predictions but {len(refs)} references")
    out: list[list[str]] = []
    for i, r in enumerate(refs):
        lst = [r] if isinstance(r, str) else [str(x) for x in r]
        if not lst:
            raise ValueError(f"item {i} has no reference")
        out.append(lst)
    return out


def _ref_streams(ref_lists: list[list[str]]) -> list[list[str | None]]:
    # sacrebleu takes one stream per reference position; None marks a missing reference for that item.
    width = max((len(r) for r in ref_lists), default=1)
    return [[r[k] if k < len(r) else None for r in ref_lists] for k in range(width)]


def bleu(preds: Sequence[str], refs: Refs) -> MetricResult:
    """Corpus BLEU, exactly ``sacrebleu.corpus_bleu`` (tokenizer 13a, exp smoothing, case-sensitive, 4-grams).

    Args:
        preds: one hypothesis per item.
        refs: one reference or a list of references per item.

    Returns:
        ``scores["bleu"]`` on 0-100 and ``rule`` = the sacrebleu signature.

    Raises:
        ValueError: lengths differ or an item has no reference.
    """
    from sacrebleu.metrics import BLEU

    ref_lists = _ref_lists(preds, refs)
    metric = BLEU(
        tokenize="13a", smooth_method="exp", lowercase=False, max_ngram_order=4, effective_order=False
    )
    result = metric.corpus_score(list(preds), _ref_streams(ref_lists))  # type: ignore[arg-type]
    return MetricResult({"bleu": float(result.score)}, str(metric.get_signature()), len(preds))


def chrf(preds: Sequence[str], refs: Refs) -> MetricResult:
    """Corpus chrF2, exactly ``sacrebleu.corpus_chrf`` with its defaults (char n-gram 6, word n-gram 0, beta 2).

    Args:
        preds: one hypothesis per item.
        refs: one reference or a list of references per item.

    Returns:
        ``scores["chrf"]`` on 0-100 and ``rule`` = the sacrebleu signature.

    Raises:
        ValueError: lengths differ or an item has no reference.
    """
    from sacrebleu.metrics import CHRF

    ref_lists = _ref_lists(preds, refs)
    metric = CHRF()
    result = metric.corpus_score(list(preds), _ref_streams(ref_lists))  # type: ignore[arg-type]
    return MetricResult({"chrf": float(result.score)}, str(metric.get_signature()), len(preds))


_SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+(?=\S)")


def split_sentences(text: str) -> str:
    """Put one sentence per line, for ROUGE-Lsum.

    Text that already contains newlines is kept as it is (its lines are its sentences). Otherwise it is split
    after ``.``, ``!`` or ``?`` followed by whitespace. This is a plain rule rather than nltk's punkt (which needs
    a download); reports say so in the ROUGE rule.

    Args:
        text: a summary.

    Returns:
        The text with sentences separated by ``\\n``.
    """
    if "\n" in text:
        return text
    return _SENTENCE_END_RE.sub("\n", text.strip())


def rouge_items(
    preds: Sequence[str], refs: Refs, use_stemmer: bool = False, rouge_types: Sequence[str] = ROUGE_TYPES
) -> list[dict[str, float]]:
    """Per-item ROUGE F1 from ``rouge_score.rouge_scorer.RougeScorer`` (max over an item's references).

    Calls ``score(target, prediction)`` (``score_multi`` for several references), with the default tokenizer
    (lowercase, ``[a-z0-9]`` tokens). For ``rougeLsum`` both texts go through :func:`split_sentences` first.

    Args:
        preds: one prediction per item.
        refs: one reference or a list of references per item.
        use_stemmer: Porter stemming (report it).
        rouge_types: which of rouge1, rouge2, rougeL, rougeLsum (rougeN for other N also works).

    Returns:
        One dict per item: rouge type -> F1.

    Raises:
        ValueError: lengths differ or an item has no reference.
    """
    from rouge_score import rouge_scorer

    ref_lists = _ref_lists(preds, refs)
    plain = [t for t in rouge_types if t != "rougeLsum"]
    scorer = rouge_scorer.RougeScorer(plain, use_stemmer=use_stemmer) if plain else None
    lsum = (
        rouge_scorer.RougeScorer(["rougeLsum"], use_stemmer=use_stemmer)
        if "rougeLsum" in rouge_types
        else None
    )
    out: list[dict[str, float]] = []
    for pred, targets in zip(preds, ref_lists):
        item: dict[str, float] = {}
        if scorer is not None:
            s = scorer.score(targets[0], pred) if len(targets) == 1 else scorer.score_multi(targets, pred)
            item.update({k: float(v.fmeasure) for k, v in s.items()})
        if lsum is not None:
            p, ts = split_sentences(pred), [split_sentences(t) for t in targets]
            s = lsum.score(ts[0], p) if len(ts) == 1 else lsum.score_multi(ts, p)
            item["rougeLsum"] = float(s["rougeLsum"].fmeasure)
        out.append({t: item[t] for t in rouge_types})
    return out


def rouge_rule(use_stemmer: bool = False) -> str:
    """The rule string reported beside ROUGE scores."""
    return (
        "rouge_score.RougeScorer score(target, prediction), default tokenizer (lowercase, [a-z0-9]), "
        f"stemmer={'porter' if use_stemmer else 'none'}, F1 max over references, plain mean over items; "
        "rougeLsum: sentences split on newlines, else after .!? + whitespace"
    )


def rouge(preds: Sequence[str], refs: Refs, use_stemmer: bool = False) -> MetricResult:
    """ROUGE-1/2/L/Lsum: the plain mean over items of rouge-score's per-item F1 (not a bootstrap "mid").

    Args:
        preds: one prediction per item.
        refs: one reference or a list of references per item.
        use_stemmer: Porter stemming.

    Returns:
        ``scores`` with rouge1, rouge2, rougeL, rougeLsum on 0-1.

    Raises:
        ValueError: lengths differ or an item has no reference.
    """
    items = rouge_items(preds, refs, use_stemmer)
    n = len(items)
    scores = {t: (math.fsum(i[t] for i in items) / n if n else 0.0) for t in ROUGE_TYPES}
    return MetricResult(scores, rouge_rule(use_stemmer), n)


# ---------------------------------------------------------------------------------------------- SQuAD v1.1

_PUNCT = set(string.punctuation)
_ARTICLES_RE = re.compile(r"\b(a|an|the)\b")
SQUAD_RULE = (
    "SQuAD v1.1: lowercase, strip ASCII punctuation, drop a/an/the, collapse whitespace; "
    "F1 over token counts; max over gold answers; mean over items"
)


def normalize_squad(text: str) -> str:
    """SQuAD v1.1 answer normalization: lowercase, remove punctuation, drop articles, collapse whitespace.

    Args:
        text: an answer.

    Returns:
        The normalized answer.
    """
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    text = _ARTICLES_RE.sub(" ", text)
    return " ".join(text.split())


def _golds(gold: str | Sequence[str]) -> list[str]:
    golds = [gold] if isinstance(gold, str) else list(gold)
    if not golds:
        raise ValueError("no gold answer")
    return golds


def squad_em(pred: str, gold: str | Sequence[str]) -> float:
    """Exact match of one prediction (1.0 or 0.0), max over the gold answers, after :func:`normalize_squad`."""
    p = normalize_squad(pred)
    return max(1.0 if p == normalize_squad(g) else 0.0 for g in _golds(gold))


def _token_f1(pred: str, gold: str) -> float:
    p, g = normalize_squad(pred).split(), normalize_squad(gold).split()
    common = Counter(p) & Counter(g)
    same = sum(common.values())
    if same == 0:  # v1.1: also 0 when both are empty
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def squad_f1(pred: str, gold: str | Sequence[str]) -> float:
    """Token F1 of one prediction over token counts, max over the gold answers (SQuAD v1.1)."""
    return max(_token_f1(pred, g) for g in _golds(gold))


def exact_match(preds: Sequence[str], refs: Refs) -> MetricResult:
    """Mean SQuAD v1.1 exact match (0-1).

    Args:
        preds: one answer per item.
        refs: one gold answer or a list of gold answers per item.

    Returns:
        ``scores["exact_match"]``.

    Raises:
        ValueError: lengths differ or an item has no gold answer.
    """
    ref_lists = _ref_lists(preds, refs)
    vals = [squad_em(p, g) for p, g in zip(preds, ref_lists)]
    return MetricResult({"exact_match": math.fsum(vals) / len(vals) if vals else 0.0}, SQUAD_RULE, len(vals))


def f1(preds: Sequence[str], refs: Refs) -> MetricResult:
    """Mean SQuAD v1.1 token F1 (0-1).

    Args:
        preds: one answer per item.
        refs: one gold answer or a list of gold answers per item.

    Returns:
        ``scores["f1"]``.

    Raises:
        ValueError: lengths differ or an item has no gold answer.
    """
    ref_lists = _ref_lists(preds, refs)
    vals = [squad_f1(p, g) for p, g in zip(preds, ref_lists)]
    return MetricResult({"f1": math.fsum(vals) / len(vals) if vals else 0.0}, SQUAD_RULE, len(vals))


# ---------------------------------------------------------------------------------------------- classification


def classification(y_true: Sequence[str], y_pred: Sequence[str]) -> MetricResult:
    """Accuracy and macro/micro precision, recall, F1 from scikit-learn.

    Labels are the sorted union of the true and predicted labels (so a predicted label that never occurs in the
    gold counts against macro scores); classes with no prediction or no support score 0 (``zero_division=0``).

    Args:
        y_true: gold labels.
        y_pred: predicted labels.

    Returns:
        ``scores`` with accuracy, precision_macro, recall_macro, f1_macro, precision_micro, recall_micro, f1_micro.

    Raises:
        ValueError: lengths differ or no items.
    """
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} gold labels but {len(y_pred)} predictions")
    if not y_true:
        raise ValueError("no items to score")
    labels = sorted(set(y_true) | set(y_pred))
    scores = {"accuracy": float(accuracy_score(y_true, y_pred))}
    for avg in ("macro", "micro"):
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=labels, average=avg, zero_division=0
        )
        scores.update({f"precision_{avg}": float(p), f"recall_{avg}": float(r), f"f1_{avg}": float(f)})
    rule = "sklearn.metrics (y_true, y_pred); labels = union of gold and predicted; zero_division=0"
    return MetricResult(scores, rule, len(y_true), {"labels": labels})


def perplexity_from_nll(total_nll: float, n_tokens: int, n_bytes: int | None = None) -> dict[str, float]:
    """Pooled perplexity and bits per byte from a summed negative log-likelihood (natural log).

    ``perplexity = exp(total_nll / n_tokens)`` over the whole set (not a mean of per-text perplexities);
    ``bits_per_byte = total_nll / n_bytes / ln 2`` (UTF-8 bytes of the scored text; comparable across tokenizers).

    Args:
        total_nll: Σ NLL in nats over every predicted token.
        n_tokens: Σ predicted tokens.
        n_bytes: Σ UTF-8 bytes of the scored text (``bits_per_byte`` is omitted when ``None``).

    Returns:
        ``{"perplexity": ..., "bits_per_byte": ...}``.

    Raises:
        ValueError: ``n_tokens`` or ``n_bytes`` not positive, or a negative or non-finite NLL.
    """
    if n_tokens <= 0:
        raise ValueError("n_tokens must be positive")
    if not math.isfinite(total_nll) or total_nll < 0:
        raise ValueError(f"total_nll must be a finite non-negative number, got {total_nll}")
    out = {"perplexity": math.exp(total_nll / n_tokens)}
    if n_bytes is not None:
        if n_bytes <= 0:
            raise ValueError("n_bytes must be positive")
        out["bits_per_byte"] = total_nll / n_bytes / math.log(2)
    return out


# ---------------------------------------------------------------------------------------------- dispatcher


def compute_metrics(names: Sequence[str], preds: Sequence[str], refs: Refs) -> dict[str, object]:
    """Compute the named metrics (DESIGN.md names) and say how each was computed.

    Args:
        names: any of ``bleu chrf rouge1 rouge2 rougeL rougeLsum exact_match f1 accuracy precision_macro
            recall_macro f1_macro f1_micro``.
        preds: one prediction per item.
        refs: one reference or a list of references per item (classification metrics need exactly one label per
            item; labels are compared after stripping surrounding whitespace).

    Returns:
        ``{"scores": {name: value}, "rules": {name: rule or signature}, "n_items": N}``.

    Raises:
        ValueError: an unknown metric name, no items, mismatched lengths, an item without a reference, or several labels
            for one item with a classification metric.
    """
    unknown = [n for n in names if n not in METRIC_NAMES]
    if unknown:
        raise ValueError(f"unknown metric(s) {', '.join(unknown)}; known: {', '.join(METRIC_NAMES)}")
    if not preds:
        raise ValueError("no items to score")
    ref_lists = _ref_lists(preds, refs)
    scores: dict[str, float] = {}
    rules: dict[str, str] = {}

    def take(result: MetricResult, wanted: Sequence[str]) -> None:
        for n in wanted:
            scores[n] = result.scores[n]
            rules[n] = result.rule

    wanted = list(dict.fromkeys(names))
    if "bleu" in wanted:
        take(bleu(preds, ref_lists), ["bleu"])
    if "chrf" in wanted:
        take(chrf(preds, ref_lists), ["chrf"])
    rouge_wanted = [n for n in wanted if n in ROUGE_TYPES]
    if rouge_wanted:
        items = rouge_items(preds, ref_lists, rouge_types=rouge_wanted)
        n = len(items)
        for t in rouge_wanted:
            scores[t] = math.fsum(i[t] for i in items) / n if n else 0.0
            rules[t] = rouge_rule(False)
    if "exact_match" in wanted:
        take(exact_match(preds, ref_lists), ["exact_match"])
    if "f1" in wanted:
        take(f1(preds, ref_lists), ["f1"])
    cls_wanted = [n for n in wanted if n in CLASSIFICATION_METRICS]
    if cls_wanted:
        bad = [i for i, r in enumerate(ref_lists) if len(r) != 1]
        if bad:
            raise ValueError(
                f"classification metrics need one label per item; item {bad[0]} has {len(ref_lists[bad[0]])}"
            )
        take(classification([r[0].strip() for r in ref_lists], [p.strip() for p in preds]), cls_wanted)
    return {
        "scores": {n: scores[n] for n in wanted},
        "rules": {n: rules[n] for n in wanted},
        "n_items": len(preds),
    }
