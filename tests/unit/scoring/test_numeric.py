"""Number parsing and the official numeric scorers (MedCalc-Bench, TAT-QA), and the tolerant comparator."""

from __future__ import annotations

import pytest

from tunelab.scoring import medcalc_correct, numeric_match, parse_number, perplexity_from_nll, tatqa_em_f1


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1234", 1234.0),
        ("1,234,567.5", 1234567.5),
        ("$ 1,234", 1234.0),
        ("-$5", -5.0),
        ("$-5", -5.0),
        ("(134)", -134.0),
        ("$ (1,234)", -1234.0),
        ("(5%)", -0.05),
        ("53.1%", 0.531),
        ("12 percent", 0.12),
        ("1.2 million", 1.2e6),
        ("3 Billion", 3e9),
        ("$2.5 thousand", 2500.0),
        ("\u22125", -5.0),
        ("\u2212 3.5", -3.5),
        ("+7", 7.0),
        (".5", 0.5),
        ("1e3", 1000.0),
        (42, 42.0),
        (0.25, 0.25),
    ],
)
def test_parse_number(text: str | float, value: float) -> None:
    assert parse_number(text) == pytest.approx(value)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "1,23",
        "12,3456",
        "1.2.3",
        "--5",
        "(5",
        "5 6",
        "%",
        "$",
        "nan",
        "inf",
        "million",
        True,
        "1e999",
    ],
)
def test_parse_number_rejects(text: str) -> None:
    assert parse_number(text) is None


def test_percent_can_stay_a_percent() -> None:
    assert parse_number("53.1%", percent_as_fraction=False) == pytest.approx(53.1)


@pytest.mark.parametrize(
    ("pred", "gold", "kind", "correct"),
    [
        ("10.4", 10, "decimal", True),
        ("10.5", 10, "decimal", True),  # the band is inclusive: 0.5 <= 0.05 * 10
        ("10.6", 10, "decimal", False),
        ("9.5", 10, "decimal", True),
        ("-10.4", -10, "decimal", True),  # negative ground truth: the band is symmetric around it
        ("-9.6", -10, "decimal", True),
        ("-10.6", -10, "decimal", False),
        ("10", -10, "decimal", False),
        ("53.1%", 0.531, "decimal", True),
        ("53.1", 0.531, "decimal", False),
        ("0", 0, "decimal", True),
        ("0.01", 0, "decimal", False),
        ("abc", 10, "decimal", False),
        ("4.4", 4, "integer", True),
        ("4.6", 4, "integer", False),
        ("4.5", 4, "integer", True),  # Python round: half to even
        ("5.5", 6, "integer", True),
        ("-3.2", -3, "integer", True),
        ("01/05/2020", "1/5/2020", "date", True),
        ("01/06/2020", "01/05/2020", "date", False),
        ("2020-01-05", "01/05/2020", "date", False),
        ("02/30/2020", "01/05/2020", "date", False),
        ("(4 weeks, 2 days)", "(4, 2)", "weeks_days", True),
        ("('4 weeks', '2 days')", "(4, 2)", "weeks_days", True),
        ((4, 2), "('4 weeks', '2 days')", "weeks_days", True),
        ("(4, 3)", "(4, 2)", "weeks_days", False),
        ("(2, 4)", "(4, 2)", "weeks_days", False),
        ("4 weeks", "(4, 2)", "weeks_days", False),
    ],
)
def test_medcalc_rule(pred: object, gold: object, kind: str, correct: bool) -> None:
    assert medcalc_correct(pred, gold, kind) is correct


def test_medcalc_bad_ground_truth_and_type_raise() -> None:
    with pytest.raises(ValueError):
        medcalc_correct("1", "n/a", "decimal")
    with pytest.raises(ValueError):
        medcalc_correct("1", "1", "fraction")


