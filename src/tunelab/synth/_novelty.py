"""ROUGE-L novelty filter (Self-Instruct, Wang et al. 2023): drop an instruction whose ROUGE-L F-measure
against any kept instruction exceeds a threshold (0.7 in the paper and in Alpaca).

The decision must equal ``rouge_score``'s: ``RougeScorer(["rougeL"]).score(kept, new).fmeasure > threshold``
(default tokenizer, no stemming). The naive filter scores every new instruction against every kept one
(quadratic, and each score an O(m·n) dynamic program in Python). Here:

1. each text is tokenized once with rouge_score's own tokenizer (lowercase, ``[a-z0-9]+`` tokens);
2. kept instructions are indexed by token (an inverted index of numpy posting arrays with counts);
3. for a new instruction, the token-multiset overlap ``ov = Σ_w min(c_new(w), c_kept(w))`` with every kept
   instruction comes from the postings of its tokens in a few vectorized adds. ``LCS <= ov``, and the F-measure
   rises with the LCS, so ``F(ov)`` bounds the real score: a kept instruction with ``F(ov) <= threshold`` cannot
   make the new one a near copy and is skipped (a 1e-9 margin keeps float rounding on the safe side);
4. the exact LCS is computed only for the survivors, with the bit-parallel LCS of Allison and Dix (1986)
   (one big-int update per token), and scored with rouge_score's float formula, so ties at the threshold fall
   the same way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = ["NoveltyIndex", "NoveltyDecision", "rouge_tokens", "rouge_l_fmeasure", "lcs_length"]

_MARGIN = 1e-9
_tokenizer: Any = None


def rouge_tokens(text: str) -> list[str]:
    """Tokens as ``rouge_score``'s default tokenizer makes them (lowercased ``[a-z0-9]+`` runs, no stemming)."""
    global _tokenizer
    if _tokenizer is None:
        from rouge_score.tokenizers import DefaultTokenizer

        _tokenizer = DefaultTokenizer(use_stemmer=False)
    tokens: list[str] = _tokenizer.tokenize(text)
    return tokens


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token lists (bit-parallel, Allison-Dix / Hyyrö).

    Args:
        a: first token list.
        b: second token list.

    Returns:
        The LCS length.
    """
    if not a or not b:
        return 0
    masks: dict[str, int] = {}
    for i, tok in enumerate(a):
        masks[tok] = masks.get(tok, 0) | (1 << i)
    full = (1 << len(a)) - 1
    v = full
    for tok in b:
        u = v & masks.get(tok, 0)
        v = ((v + u) | (v - u)) & full
    return len(a) - bin(v).count("1")


def _fmeasure(lcs: int, n_target: int, n_prediction: int) -> float:
    # rouge_score._score_lcs + scoring.fmeasure, the same float operations in the same order
    if lcs == 0:
        return 0.0
    precision = lcs / n_prediction
    recall = lcs / n_target
    if precision + recall > 0:
        return 2 * precision * recall / (precision + recall)
    return 0.0


def rouge_l_fmeasure(target: str, prediction: str) -> float:
    """ROUGE-L F-measure exactly as ``RougeScorer(["rougeL"]).score(target, prediction).fmeasure``."""
    t, p = rouge_tokens(target), rouge_tokens(prediction)
    if not t or not p:
        return 0.0
    return _fmeasure(lcs_length(t, p), len(t), len(p))


@dataclass(frozen=True)
class NoveltyDecision:
    """Whether a text is novel against the kept ones.

    Attributes:
        novel: ``True`` when no kept text scores above the threshold.
        score: the highest exact ROUGE-L F among the kept texts that were scored exactly (0.0 when the bound
            ruled all of them out: then every score is at most the threshold).
        match: index of that kept text, or -1.
        n_exact: how many kept texts needed the exact LCS (the rest were pruned by the bound).
    """

    novel: bool
    score: float
    match: int
    n_exact: int


class _Postings:
    """Growable (doc id, count) arrays for one token."""

    __slots__ = ("ids", "counts", "n")

    def __init__(self) -> None:
        import numpy as np

        self.ids = np.empty(4, dtype=np.int64)
        self.counts = np.empty(4, dtype=np.int32)
        self.n = 0

    def append(self, doc: int, count: int) -> None:
        import numpy as np

        if self.n == len(self.ids):
            self.ids = np.concatenate([self.ids, np.empty_like(self.ids)])
            self.counts = np.concatenate([self.counts, np.empty_like(self.counts)])
        self.ids[self.n] = doc
        self.counts[self.n] = count
        self.n += 1


class NoveltyIndex:
    """Kept texts indexed for the ROUGE-L novelty test (module docstring).

    Args:
        threshold: a text is a near copy when its ROUGE-L F against a kept text is ``> threshold``.
        texts: texts kept from the start (e.g. the seed instructions).
    """

    def __init__(self, threshold: float = 0.7, texts: Iterable[str] = ()) -> None:
        import numpy as np

        self.threshold = float(threshold)
        self.texts: list[str] = []
        self._tokens: list[list[str]] = []
        self._lens = np.zeros(64, dtype=np.float64)
        self._postings: dict[str, _Postings] = {}
        for t in texts:
            self.add(t)

    def __len__(self) -> int:
        return len(self.texts)

    def add(self, text: str, tokens: list[str] | None = None) -> int:
        """Keep a text; returns its index."""
        import numpy as np

        toks = rouge_tokens(text) if tokens is None else tokens
        doc = len(self.texts)
        self.texts.append(text)
        self._tokens.append(toks)
        if doc == len(self._lens):
            self._lens = np.concatenate([self._lens, np.zeros_like(self._lens)])
        self._lens[doc] = len(toks)
        for tok, c in Counter(toks).items():
            post = self._postings.get(tok)
            if post is None:
                post = self._postings[tok] = _Postings()
            post.append(doc, c)
        return doc

    def _candidates(self, toks: list[str]) -> np.ndarray:
        import numpy as np

        n = len(self.texts)
        ov = np.zeros(n, dtype=np.int32)
        for tok, c in Counter(toks).items():
            post = self._postings.get(tok)
            if post is not None:  # a doc appears once per posting list, so fancy-index += is exact
                ov[post.ids[: post.n]] += np.minimum(post.counts[: post.n], c)
        docs = np.nonzero(ov)[0]
        if len(docs) == 0:
            return docs
        o = ov[docs].astype(np.float64)
        p = o / len(toks)
        r = o / self._lens[docs]
        bound = 2 * p * r / (p + r)  # F at LCS = overlap: an upper bound of the real F
        return docs[bound > self.threshold - _MARGIN]

    def check(self, text: str, tokens: list[str] | None = None) -> NoveltyDecision:
        """Test a text against the kept ones without keeping it.

        Args:
            text: the new text.
            tokens: its rouge tokens, if already computed.

        Returns:
            A :class:`NoveltyDecision`.
        """
        toks = rouge_tokens(text) if tokens is None else tokens
        if not toks or not self.texts:
            return NoveltyDecision(True, 0.0, -1, 0)
        best, best_doc = 0.0, -1
        docs = self._candidates(toks)
        for d in docs.tolist():
            kept = self._tokens[d]
            f = _fmeasure(lcs_length(toks, kept), len(kept), len(toks))
            if f > best:
                best, best_doc = f, d
        return NoveltyDecision(best <= self.threshold, best, best_doc, len(docs))

    def check_and_add(self, text: str) -> NoveltyDecision:
        """Test a text and keep it when it is novel."""
        toks = rouge_tokens(text)
        decision = self.check(text, toks)
        if decision.novel:
            self.add(text, toks)
        return decision
