"""Generated pretraining text for the embedded tiny base model (and held-out general text).

Three kinds of documents, all from seeded templates (no downloaded data): general English prose,
clinical notes, and financial report snippets with small tables. ``general_text`` with a seed the
pretraining never used is the held-out text on which forgetting is measured.
"""

from __future__ import annotations

import random

from tunelab.synth._registry import get_task, list_tasks

__all__ = [
    "general_text",
    "medical_text",
    "finance_text",
    "pretraining_corpus",
    "dialogue_text",
    "HELDOUT_SEED",
]

#: seed of the held-out general text (pretraining uses seeds below 1000)
HELDOUT_SEED = 10_007

_NAMES = [
    "Anna",
    "Ben",
    "Carla",
    "David",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kofi",
    "Lena",
    "Maya",
    "Noah",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
    "Tara",
]
_PLACES = [
    "the village",
    "the harbour",
    "the old library",
    "the market",
    "the valley",
    "the station",
    "the museum",
    "the garden",
    "the school",
    "the bridge",
    "the hill",
    "the lake",
]
_THINGS = [
    "a lantern",
    "a map",
    "a letter",
    "a basket of apples",
    "an old clock",
    "a red kite",
    "a book of songs",
    "a wooden box",
    "a silver key",
    "a small boat",
    "a loaf of bread",
    "a bicycle",
]
_VERBS = ["found", "carried", "painted", "repaired", "sold", "borrowed", "lost", "opened", "built", "cleaned"]
_TIMES = [
    "In the morning",
    "At noon",
    "Late in the evening",
    "On Sunday",
    "After the rain",
    "Before dawn",
    "During the winter",
    "One summer day",
    "Every Friday",
    "Last year",
]
_ADJ = ["quiet", "busy", "cold", "bright", "narrow", "ancient", "crowded", "peaceful", "windy", "green"]
_FACTS = [
    "Water boils at 100 degrees Celsius at sea level.",
    "A week has seven days and a year has twelve months.",
    "The heart pumps blood through the arteries and veins.",
    "Plants use sunlight to turn water and carbon dioxide into sugar.",
    "A triangle has three sides and its angles add up to 180 degrees.",
    "Interest is the price paid for borrowing money.",
    "The moon orbits the earth about once a month.",
    "Prices rise when demand grows faster than supply.",
    "Kidneys filter waste from the blood and make urine.",
    "A budget lists expected income and expenses.",
]


def _general_doc(r: random.Random) -> str:
    out = []
    for _ in range(r.randint(3, 7)):
        k = r.random()
        name, place, thing = r.choice(_NAMES), r.choice(_PLACES), r.choice(_THINGS)
        if k < 0.35:
            out.append(f"{r.choice(_TIMES)}, {name} {r.choice(_VERBS)} {thing} near {place}.")
        elif k < 0.6:
            out.append(
                f"{place.capitalize()} was {r.choice(_ADJ)}, and {name} walked {r.randint(2, 9)} "
                f"kilometres to reach it."
            )
        elif k < 0.8:
            out.append(r.choice(_FACTS))
        else:
            a, b = r.randint(2, 60), r.randint(2, 60)
            out.append(f"{name} had {a} coins and {r.choice(_NAMES)} gave {b} more, so {name} had {a + b}.")
    return " ".join(out)


_COMPLAINTS = [
    "chest pain",
    "shortness of breath",
    "fever and cough",
    "abdominal pain",
    "headache",
    "dizziness",
    "palpitations",
    "leg swelling",
    "fatigue",
    "back pain",
]
_HISTORY = [
    "hypertension",
    "type 2 diabetes",
    "asthma",
    "atrial fibrillation",
    "heart failure",
    "chronic kidney disease",
    "hypothyroidism",
    "no significant past history",
    "prior stroke",
]
_DRUGS = [
    "metformin",
    "lisinopril",
    "amoxicillin",
    "warfarin",
    "furosemide",
    "atorvastatin",
    "ibuprofen",
    "paracetamol",
    "levothyroxine",
    "apixaban",
]


def medical_text(r: random.Random) -> str:
    """One clinical note: demographics, vitals, labs, plan."""
    age, sex = r.randint(18, 90), r.choice(["male", "female"])
    w = round(r.uniform(45, 120), 1)
    h = r.randint(150, 195)
    parts = [
        f"A {age}-year-old {sex} presents with {r.choice(_COMPLAINTS)} for {r.randint(1, 10)} days.",
        f"Past medical history: {r.choice(_HISTORY)}.",
        f"Vital signs: blood pressure {r.randint(95, 180)}/{r.randint(55, 110)} mmHg, heart rate "
        f"{r.randint(50, 130)} beats per minute, temperature {round(r.uniform(36.0, 39.8), 1)} C.",
        f"Weight {w} kg, height {h} cm.",
        f"Labs: sodium {r.randint(128, 148)} mmol/L, chloride {r.randint(95, 112)} mmol/L, bicarbonate "
        f"{r.randint(16, 30)} mmol/L, creatinine {round(r.uniform(0.5, 3.0), 2)} mg/dL, albumin "
        f"{round(r.uniform(2.5, 5.0), 1)} g/dL, calcium {round(r.uniform(7.5, 10.8), 1)} mg/dL.",
        f"She was started on {r.choice(_DRUGS)} {r.choice([5, 10, 20, 25, 40, 50, 100, 250, 500])} mg "
        f"{r.choice(['once daily', 'twice daily', 'every 8 hours'])}."
        if sex == "female"
        else f"He was started on {r.choice(_DRUGS)} {r.choice([5, 10, 20, 25, 40, 50, 100, 250, 500])} mg "
        f"{r.choice(['once daily', 'twice daily', 'every 8 hours'])}.",
    ]
    r.shuffle(parts[2:5])
    return " ".join(parts)


