"""The table of verifiable tasks: generator, verifier, template family and fine-tuning format of each."""

from __future__ import annotations

import difflib

from tunelab.errors import InputError
from tunelab.synth import _finance, _finance_verify, _medical, _medical_verify, _simple, _simple_verify
from tunelab.synth._types import Task, TaskInfo

__all__ = ["TASKS", "get_task", "list_tasks"]

_MED_FT = "Patient note: {context}\nQuestion: {question}\nAnswer:"
_FIN_FT = "{context}\nQuestion: {question}\nAnswer:"
_R = "reasoning_then_answer"

# name: (answer_type, description, what)
_MEDICAL = {
    "bmi": (
        "decimal",
        "Body mass index (kg/m²) from weight and height, with its WHO category.",
        "the patient's body mass index in kg/m²",
    ),
    "bsa_mosteller": (
        "decimal",
        "Body surface area (m²) by the Mosteller formula.",
        "the patient's body surface area in m² (Mosteller)",
    ),
    "mean_arterial_pressure": (
        "decimal",
        "Mean arterial pressure (mmHg) from systolic and diastolic pressure.",
        "the patient's mean arterial pressure in mmHg",
    ),
    "anion_gap": (
        "decimal",
        "Serum anion gap Na - (Cl + HCO3) in mEq/L.",
        "the patient's serum anion gap in mEq/L",
    ),
    "corrected_calcium": (
        "decimal",
        "Albumin-corrected calcium (mg/dL), normal albumin 4 g/dL.",
        "the patient's albumin-corrected calcium in mg/dL",
    ),
    "crcl_cockcroft_gault": (
        "decimal",
        "Creatinine clearance (mL/min) by Cockcroft-Gault, x0.85 for women.",
        "the patient's creatinine clearance in mL/min by Cockcroft-Gault",
    ),
    "qtc_bazett": (
        "decimal",
        "QT interval corrected by Bazett (ms).",
        "the patient's QTc in ms by the Bazett formula",
    ),
    "qtc_fridericia": (
        "decimal",
        "QT interval corrected by Fridericia (ms).",
        "the patient's QTc in ms by the Fridericia formula",
    ),
    "cha2ds2_vasc": (
        "integer",
        "CHA2DS2-VASc stroke risk score in atrial fibrillation.",
        "the patient's CHA2DS2-VASc score",
    ),
    "weight_based_dose": (
        "decimal",
        "Single weight-based drug dose (mg) from a mg/kg order.",
        "the single weight-based dose in mg",
    ),
    "maintenance_fluids": (
        "decimal",
        "Maintenance IV fluid rate (mL/h) by the 4-2-1 rule.",
        "the maintenance IV fluid rate in mL/h (4-2-1 rule)",
    ),
    "ibw_devine": (
        "decimal",
        "Ideal body weight (kg) by the Devine formula.",
        "the patient's ideal body weight in kg (Devine)",
    ),
    "convert_lb_to_kg": (
        "decimal",
        "Weight conversion from pounds to kilograms.",
        "the patient's weight in kilograms",
    ),
    "convert_glucose_mmol": (
        "decimal",
        "Blood glucose conversion from mg/dL to mmol/L.",
        "the patient's blood glucose in mmol/L",
    ),
}

# name: (answer_type, percent, description, what)
_FINANCE = {
    "percent_change": (
        "decimal",
        True,
        "Percentage change of a table row between two years.",
        "the percentage change",
    ),
    "cagr": (
        "decimal",
        True,
        "Compound annual growth rate of a table row.",
        "the compound annual growth rate",
    ),
    "gross_margin": (
        "decimal",
        True,
        "Gross margin (revenue - cost of revenue) / revenue.",
        "the gross margin",
    ),
    "operating_margin": (
        "decimal",
        True,
        "Operating margin (revenue - cost of revenue - operating expenses) / revenue.",
        "the operating margin",
    ),
    "net_margin": ("decimal", True, "Net profit margin: net income / revenue.", "the net profit margin"),
    "current_ratio": (
        "decimal",
        False,
        "Current ratio: current assets / current liabilities.",
        "the current ratio",
    ),
    "debt_to_equity": (
        "decimal",
        False,
        "Debt-to-equity ratio: total debt / shareholders' equity.",
        "the debt-to-equity ratio",
    ),
    "earnings_per_share": (
        "decimal",
        False,
        "Earnings per share: net income / weighted average shares.",
        "the earnings per share",
    ),
    "compound_interest": (
        "decimal",
        False,
        "Balance of a deposit under compound interest.",
        "the final balance in dollars",
    ),
    "loan_payment": (
        "decimal",
        False,
        "Monthly payment of an amortizing loan (annuity formula).",
        "the monthly payment in dollars",
    ),
    "row_average": (
        "decimal",
        False,
        "Average of a table row over the years shown (table_average).",
        "the average value",
    ),
    "difference": (
        "decimal",
        False,
        "Change of a table row between two years, in the table's scale.",
        "the change in value",
    ),
    "greater_comparison": (
        "label",
        False,
        "Whether a table value is greater than another (yes/no).",
        "yes or no",
    ),
    "share_of_total": ("decimal", True, "Share of a segment in total revenue.", "the share of total revenue"),
}