@pytest.mark.parametrize(
    ("pred", "pred_scale", "gold", "gold_scale", "answer_type", "em", "f1"),
    [
        ("1.5", "million", 1.5, "million", "arithmetic", 1.0, 1.0),
        ("1.5", "thousand", 1.5, "million", "arithmetic", 0.0, 0.0),  # wrong scale, wrong answer
        ("1.5", "", 1.5, "million", "arithmetic", 0.0, 0.0),
        ("12%", "", 12, "percent", "arithmetic", 1.0, 1.0),
        ("12", "percent", "12", "percent", "arithmetic", 1.0, 1.0),
        ("0.12", "", 12, "percent", "arithmetic", 1.0, 1.0),  # official add_percent_pred
        ("(134)", "", -134, "", "arithmetic", 1.0, 1.0),
        ("134", "", -134, "", "arithmetic", 0.0, 0.0),
        ("12.341", "", 12.34, "", "arithmetic", 1.0, 1.0),  # rounded to 2 places before comparing
        ("12.351", "", 12.34, "", "arithmetic", 0.0, 0.0),
        ("3", "", 3, "", "count", 1.0, 1.0),
        (["salaries", "rent"], "", ["rent", "salaries"], "", "multi-span", 1.0, 1.0),
        ("office rent", "", ["rent expense"], "", "span", 0.0, 0.5),
        ("rent expense", "thousand", ["rent expense"], "", "span", 0.0, 0.8),
        ("", "", ["rent"], "", "span", 0.0, 0.0),
        ("revenue grew 5", "", ["revenue grew 7"], "", "span", 0.0, 0.0),  # gold numbers must be predicted
    ],
)
def test_tatqa_rule(
    pred: object, pred_scale: str, gold: object, gold_scale: str, answer_type: str, em: float, f1: float
) -> None:
    assert tatqa_em_f1(pred, pred_scale, gold, gold_scale, answer_type) == (em, f1)  # type: ignore[arg-type]


def test_tatqa_arithmetic_f1_equals_em_and_strict_scale() -> None:
    # span: partial credit; arithmetic: F1 collapses to EM
    assert tatqa_em_f1("total 1.5", "", "total 2.5", "", "span")[1] == 0.0
    assert tatqa_em_f1("1500", "thousand", 1.5, "million", "arithmetic") == (1.0, 1.0)
    assert tatqa_em_f1("1500", "thousand", 1.5, "million", "arithmetic", strict_scale=True) == (0.0, 0.0)
    with pytest.raises(ValueError):
        tatqa_em_f1("1", "lakh", 1, "", "arithmetic")


def test_numeric_match_names_its_rule() -> None:
    m = numeric_match("1,000.0000001", "1000")
    assert m and m.rule.startswith("rel_tol")
    m = numeric_match("3.14", "3.14159", decimals=2)
    assert m.correct and m.rule == "decimals=2"
    assert not numeric_match("3.14", "3.14159")
    m = numeric_match("12", "12%", percent_variants=True)
    assert m.correct and m.rule == "percent_variant"
    assert not numeric_match("12", "12%")
    m = numeric_match("about twelve", "12")
    assert not m and m.rule == "unparsable_pred" and m.pred_value is None
    with pytest.raises(ValueError):
        numeric_match("1", "twelve")


def test_perplexity_pooled_and_bits_per_byte() -> None:
    import math

    out = perplexity_from_nll(total_nll=2.0 * 100, n_tokens=100, n_bytes=400)
    assert out["perplexity"] == pytest.approx(math.exp(2.0))
    assert out["bits_per_byte"] == pytest.approx(200 / 400 / math.log(2))
    # pooled, not the mean of per-text perplexities
    texts = [(10.0, 10), (90.0, 30)]
    pooled = perplexity_from_nll(sum(n for n, _ in texts), sum(t for _, t in texts))["perplexity"]
    assert pooled == pytest.approx(math.exp(100 / 40))
    assert pooled != pytest.approx(sum(math.exp(n / t) for n, t in texts) / 2)
    assert "bits_per_byte" not in perplexity_from_nll(1.0, 1)
    for bad in [(1.0, 0, 1), (-1.0, 1, 1), (float("nan"), 1, 1), (1.0, 1, 0)]:
        with pytest.raises(ValueError):
            perplexity_from_nll(*bad)
