"""Exact match and token F1: the SQuAD v1.1 definition on hand cases."""

from __future__ import annotations

import pytest

from tunelab.scoring import exact_match, f1, normalize_squad, squad_em, squad_f1


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("The Cat!", "cat"),
        ("  an   apple ", "apple"),
        ("A theater, the Theatre.", "theater theatre"),  # articles only as whole words
        ("U.S. dollars", "us dollars"),
        ("Saint-Denis", "saintdenis"),  # punctuation is deleted, not replaced by a space
        ("$1,234.50", "123450"),
        ("it\u2019s", "it\u2019s"),  # only ASCII punctuation is stripped
        ("the", ""),
        ("Théâtre", "théâtre"),
    ],
)
def test_normalization(text: str, normalized: str) -> None:
    assert normalize_squad(text) == normalized


def test_exact_match_ignores_case_articles_punctuation_and_spacing() -> None:
    assert squad_em("The Eiffel Tower.", "eiffel tower") == 1.0
    assert squad_em("Eiffel  Tower", "the eiffel tower!") == 1.0
    assert squad_em("Eiffel Towers", "Eiffel Tower") == 0.0
    assert squad_em("1,000", "1000") == 1.0
    assert squad_em("1 000", "1000") == 0.0


def test_f1_counts_tokens_not_sets() -> None:
    # x x y vs x y y: common counts {x:1, y:1} = 2, precision = recall = 2/3 (a set F1 would say 1.0)
    assert squad_f1("x x y", "x y y") == pytest.approx(2 / 3)
    # the cat sat -> [cat, sat]; cat sat on mat -> [cat, sat, on, mat]: P 1, R 1/2
    assert squad_f1("the cat sat", "cat sat on mat") == pytest.approx(2 * 1 * 0.5 / 1.5)
    assert squad_f1("dog", "cat") == 0.0


def test_max_over_gold_answers() -> None:
    golds = ["Denver Broncos", "The Broncos", "Broncos"]
    assert squad_em("broncos", golds) == 1.0
    assert squad_f1("the denver team", golds) == pytest.approx(
        max(squad_f1("the denver team", g) for g in golds)
    )
    assert squad_f1("the denver team", golds) == pytest.approx(2 * 0.5 * 0.5 / 1.0)


def test_v11_empty_answers() -> None:
    # v1.1: two answers that normalize to nothing are an exact match but have F1 0 (no common tokens).
    assert squad_em("the", "a") == 1.0
    assert squad_f1("the", "a") == 0.0
    assert squad_f1("", "cat") == 0.0


def test_corpus_means_on_zero_to_one_scale() -> None:
    preds = ["The cat", "a dog barked", "nothing"]
    refs: list[str | list[str]] = ["cat", ["dog", "the dog barked loudly"], "something"]
    em = exact_match(preds, refs)
    assert em["exact_match"] == pytest.approx(1 / 3)
    expected_f1 = (
        1.0 + max(squad_f1("a dog barked", "dog"), squad_f1("a dog barked", "the dog barked loudly")) + 0
    ) / 3
    assert f1(preds, refs)["f1"] == pytest.approx(expected_f1)
    assert "SQuAD v1.1" in em.rule
    with pytest.raises(ValueError):
        exact_match(["a"], ["a", "b"])
