"""Evol-Instruct (Xu et al. 2023, "WizardLM: Empowering Large Language Models to Follow Complex Instructions").

Each round rewrites every instruction once, by one operation picked with a seeded RNG: five in-depth
operations (add constraints, deepen, concretize, increase reasoning steps, complicate the input) and one
in-breadth operation (a new instruction on a rarer topic in the same domain). The model then answers the
evolved instruction, and the paper's elimination step drops failed evolutions:

1. no information gain: the evolved instruction equals the original after normalization, or its ROUGE-L F
   against it is at least ``no_gain_rouge`` (optionally also when the model itself judges the two equal, with
   the paper's equality prompt);
2. the answer apologizes: it contains "sorry" and is shorter than 80 words;
3. the answer is only punctuation and stop words;
4. the evolved instruction copies words of the evolving prompt ("#Rewritten Prompt#", "given prompt" ...).

An instruction whose evolution fails goes into the next round unchanged (the last successful version
evolves). Every successful evolution of every round is written out. The run is resumable (see
:mod:`tunelab.synth._run`).
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tunelab.data import Example
from tunelab.errors import InputError
from tunelab.generation import Backend, Decoding
from tunelab.synth._filter import Rejections, instruction_text
from tunelab.synth._llm import as_prompt, cached_backend
from tunelab.synth._novelty import rouge_l_fmeasure
from tunelab.synth._run import RunState, SynthResult

__all__ = ["EVOL_OPERATIONS", "evol_prompt", "elimination_reason", "evol_instruct"]

_DEPTH = (
    "I want you to act as a prompt rewriter. Rewrite the prompt below into a more demanding version that a "
    "capable AI assistant would find harder to answer well, while a person could still understand and answer "
    "it. Keep the parts that are not plain text (tables, figures, code, quoted passages) as they are. {how} "
    "Add no more than 10 to 20 words to it, and do not mention the given prompt or the rewritten prompt in "
    "your answer.\n\n#Given Prompt#:\n{instruction}\n\n#Rewritten Prompt#:\n"
)
_BREADTH = (
    "I want you to act as a prompt creator. Take the prompt below as inspiration and write a brand-new prompt "
    "in the same domain on a less common topic. Make it about as long and as hard as the original, sensible, "
    "and answerable by a person. Do not mention the given prompt or the created prompt in your answer.\n\n"
    "#Given Prompt#:\n{instruction}\n\n#Created Prompt#:\n"
)
#: operation -> how the in-depth rewrite should make the prompt harder (``None``: in-breadth)
EVOL_OPERATIONS: dict[str, str | None] = {
    "add_constraints": "Add one more constraint or requirement the answer must satisfy.",
    "deepen": "If it asks about a particular issue, make the question go deeper and wider into that issue.",
    "concretize": "Replace general concepts with more specific, concrete ones (named quantities, cases, units).",
    "increase_reasoning": "If a few simple steps solve it, rewrite it so that it explicitly calls for "
    "reasoning in several steps.",
    "complicate_input": "Add a piece of input it must work from (a small table of figures, a short patient note "
    "or report excerpt, or a list of values) and make the task depend on it.",
    "breadth": None,
}
_EQUAL_PROMPT = (
    "Here are two instructions to an AI assistant. Are they equal to each other, meaning they have the same "
    "constraints and requirements and the same depth and breadth of inquiry?\n\nThe first instruction: "
    "{a}\n\nThe second instruction: {b}\n\nYour judgement (answer only Equal or Not Equal):"
)
_LEAK_RE = re.compile(
    r"#\s*(?:given|rewritten|created)\s*prompt\s*#|\b(?:given|rewritten|created)\s+prompt\b", re.IGNORECASE
)
_HEAD_RE = re.compile(r"^\s*#?\s*(?:rewritten|created)\s*prompt\s*#?\s*:?\s*", re.IGNORECASE)
# a compact English stop-word list (the closed-class words of NLTK's list)
_STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below between
    both but by can could did do does doing down during each few for from further had has have having he her here
    hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of
    off on once only or other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up very was we were what
    when where which while who whom why will with would you your yours yourself yourselves ok okay yes""".split()
)
#: evolution sampling; the answer is greedy
EVOL_DECODING = Decoding(max_new_tokens=256, temperature=0.7, top_p=0.95)
RESPONSE_DECODING = Decoding(max_new_tokens=256)