_COMPANIES = [
    "Acme Corp",
    "Borealis Energy",
    "Cobalt Foods",
    "Delta Logistics",
    "Evergreen Bank",
    "Fjord Shipping",
    "Granite Telecom",
    "Helix Pharma",
    "Ionic Motors",
    "Juniper Retail",
]
_ITEMS = [
    "revenue",
    "net income",
    "operating expenses",
    "total assets",
    "total liabilities",
    "cash",
    "cost of sales",
    "gross profit",
    "long-term debt",
    "inventory",
]
_MOVES = ["rose", "fell", "increased", "decreased", "grew", "declined"]


def finance_text(r: random.Random) -> str:
    """One report snippet: a small table and sentences about it."""
    company = r.choice(_COMPANIES)
    years = sorted(r.sample(range(2012, 2025), 3))
    items = r.sample(_ITEMS, 3)
    rows = ["| item | " + " | ".join(str(y) for y in years) + " |"]
    values = {}
    for it in items:
        vals = [r.randint(100, 9000) for _ in years]
        values[it] = vals
        rows.append(f"| {it} | " + " | ".join(f"{v:,}" for v in vals) + " |")
    it = items[0]
    a, b = values[it][-2], values[it][-1]
    move = "rose" if b > a else "fell"
    scale = r.choice(["thousand", "million"])
    sents = [
        f"{company} reported the following figures (in {scale}s of dollars).",
        "\n".join(rows),
        f"{it.capitalize()} {move} from ${a:,} {scale} in {years[-2]} to ${b:,} {scale} in {years[-1]}.",
        f"Management expects {r.choice(_ITEMS)} to {r.choice(['improve', 'stabilize', 'decline'])} next year.",
        f"Shares of {r.choice(_COMPANIES)} {r.choice(_MOVES)} {round(r.uniform(0.5, 12), 1)}% after the "
        f"{r.choice(['earnings report', 'merger news', 'dividend announcement', 'profit warning'])}.",
    ]
    return "\n".join(sents)


_MOODS = [
    "positive",
    "negative",
    "neutral",
    "mixed",
    "cautious",
    "upbeat",
    "gloomy",
    "calm",
    "urgent",
    "routine",
]
_TOPICS = [
    "the weather",
    "the match",
    "the concert",
    "the new bridge",
    "the harvest",
    "the school play",
    "the town meeting",
    "the train schedule",
    "the museum opening",
    "the bakery",
]


def _opinion_doc(r: random.Random) -> str:
    """Everyday sentences that use evaluative words in general contexts (no task labels)."""
    out = []
    for _ in range(r.randint(2, 5)):
        name, topic, mood = r.choice(_NAMES), r.choice(_TOPICS), r.choice(_MOODS)
        k = r.random()
        if k < 0.4:
            out.append(f"{name} wrote a {mood} note about {topic}.")
        elif k < 0.7:
            out.append(f"The feeling in {r.choice(_PLACES)} about {topic} was {mood}.")
        else:
            out.append(f"Most people called {topic} {mood}, but {name} disagreed.")
    return " ".join(out)


def _domain_context(r: random.Random) -> str:
    """The raw text of a medical or financial case (notes, tables, headlines) with no question or
    answer: what a base model would have read in its domain, never a task's label."""
    names = [t.name for t in list_tasks()]
    return str(get_task(r.choice(names)).make(r).context)


def general_text(n: int, seed: int = HELDOUT_SEED) -> list[str]:
    """``n`` general-prose documents from a seeded generator."""
    r = random.Random(seed)
    return [_general_doc(r) for _ in range(n)]


def pretraining_corpus(n_docs: int, seed: int = 0) -> list[str]:
    """A mixture: 30% general prose, 10% everyday opinion sentences, 20% clinical notes, 20% financial
    snippets, 20% raw domain cases (notes, tables, headlines) without questions or answers."""
    r = random.Random(seed)
    docs = []
    for _ in range(n_docs):
        k = r.random()
        if k < 0.3:
            docs.append(_general_doc(r))
        elif k < 0.4:
            docs.append(_opinion_doc(r))
        elif k < 0.6:
            docs.append(medical_text(r))
        elif k < 0.8:
            docs.append(finance_text(r))
        else:
            docs.append(_domain_context(r))
    return docs


def dialogue_text(r: random.Random, n: int) -> list[str]:
    """Generic ChatML small talk and fact questions (no tunelab task appears here)."""
    greets = ["Hello!", "Hi, how are you?", "Good morning.", "Can you help me?", "Thanks a lot."]
    replies = [
        "Hello! How can I help you today?",
        "I am fine, thank you. What do you need?",
        "Good morning to you too.",
        "Of course. Tell me what you need.",
        "You are welcome.",
    ]
    out = []
    for _ in range(n):
        if r.random() < 0.5:
            i = r.randrange(len(greets))
            u, a = greets[i], replies[i]
        else:
            fact = r.choice(_FACTS)
            u, a = "Tell me a fact.", fact
        out.append(f"<|im_start|>user\n{u}<|im_end|>\n<|im_start|>assistant\n{a}<|im_end|>\n")
    return out
