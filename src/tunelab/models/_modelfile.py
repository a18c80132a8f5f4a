"""An Ollama ``Modelfile`` beside an exported GGUF: the chat template translated to Go template syntax.

Ollama renders prompts with Go's ``text/template``, not Jinja. The translation does not parse Jinja: it
renders the tokenizer's template on sentinel messages and reads off, per role, the text written before and
after a message's content, the generation prompt, text written once at the start, and the default system
prompt a template inserts when a conversation has none (SmolLM2's does). The Go template then writes those
pieces around each message. Before anything is written, the pieces are checked against the Jinja template on
several conversations (:func:`render_parts` is the Go template's logic in Python); a template that is not of
this per-role form (one that merges the system prompt into the first user turn, say) is refused.

Every literal piece is written as a Go string literal inside ``{{ }}``, so whitespace trimming (``{{-``) only
ever removes the template's own layout, never a newline that belongs to the prompt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tunelab.errors import InputError
from tunelab.models._gguf_vocab import end_of_turn_token

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = ["TemplateParts", "template_parts", "render_parts", "go_template", "write_modelfile"]

ROLES = ("system", "user", "assistant")
_S = ("\u2063S\u2063", "\u2063X\u2063", "\u2063Y\u2063")  # sentinels: system, first and second content

#: conversations on which the translation must reproduce the Jinja template exactly
CHECK_CONVERSATIONS: tuple[tuple[tuple[str, str], ...], ...] = (
    (("user", "Hi"),),
    (("system", "Be brief."), ("user", "Hi")),
    (("user", "Hi"), ("assistant", "Hello! How can I help?"), ("user", "Add 2 and 3.")),
    (("system", "S"), ("user", "a\nb"), ("assistant", "c"), ("user", "d"), ("assistant", "e"), ("user", "f")),
)


@dataclass(frozen=True)
class TemplateParts:
    """A chat template as literal pieces around each message's content."""

    start: str  # written once, before the first message
    prefix: dict[str, str]
    suffix: dict[str, str]
    generation: str  # after the last message when a reply is wanted
    default_system: str | None  # system prompt the template inserts when there is none


def _render(tok: PreTrainedTokenizerBase, msgs: list[tuple[str, str]], gen: bool) -> str:
    conv = [{"role": r, "content": c} for r, c in msgs]
    return str(tok.apply_chat_template(conv, add_generation_prompt=gen, tokenize=False))


def _around(text: str, sentinel: str, where: str) -> tuple[str, str]:
    if text.count(sentinel) != 1:
        raise InputError(
            f"the chat template does not write a {where} message's content once", field="chat_template"
        )
    before, after = text.split(sentinel)
    return before, after


def template_parts(tok: PreTrainedTokenizerBase) -> TemplateParts:
    """Read the per-role pieces of ``tok``'s chat template (see the module docstring).

    Raises:
        InputError: the template is not of the per-role form, or cannot be rendered.
    """
    sys_s, x, _ = _S
    try:
        system_only = _render(tok, [("system", sys_s)], False)
        sys_pre, sys_suf = _around(system_only, sys_s, "system")
        prefix, suffix = {"system": sys_pre}, {"system": sys_suf}
        for role in ("user", "assistant"):
            text = _render(tok, [("system", sys_s), (role, x)], False)
            if not text.startswith(system_only):
                raise InputError(
                    f"the chat template renders a {role} turn after a system turn differently from the "
                    "system turn alone",
                    field="chat_template",
                )
            prefix[role], suffix[role] = _around(text[len(system_only) :], x, role)
        ask = [("system", sys_s), ("user", x)]
        gen_text, plain = _render(tok, ask, True), _render(tok, ask, False)
        user_only = _render(tok, [("user", x)], False)
    except InputError:
        raise
    except Exception as e:  # jinja2 errors: a template that raises on these conversations
        raise InputError(
            f"cannot render the chat template on test conversations: {e}", field="chat_template"
        ) from e
    if not gen_text.startswith(plain):
        raise InputError("the generation prompt is not appended to the conversation", field="chat_template")
    lead = (
        user_only[: -len(prefix["user"] + x + suffix["user"])]
        if user_only.endswith(x + suffix["user"])
        else None
    )
    if lead is None or not user_only.startswith(lead + prefix["user"]):
        raise InputError("cannot locate the user turn in the rendered template", field="chat_template")
    start, default_system = "", None
    bos = str(tok.bos_token or "")
    # BOS written once at the start (Llama 3), unless every turn opens with that token (SmolLM2's BOS is
    # <|im_start|>, which opens each ChatML turn)
    if (
        bos
        and lead.startswith(bos)
        and prefix["system"].startswith(bos)
        and not prefix["user"].startswith(bos)
    ):
        start, lead = bos, lead[len(bos) :]
        prefix["system"] = prefix["system"][len(bos) :]
    if lead:  # a default system turn the template inserts
        pre, suf = prefix["system"], suffix["system"]
        if not (lead.startswith(pre) and lead.endswith(suf) and len(lead) >= len(pre) + len(suf)):
            raise InputError(
                "the chat template writes text before a first user turn that is not a system turn"
            )
        default_system = lead[len(pre) : len(lead) - len(suf)]
    return TemplateParts(start, prefix, suffix, gen_text[len(plain) :], default_system)