def evol_prompt(instruction: str, operation: str) -> str:
    """The prompt that asks the model to evolve ``instruction`` by ``operation`` (a key of EVOL_OPERATIONS).

    Raises:
        InputError: an unknown operation.
    """
    if operation not in EVOL_OPERATIONS:
        raise InputError(
            f"unknown evolution {operation!r}; known: {', '.join(EVOL_OPERATIONS)}", field="operation"
        )
    how = EVOL_OPERATIONS[operation]
    if how is None:
        return _BREADTH.format(instruction=instruction)
    return _DEPTH.format(how=how, instruction=instruction)


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def elimination_reason(
    original: str, evolved: str, response: str, no_gain_rouge: float = 0.9
) -> tuple[str, str] | None:
    """Why an evolution failed (the paper's elimination step), or ``None`` when it succeeded.

    Args:
        original: the instruction before this round.
        evolved: the evolved instruction.
        response: the model's answer to the evolved instruction.
        no_gain_rouge: ROUGE-L F against the original at or above which there is no information gain.

    Returns:
        ``(reason, detail)``.
    """
    if not evolved.strip():
        return "empty evolved instruction", ""
    m = _LEAK_RE.search(evolved)
    if m:
        return "copies the evolving prompt's words", m.group(0)
    if _norm(evolved) == _norm(original):
        return "no information gain", "same as the original"
    score = rouge_l_fmeasure(original, evolved)
    if score >= no_gain_rouge:
        return "no information gain", f"ROUGE-L {score:.3f} >= {no_gain_rouge} vs the original"
    words = re.findall(r"[A-Za-z0-9']+", response.lower())
    if "sorry" in response.lower() and len(response.split()) < 80:
        return "response apologizes (sorry, < 80 words)", ""
    if all(w in _STOPWORDS for w in words):
        return "response is only punctuation and stop words", response[:80]
    return None


def _clean_evolved(text: str) -> str:
    return _HEAD_RE.sub("", text.strip()).strip()


