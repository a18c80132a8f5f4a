"""Self-Instruct (Wang et al. 2023, "Self-Instruct: Aligning Language Models with Self-Generated Instructions").

Each batch:

1. builds ``batch_size`` prompts, each listing 8 instructions in context: 6 seed tasks and 2 machine-generated
   ones once the pool has them (the paper's mix), then asks for more (the model continues the numbered list);
2. parses the numbered instructions; the last one of an output cut by the token budget is dropped as truncated;
3. filters them (4-150 words, blacklist, punctuation / non-English start, ROUGE-L > 0.7 against any kept
   instruction, seed tasks included); instructions that pass join the pool;
4. asks the model for one instance (input, output) of each new instruction, few-shot with seed instances, and
   drops empty, input-copying and truncated outputs.

The run is resumable: see :mod:`tunelab.synth._run`.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunelab.errors import InputError
from tunelab.generation import Backend, Decoding
from tunelab.synth._filter import BLACKLIST, Rejections, instruction_problem, output_problem
from tunelab.synth._llm import as_prompt, cached_backend
from tunelab.synth._novelty import NoveltyIndex
from tunelab.synth._run import RunState, SynthResult

__all__ = ["SeedTask", "load_seed_tasks", "default_seeds_path", "parse_instructions", "self_instruct"]

#: the paper's sampling for instruction generation
INSTRUCTION_DECODING = Decoding(max_new_tokens=256, temperature=0.7, top_p=0.5, stop=("\n\n",))
#: instance generation (the paper used temperature 0 for instances)
INSTANCE_DECODING = Decoding(max_new_tokens=256, temperature=0.0, stop=("\nTask:",))

_HEADER = (
    "Come up with a series of tasks. Each task is one instruction a person could give an AI assistant that "
    "answers in text: make them diverse (medicine, finance, everyday life), specific, and different from "
    "each other.\n"
)
_CHAT_TAIL = "Continue the list with new tasks, one per numbered line, starting at {n}."
_INSTANCE_HEADER = (
    "Given a task, write one example input for it (or <noinput> when the task needs none) and the correct "
    "output.\n\n"
)
_NUMBER_RE = re.compile(r"(?:^|\n)[ \t]*\d{1,3}[ \t]*[.)][ \t]*")
_INSTANCE_RE = re.compile(r"^\s*(?P<input>.*?)\s*\n\s*Output:\s*(?P<output>.*?)\s*$", re.DOTALL)


@dataclass(frozen=True)
class SeedTask:
    """One seed task in the Self-Instruct layout."""

    id: str
    name: str
    instruction: str
    instances: list[dict[str, str]] = field(default_factory=list)
    is_classification: bool = False


def default_seeds_path() -> Path:
    """The seed tasks shipped with tunelab (medical, finance and general tasks)."""
    return Path(__file__).parent / "seeds" / "seed_tasks.jsonl"


def load_seed_tasks(path: str | Path) -> list[SeedTask]:
    """Read a seed tasks file (JSONL: ``{"id","name","instruction","instances":[{"input","output"}],
    "is_classification"}``).

    Args:
        path: the file.

    Returns:
        The seed tasks.

    Raises:
        InputError: a missing file, bad JSON, a missing or empty field, or no tasks at all.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError("no such seed tasks file", file=str(p))
    tasks: list[SeedTask] = []
    for lineno, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"not JSON: {e.msg}", file=str(p), line=lineno) from e
        if not isinstance(d, dict):
            raise InputError("each line must be a JSON object", file=str(p), line=lineno)
        if not isinstance(d.get("instruction"), str) or not d["instruction"].strip():
            raise InputError("missing or empty", file=str(p), line=lineno, field="instruction")
        instances = d.get("instances", [])
        if not isinstance(instances, list) or any(
            not isinstance(i, dict) or not isinstance(i.get("output"), str) for i in instances
        ):
            raise InputError(
                "must be a list of {input, output} objects", file=str(p), line=lineno, field="instances"
            )
        tasks.append(
            SeedTask(
                id=str(d.get("id", f"seed_task_{lineno}")),
                name=str(d.get("name", "")),
                instruction=d["instruction"].strip(),
                instances=[{"input": str(i.get("input") or ""), "output": i["output"]} for i in instances],
                is_classification=bool(d.get("is_classification", False)),
            )
        )
    if not tasks:
        raise InputError("the seed tasks file holds no tasks", file=str(p))
    return tasks


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def parse_instructions(
    output: str, truncated: bool, first_number: int | None = 9
) -> tuple[list[str], list[str]]:
    """Split a model's continuation of the numbered list into instructions.

    Args:
        output: the generated text.
        truncated: generation hit the token budget (the last instruction may be cut).
        first_number: the number the prompt ended with (the continuation's first item follows it directly),
            or ``None`` when the output writes its own numbers (chat prompts).

    Returns:
        ``(instructions, cut)``: the instructions and, when truncated, the dropped last one.
    """
    text = output if first_number is None else f"{first_number}. {output}"
    parts = [_clean(x) for x in _NUMBER_RE.split(text)]
    items = [x for x in parts if x]
    if truncated and items:
        return items[:-1], items[-1:]
    return items, []