def render_parts(
    parts: TemplateParts, messages: list[tuple[str, str]], add_generation_prompt: bool = True
) -> str:
    """What the Go template of :func:`go_template` renders, as Ollama runs it (default system inserted)."""
    msgs = list(messages)
    if parts.default_system is not None and (not msgs or msgs[0][0] != "system"):
        msgs.insert(0, ("system", parts.default_system))
    out = [parts.start]
    for i, (role, content) in enumerate(msgs):
        last = i == len(msgs) - 1
        out.append(parts.prefix[role] + content)
        if not (role == "assistant" and last):
            out.append(parts.suffix[role])
        if last and role != "assistant" and add_generation_prompt:
            out.append(parts.generation)
    return "".join(out)


def _lit(s: str) -> str:
    """A Go template action printing ``s`` (JSON string escapes are valid Go string escapes)."""
    return "{{ " + json.dumps(s, ensure_ascii=False) + " }}" if s else ""


def go_template(parts: TemplateParts) -> str:
    """The Ollama ``TEMPLATE`` (Go ``text/template`` over ``.Messages``) for ``parts``."""
    p, s = parts.prefix, parts.suffix
    lines = [
        "{{- range $i, $_ := .Messages }}",
        "{{- $last := eq (len (slice $.Messages $i)) 1 }}",
        "{{- if eq $i 0 }}" + _lit(parts.start) + "{{ end }}" if parts.start else "",
        '{{- if eq .Role "system" }}' + _lit(p["system"]) + "{{ .Content }}" + _lit(s["system"]),
        '{{- else if eq .Role "user" }}' + _lit(p["user"]) + "{{ .Content }}" + _lit(s["user"]),
        '{{- else if eq .Role "assistant" }}' + _lit(p["assistant"]) + "{{ .Content }}"
        "{{ if not $last }}" + _lit(s["assistant"]) + "{{ end }}",
        "{{- end }}",
        '{{- if and $last (ne .Role "assistant") }}' + _lit(parts.generation) + "{{ end }}",
        "{{- end }}",
    ]
    return "\n".join(line for line in lines if line)


def _check(tok: PreTrainedTokenizerBase, parts: TemplateParts) -> None:
    for conv in CHECK_CONVERSATIONS:
        want = _render(tok, list(conv), True)
        got = render_parts(parts, list(conv))
        if got != want:
            raise InputError(
                f"the chat template cannot be translated for Ollama: on {list(conv)!r} Jinja renders {want!r} "
                f"but the per-role translation {got!r}",
                field="chat_template",
            )


def write_modelfile(
    tok: PreTrainedTokenizerBase, gguf_file: str | Path, context_length: int, out: str | Path | None = None
) -> Path:
    """Write an Ollama Modelfile for ``gguf_file`` (default: ``Modelfile`` in the same folder).

    Decoding defaults are tunelab's evaluation settings (greedy, no repetition penalty); stop strings are the
    end-of-turn and EOS tokens, the ones tunelab's transformers backend stops on.

    Raises:
        InputError: the chat template cannot be translated (nothing is written).
    """
    from tunelab.models._gguf import atomic_write_text

    parts = template_parts(tok)
    _check(tok, parts)
    stops = [end_of_turn_token(tok)]
    if tok.eos_token and tok.eos_token not in stops:
        stops.append(str(tok.eos_token))
    gguf_path = Path(gguf_file)
    target = Path(out) if out is not None else gguf_path.parent / "Modelfile"
    lines = [
        "# Written by tunelab (model export --ollama). Create the model with:",
        f"#   ollama create NAME -f {target.name}",
        f"FROM ./{gguf_path.name}",
        f'TEMPLATE """{go_template(parts)}"""',
    ]
    if parts.default_system is not None:
        if '"""' in parts.default_system:
            raise InputError('the default system prompt contains """', field="chat_template")
        lines.append(f'SYSTEM """{parts.default_system}"""')
    lines += [f"PARAMETER stop {json.dumps(s, ensure_ascii=False)}" for s in stops]
    lines += [
        "PARAMETER temperature 0",
        "PARAMETER repeat_penalty 1.0",
        f"PARAMETER num_ctx {min(context_length, 8192)}",
    ]
    atomic_write_text(target, "\n".join(lines) + "\n")
    return target