def _eliminate(
    rnd: int, rows: list[tuple[str, str, str, Any, str, str, bool]], no_gain_rouge: float, rej: Rejections
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Apply WizardLM's elimination rules to one batch of ``(id, operation, original, generation, evolved,
    response, judged equal)``: the kept examples (records) and the evolved instruction per kept id."""
    kept: list[dict[str, Any]] = []
    done: dict[str, str] = {}
    for i, op, orig, g, new, resp, eq in rows:
        rec = {
            "id": i,
            "round": rnd + 1,
            "operation": op,
            "original": orig,
            "evolved": new,
            "response": resp,
        }
        problem: tuple[str, str] | None = ("evolved instruction truncated (hit max tokens)", "")
        if g.finish_reason != "length":
            problem = elimination_reason(orig, new, resp, no_gain_rouge)
        if problem is None and eq:
            problem = ("no information gain", "the model judged the two instructions equal")
        if problem:
            rej.add(problem[0], rec, f"evol:{op}", problem[1])
            continue
        done[i] = new
        kept.append(
            {
                "id": f"{i}-evol{rnd + 1}",
                "messages": [{"role": "user", "content": new}, {"role": "assistant", "content": resp}],
                "meta": {
                    "source": "evol-instruct",
                    "evol_round": rnd + 1,
                    "evol_operation": op,
                    "parent_id": i,
                    "parent_instruction": orig,
                },
            }
        )
    return kept, done


def evol_instruct(
    backend: Backend,
    examples: Sequence[Example],
    out: str | Path,
    rounds: int = 1,
    batch_size: int = 8,
    seed: int = 0,
    chat: bool = False,
    operations: Sequence[str] = tuple(EVOL_OPERATIONS),
    no_gain_rouge: float = 0.9,
    model_equality_check: bool = False,
    evol_decoding: Decoding = EVOL_DECODING,
    response_decoding: Decoding = RESPONSE_DECODING,
    chunk_size: int = 8,
    progress: Callable[[SynthResult], None] | None = None,
) -> SynthResult:
    """Evolve instructions for ``rounds`` rounds, answer them and eliminate failed evolutions; resumable.

    Args:
        backend: the generator (wrapped here in the run's request cache).
        examples: the starting instructions (their prompt turns' text).
        out: output JSONL (one Example per successful evolution); ``OUT.rejected.jsonl`` and ``OUT.work/``
            are written beside it.
        rounds: evolution rounds.
        batch_size: instructions per batch (the journal's unit of work).
        seed: seeds the choice of operation per (round, instruction) and sampled decoding.
        chat: send prompts as one user turn instead of a completion prompt.
        operations: the operations to draw from.
        no_gain_rouge: see :func:`elimination_reason`.
        model_equality_check: also ask the model whether the two instructions are equal (the paper's check).
        evol_decoding: decoding of the rewrite.
        response_decoding: decoding of the answer.
        chunk_size: requests per backend call.
        progress: called with the running summary after each batch.

    Returns:
        A :class:`SynthResult` (``extra`` has ``rounds`` and ``operations`` counts).

    Raises:
        InputError: bad rounds / batch size, no examples, or a journal written with another batch size.
    """
    if rounds < 1 or batch_size < 1:
        raise InputError("--rounds and --batch-size must be at least 1", field="rounds")
    if not examples:
        raise InputError("no instructions to evolve", field="in")
    for op in operations:
        evol_prompt("x", op)
    cb = cached_backend(backend, out, chunk_size)
    state = RunState(out)
    ids = [ex.id or f"item-{i}" for i, ex in enumerate(examples)]
    current = {i: instruction_text(ex) for i, ex in zip(ids, examples)}
    for e in state.journal.entries:
        if e.get("batch_size") != batch_size:
            raise InputError(
                f"this run's journal was written with --batch-size {e.get('batch_size')}; rerun with it",
                field="batch_size",
            )
        current.update(e.get("evolved", {}))
    per_round = -(-len(ids) // batch_size)
    dec_e = dataclasses.replace(evol_decoding, seed=seed)
    while state.batches < rounds * per_round:
        b = state.batches
        rnd, start = divmod(b, per_round)
        batch_ids = ids[start * batch_size : (start + 1) * batch_size]
        ops = [random.Random(f"evol:{seed}:{rnd}:{i}").choice(list(operations)) for i in batch_ids]
        originals = [current[i] for i in batch_ids]
        gens = cb.generate([as_prompt(evol_prompt(o, op), chat) for o, op in zip(originals, ops)], dec_e)
        evolved = [_clean_evolved(g.text) for g in gens]
        answers = cb.generate([as_prompt(t, chat) for t in evolved if t], response_decoding)
        it = iter(answers)
        responses = [next(it).text if t else "" for t in evolved]
        equal: list[bool] = [False] * len(evolved)
        if model_equality_check:
            checks = cb.generate(
                [as_prompt(_EQUAL_PROMPT.format(a=o, b=t), chat) for o, t in zip(originals, evolved)],
                Decoding(max_new_tokens=8),
            )
            equal = [c.text.strip().lower().startswith("equal") for c in checks]
        rej = Rejections()
        kept, done = _eliminate(
            rnd, list(zip(batch_ids, ops, originals, gens, evolved, responses, equal)), no_gain_rouge, rej
        )
        current.update(done)
        state.commit(kept, rej, len(batch_ids), evolved=done, batch_size=batch_size, round=rnd + 1)
        if progress is not None:
            progress(state.result(cb, False))
    state.finish()
    return state.result(cb, True, rounds=rounds)
