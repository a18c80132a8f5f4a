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


def test_pad_equal_eos_is_reported(pad_is_eos_tok: Any, chatml_tok: Any) -> None:
    _, rep = encode_with_report([CONV], pad_is_eos_tok, 512)
    assert any("pad token == EOS" in w for w in rep.warnings)
    _, rep2 = encode_with_report([CONV], chatml_tok, 512)
    assert rep2.warnings == []


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
