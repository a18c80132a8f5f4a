"""Loss masks on real tokenizers of two chat-template families (and the embedded tiny one)."""

from __future__ import annotations

from typing import Any

import pytest

from tunelab.data import Example, encode, encode_with_report
from tunelab.errors import TunelabError

CONV = Example(
    id="conv-1",
    messages=[
        {"role": "system", "content": "you are a helpful assistant"},
        {"role": "user", "content": "what is the capital of france?"},
        {"role": "assistant", "content": "paris is the answer"},
        {"role": "user", "content": "compute the ratio of two values"},
        {"role": "assistant", "content": "the ratio is ten percent!"},
    ],
)


def labelled_spans(row: dict[str, list[int]]) -> list[list[int]]:
    """Contiguous runs of labelled token ids."""
    spans: list[list[int]] = []
    prev = False
    for tid, lab in zip(row["input_ids"], row["labels"]):
        if lab != -100:
            assert lab == tid
            if not prev:
                spans.append([])
            spans[-1].append(tid)
        prev = lab != -100
    return spans


@pytest.fixture(params=["llama3", "chatml", "tiny"])
def any_tok(request: pytest.FixtureRequest) -> Any:
    if request.param == "tiny":
        from tunelab.models import load_tokenizer

        return load_tokenizer("tunelab-tiny")
    return request.getfixturevalue(f"{request.param}_tok")


def test_assistant_mask_labels_exactly_assistant_content_and_eot(any_tok: Any) -> None:
    (row,) = encode([CONV], any_tok, 512, mask="assistant")
    spans = [any_tok.decode(s) for s in labelled_spans(row)]
    eot = any_tok.eos_token
    assert spans == [f"paris is the answer{eot}", f"the ratio is ten percent!{eot}"]
    assert row["attention_mask"] == [1] * len(row["input_ids"])
    # the full sequence is exactly the template rendering (no doubled BOS)
    text = any_tok.apply_chat_template(CONV.messages, tokenize=False)
    assert any_tok.decode(row["input_ids"]) == text


def test_last_mask_only_final_turn(chat_tok: Any) -> None:
    (row,) = encode([CONV], chat_tok, 512, mask="last")
    assert [chat_tok.decode(s) for s in labelled_spans(row)] == [
        f"the ratio is ten percent!{chat_tok.eos_token}"
    ]


def test_none_mask_whole_sequence(chat_tok: Any) -> None:
    (row,) = encode([CONV], chat_tok, 512, mask="none")
    assert row["labels"] == row["input_ids"]


def test_plain_render_prompt_completion_eos(chat_tok: Any) -> None:
    ex = Example(
        id="p",
        messages=[
            {"role": "user", "content": "Sentence: translate this\nTranslation:"},
            {"role": "assistant", "content": " hello world"},
        ],
    )
    (row,) = encode([ex], chat_tok, 512, render="plain")
    # the format carries its own separator: nothing is inserted between prompt and completion
    assert [chat_tok.decode(s) for s in labelled_spans(row)] == [f" hello world{chat_tok.eos_token}"]
    assert (
        chat_tok.decode(row["input_ids"], skip_special_tokens=True)
        == "Sentence: translate this\nTranslation: hello world"
    )
    if chat_tok.bos_token_id is not None:
        assert row["input_ids"][0] == chat_tok.bos_token_id


def test_prefix_guard_refuses_and_names_example(broken_tok: Any) -> None:
    with pytest.raises(TunelabError, match="conv-1.*token prefix"):
        encode([CONV], broken_tok, 512)
    # mask="none" needs no prefixes, so the same template is accepted
    assert encode([CONV], broken_tok, 512, mask="none")


def test_pad_equal_eos_still_learns_eos_and_says_so_once(
    pad_is_eos_tok: Any, chatml_tok: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import logging

    from tunelab.data import _render, pack

    monkeypatch.setattr(_render, "_told_pad_is_eos", set())
    eos = pad_is_eos_tok.eos_token_id
    assert eos == pad_is_eos_tok.pad_token_id
    with caplog.at_level(logging.INFO, logger="tunelab.data"):
        rows, rep = encode_with_report([CONV, CONV], pad_is_eos_tok, 512)
        encode_with_report([CONV], pad_is_eos_tok, 512)  # a second call (val split, replay): no new line
        encode_with_report([CONV], chatml_tok, 512)  # pad != EOS: nothing to say
    told = [r for r in caplog.records if "pad token == EOS" in r.getMessage()]
    assert len(told) == 1 and "EOS keeps its loss" in told[0].getMessage()
    assert rep.warnings == []
    # every assistant turn's closing EOS carries its label, in packed rows padded with the same id
    n_turns = sum(m["role"] == "assistant" for m in CONV.messages)
    (row,) = pack(rows, 512, pad_token_id=eos).rows
    ids, labels, real = row["input_ids"], row["labels"], sum(row["seq_lens"])
    assert real < 512 and ids[real:] == [eos] * (512 - real)  # padding with the EOS id ...
    assert labels[real:] == [-100] * (512 - real)  # ... is masked by position
    labelled_eos = sum(t == eos and y == eos for t, y in zip(ids, labels))
    assert labelled_eos == 2 * n_turns  # while every assistant turn's closing EOS keeps its label


def test_overlong_drop_truncate_and_all_masked(chat_tok: Any) -> None:
    (full,) = encode([CONV], chat_tok, 512)
    n = len(full["input_ids"])
    rows, rep = encode_with_report([CONV], chat_tok, n - 1, overlong="drop")
    assert rows == [] and rep.dropped_overlong == 1 and rep.dropped[0][0] == "conv-1"
    rows, rep = encode_with_report([CONV], chat_tok, n - 1, overlong="truncate")
    assert rep.truncated == 1 and len(rows[0]["input_ids"]) == n - 1
    assert rows[0]["labels"] == full["labels"][: n - 1]
    # truncating before the last assistant turn with mask="last" leaves nothing to learn
    first_label = next(i for i, v in enumerate(full["labels"]) if v != -100)
    rows, rep = encode_with_report([CONV], chat_tok, first_label, mask="last", overlong="truncate")
    assert rows == [] and rep.dropped_all_masked == 1 and rep.encoded == 0