def _instruction_prompt(
    rng: random.Random,
    seeds: Sequence[SeedTask],
    pool: Sequence[str],
    n_seed: int,
    n_machine: int,
    chat: bool,
) -> tuple[str, int]:
    machine = rng.sample(list(pool), min(n_machine, len(pool)))
    human = rng.sample([s.instruction for s in seeds], min(n_seed + n_machine - len(machine), len(seeds)))
    shown = human + machine
    rng.shuffle(shown)
    lines = [f"{i}. {_clean(t)}" for i, t in enumerate(shown, 1)]
    nxt = len(shown) + 1
    if chat:
        return _HEADER + "\n".join(lines) + "\n\n" + _CHAT_TAIL.format(n=nxt), nxt
    return _HEADER + "\n".join(lines) + f"\n{nxt}.", nxt


def _instance_prompt(
    rng: random.Random, seeds: Sequence[SeedTask], instruction: str, n_shots: int = 3
) -> str:
    with_instances = [s for s in seeds if s.instances]
    blocks = []
    for s in rng.sample(with_instances, min(n_shots, len(with_instances))):
        inst = s.instances[0]
        blocks.append(
            f"Task: {s.instruction}\nInput: {inst['input'] or '<noinput>'}\nOutput: {inst['output']}\n"
        )
    return _INSTANCE_HEADER + "\n".join(blocks) + f"\nTask: {instruction}\nInput:"


def _parse_instance(text: str) -> tuple[str, str] | None:
    m = _INSTANCE_RE.match(text)
    if m is None:
        return None
    inp = m.group("input").strip()
    return ("" if inp.lower() in ("<noinput>", "none", "") else inp), m.group("output").strip()


def _screen_instructions(
    next_numbers: list[int],
    gens: list[Any],
    batch: int,
    chat: bool,
    novelty: NoveltyIndex,
    rej: Rejections,
    limits: tuple[int, int, Sequence[str] | None, float],
) -> tuple[list[str], int]:
    """The new instructions of one batch that pass the heuristics (``limits``: min words, max words,
    blacklist, ROUGE-L threshold) and the novelty check, in order, and how many were generated; rejections are recorded."""
    min_words, max_words, blacklist, rouge_threshold = limits
    generated = 0
    accepted: list[str] = []
    for nxt, g in zip(next_numbers, gens):
        items, cut = parse_instructions(g.text, g.finish_reason == "length", None if chat else nxt)
        generated += len(items) + len(cut)
        for text in cut:
            rej.add(
                "truncated instruction (hit max tokens)", {"instruction": text, "batch": batch}, "instruction"
            )
        for text in items:
            rec = {"instruction": text, "batch": batch}
            problem = instruction_problem(text, min_words, max_words, blacklist)
            if problem:
                rej.add(problem[0], rec, "instruction", problem[1])
                continue
            d = novelty.check_and_add(text)
            if not d.novel:
                rej.add(
                    f"ROUGE-L > {rouge_threshold} against a kept instruction",
                    rec,
                    "instruction",
                    f"ROUGE-L {d.score:.3f} vs {novelty.texts[d.match]!r}",
                )
                continue
            accepted.append(text)
    return accepted, generated


def _keep_instances(
    todo: list[str], inst_gens: list[Any], seed: int, batch: int, rej: Rejections
) -> list[dict[str, Any]]:
    """Examples (as records) from the instances generated for ``todo``; unusable instances are recorded."""
    kept: list[dict[str, Any]] = []
    for j, (text, g) in enumerate(zip(todo, inst_gens)):
        parsed = _parse_instance(g.text)
        rec = {"instruction": text, "raw_instance": g.text, "batch": batch}
        if parsed is None:
            rej.add("instance without an Output: line", rec, "instance")
            continue
        inp, output = parsed
        problem = output_problem(inp, output, g.finish_reason)
        if problem:
            rej.add(problem[0], {**rec, "input": inp, "output": output}, "instance", problem[1])
            continue
        user = text + (f"\n\n{inp}" if inp else "")
        kept.append(
            {
                "id": f"self-instruct-{seed}-{batch}-{j}",
                "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": output}],
                "meta": {
                    "source": "self-instruct",
                    "task": "self_instruct",
                    "instruction": text,
                    "input": inp,
                    "batch": batch,
                },
            }
        )
    return kept