# name: (domain, answer_type, scorer, family, labels, description, what, finetune prompt, finetune format)
_SIMPLE = {
    "fin_sentiment": (
        "finance",
        "label",
        "label",
        "classify",
        _simple.SENTIMENT_LABELS,
        "Sentiment of a financial headline from clear cue words.",
        "the sentiment of the financial headline",
        "{context}\nSentiment:",
        "label",
    ),
    "triage_level": (
        "medical",
        "label",
        "label",
        "classify",
        _simple.TRIAGE_LABELS,
        "Triage level from vital signs and complaint (emergent: SpO2<90, SBP<90, HR>130 or a life-threatening "
        "complaint; urgent: T>=39, HR>=110, SpO2<94 or an urgent complaint).",
        "the triage level of the patient",
        "{context}\nTriage level:",
        "label",
    ),
    "med_abbrev": (
        "medical",
        "label",
        "label",
        "classify",
        tuple(_simple.ABBREVIATIONS.values()),
        "Meaning of a prescription abbreviation (bid, prn, po ...).",
        "the meaning of the abbreviation",
        "{context}\nMeaning:",
        "label",
    ),
    "revenue_trend": (
        "finance",
        "label",
        "label",
        "classify",
        _simple.TREND_LABELS,
        "Whether a table row increased or decreased between two years.",
        "whether the figure increased or decreased",
        "{context}\n{question}\nAnswer:",
        "label",
    ),
    "extract_dose": (
        "medical",
        "decimal",
        "numeric",
        "extract",
        None,
        "The dose in mg stated in a prescription sentence.",
        "the prescribed dose in mg",
        "{context}\nDose (mg):",
        "number",
    ),
    "highest_revenue_year": (
        "finance",
        "text",
        "exact_match",
        "extract",
        None,
        "The year with the highest revenue in a small table.",
        "the year with the highest revenue",
        "{context}\nYear with the highest revenue:",
        "text",
    ),
    "lb_to_kg": (
        "medical",
        "integer",
        "numeric",
        "extract",
        None,
        "A weight in pounds converted to whole kilograms.",
        "the weight in kilograms, rounded to a whole number",
        "{context}\nWeight in kg:",
        "number",
    ),
}


def _build() -> dict[str, Task]:
    tasks: dict[str, Task] = {}
    for name, (atype, desc, what) in _MEDICAL.items():
        info = TaskInfo(name, "medical", atype, "medcalc", desc, None, "medcalc")
        tasks[name] = Task(info, _medical.MAKERS[name], _medical_verify.DERIVERS[name], what, _MED_FT, _R)
    for name, (atype, pct, desc, what) in _FINANCE.items():
        yes_no: tuple[str, ...] | None = ("yes", "no") if atype == "label" else None
        info = TaskInfo(name, "finance", atype, "finqa", desc, yes_no, "finqa")
        tasks[name] = Task(
            info, _finance.MAKERS[name], _finance_verify.DERIVERS[name], what, _FIN_FT, _R, percent=pct
        )
    for name, (domain, atype, scorer, family, labels, desc, what, ft, ftf) in _SIMPLE.items():
        info = TaskInfo(name, domain, atype, scorer, desc, labels, family)
        decimals = 0 if atype == "integer" else 3
        tasks[name] = Task(
            info, _simple.MAKERS[name], _simple_verify.DERIVERS[name], what, ft, ftf, decimals=decimals
        )
    return tasks


TASKS: dict[str, Task] = _build()


def list_tasks() -> list[TaskInfo]:
    """Every verifiable task, medical first, then finance, then the simple tasks.

    Returns:
        One :class:`TaskInfo` per task.
    """
    return [t.info for t in TASKS.values()]


def get_task(name: str) -> Task:
    """Look a task up by name.

    Args:
        name: the task name.

    Returns:
        The :class:`Task`.

    Raises:
        InputError: unknown task; the message names the closest task.
    """
    if name in TASKS:
        return TASKS[name]
    close = difflib.get_close_matches(name, list(TASKS), n=1, cutoff=0.0)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise InputError(f"unknown task {name!r}{hint} (tunelab synth tasks lists them)", field="task")