def self_instruct(
    backend: Backend,
    seeds: Sequence[SeedTask],
    out: str | Path,
    n: int,
    batch_size: int = 4,
    max_batches: int | None = None,
    seed: int = 0,
    chat: bool = False,
    n_seed_in_prompt: int = 6,
    n_generated_in_prompt: int = 2,
    rouge_threshold: float = 0.7,
    min_words: int = 4,
    max_words: int = 150,
    blacklist: Sequence[str] | None = BLACKLIST,
    instruction_decoding: Decoding = INSTRUCTION_DECODING,
    instance_decoding: Decoding = INSTANCE_DECODING,
    chunk_size: int = 8,
    progress: Callable[[SynthResult], None] | None = None,
) -> SynthResult:
    """Generate ``n`` instruction-following examples by Self-Instruct; resumable (rerun to continue).

    Args:
        backend: the generator (wrapped here in the run's request cache).
        seeds: seed tasks (:func:`load_seed_tasks`).
        out: output JSONL (one :class:`tunelab.data.Example` per line); ``OUT.rejected.jsonl`` and ``OUT.work/``
            are written beside it.
        n: examples wanted.
        batch_size: instruction-generation prompts per batch.
        max_batches: stop after this many batches even when ``n`` is not reached (default ``max(10, 4 n)``).
        seed: seeds the in-context sampling (and sampled decoding).
        chat: send prompts as one user turn (instruct/chat models) instead of a completion prompt.
        n_seed_in_prompt: human seed instructions per prompt (6 in the paper).
        n_generated_in_prompt: machine-generated ones per prompt once available (2 in the paper).
        rouge_threshold: novelty threshold (ROUGE-L F above it is a near copy).
        min_words: instruction length floor.
        max_words: instruction length ceiling.
        blacklist: forbidden words (``None``: off).
        instruction_decoding: decoding for instruction generation.
        instance_decoding: decoding for instance generation.
        chunk_size: requests per backend call (each chunk is cached as soon as it returns).
        progress: called with the running summary after each batch.

    Returns:
        A :class:`SynthResult`.

    Raises:
        InputError: ``n < 1``, ``batch_size < 1`` or no seed tasks.
    """
    if n < 1 or batch_size < 1:
        raise InputError("--n and --batch-size must be at least 1", field="n")
    if not seeds:
        raise InputError("need at least one seed task", field="seeds")
    limit = max_batches if max_batches is not None else max(10, 4 * n)
    cb = cached_backend(backend, out, chunk_size)
    state = RunState(out)
    novelty = NoveltyIndex(rouge_threshold, [s.instruction for s in seeds])
    pool: list[str] = []
    for e in state.journal.entries:
        for text in e.get("pool_added", []):
            novelty.add(text)
            pool.append(text)
    dec_i = dataclasses.replace(instruction_decoding, seed=seed)
    while len(state.kept) < n and state.batches < limit:
        b = state.batches
        rng = random.Random(f"self-instruct:{seed}:{b}")
        prompts = [
            _instruction_prompt(rng, seeds, pool, n_seed_in_prompt, n_generated_in_prompt, chat)
            for _ in range(batch_size)
        ]
        gens = cb.generate([as_prompt(p, chat) for p, _ in prompts], dec_i)
        rej = Rejections()
        accepted, generated = _screen_instructions(
            [nxt for _, nxt in prompts],
            gens,
            b,
            chat,
            novelty,
            rej,
            (min_words, max_words, blacklist, rouge_threshold),
        )
        pool.extend(accepted)
        need = n - len(state.kept)
        for text in accepted[need:]:
            rej.add("not needed (--n reached)", {"instruction": text, "batch": b}, "instruction")
        todo = accepted[:need]
        inst_gens = cb.generate(
            [as_prompt(_instance_prompt(rng, seeds, t), chat) for t in todo], instance_decoding
        )
        kept = _keep_instances(todo, inst_gens, seed, b, rej)
        state.commit(kept, rej, generated, pool_added=accepted)
        if progress is not None:
            progress(state.result(cb, len(state.kept) >= n))
    state.finish()
    return state.result(cb, len(state.kept) >= n)
