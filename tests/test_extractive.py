"""The extractive answerer: quotes with source and page, refusal below the bar, table rows,
and over-refusal measured on short plain notes with the real offline default."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mmrag import RAG
from mmrag.config import ExtractiveConfig, load_pipeline
from mmrag.generate import PromptTemplates
from mmrag.generate.extractive import ExtractiveAnswerer, candidates, expected_kind, whole_pages
from mmrag.generate.passages import split_units, unwrap
from mmrag.generate.prompt import Prompt
from mmrag.generate.quoting import quotes, whole_sentences
from mmrag.schema import MemoryRef, Node, NodeKind, ScoredNode
from tests.conftest import fast_pipeline


def item(text: str, page: int, source: str = "/docs/report.pdf") -> ScoredNode:
    node = Node(
        id=f"{source}{page}", kind=NodeKind.TEXT, doc_id="d", source=source, page=page, text=text
    )
    return ScoredNode(node=node, score=0.5)


CONTEXT = [
    item("Regional revenue, EUR million\nRegion\nQ3\nQ4\nNordics 14.7 15.2\nBaltics 3.1 3.4", 2),
    item(
        "Northwind Labs makes soil sensors. The company was founded in Tromsø in 2011 and "
        "employs 140 people.",
        1,
    ),
]


#: Fixed here so these tests do not move when the pipeline's weights are refitted.
WEIGHTS = {"coverage": 6.0, "similarity": 0.0, "type_match": 1.0, "novelty": 1.0, "retrieval": 1.0}


def answerer(bar: float = 0.5) -> ExtractiveAnswerer:
    settings = ExtractiveConfig(weights=WEIGHTS, bias=-4.0, bar=bar)
    return ExtractiveAnswerer(None, settings, PromptTemplates())


def test_quotes_the_row_that_answers_with_source_page_and_citation() -> None:
    answer = answerer().answer(
        "What was the Nordics revenue in Q3?", Prompt(messages=[], context=CONTEXT)
    )
    assert answer.answerable and answer.extractive
    first = answer.text.splitlines()[0]
    assert (
        first.startswith("“Region Q3 Q4 | Nordics 14.7 15.2”")
        and "(report.pdf, page 2) [1]" in first
    )
    assert answer.citations[0].number == 1
    assert answer.to_dict()["extractive"] is True


def test_refuses_when_nothing_passes_the_bar() -> None:
    answer = answerer().answer("What is the capital of Peru?", Prompt(messages=[], context=CONTEXT))
    assert not answer.answerable and answer.text == PromptTemplates().refusal
    assert answer.citations == [] and answer.extractive


def test_a_higher_bar_quotes_less() -> None:
    question = "When was Northwind Labs founded?"
    prompt = Prompt(messages=[], context=CONTEXT)
    assert answerer(bar=0.01).answer(question, prompt).answerable
    assert not answerer(bar=0.999).answer(question, prompt).answerable


def test_features_reward_the_kind_of_thing_asked_for() -> None:
    assert expected_kind("How many people does it employ?") == "number"
    assert expected_kind("Who founded it?") == "name"
    assert expected_kind("Why does it exist?") is None
    found = candidates("How many people does Northwind employ?", CONTEXT, None)
    by_text = {c.unit.text: c.features for c in found}
    employs = next(f for t, f in by_text.items() if "employs 140" in t)
    assert employs["type_match"] == 1.0 and employs["coverage"] > 0
    region = by_text["Region Q3 Q4"]
    assert region["coverage"] < employs["coverage"]


def test_quotes_what_the_user_said_about_their_own_things() -> None:
    memory = MemoryRef(name="<bo>", info="My Shiba Inu. He wears a red collar.", category="dog")
    prompt = Prompt(messages=[], context=[], memories=[memory])
    answer = answerer().answer("What colour is the collar of <bo>?", prompt)
    assert answer.answerable and "He wears a red collar." in answer.text
    assert "what you told me about <bo>" in answer.text and answer.citations == []


REX = MemoryRef(
    name="<rex>",
    info="Rex is a golden retriever who loves swimming in the lake. He is afraid of thunder.",
    category="dog",
)


def test_a_note_about_the_concept_the_question_names_is_quoted() -> None:
    """With the shipped weights and bar (fitted on document sentences), not the fixed ones
    above: a note the question names is quoted when it holds what is asked."""
    shipped = ExtractiveAnswerer(None, ExtractiveConfig(), PromptTemplates())
    prompt = Prompt(messages=[], context=[], memories=[REX])
    asked = ["What does <rex> love?", "What is <rex> afraid of?", "Tell me about rex"]
    for question in asked:
        answer = shipped.answer(question, prompt)
        assert answer.answerable, question
        assert "loves swimming" in answer.text and "what you told me about <rex>" in answer.text


def test_a_named_note_without_what_is_asked_is_not_passed_off_as_the_answer() -> None:
    shipped = ExtractiveAnswerer(None, ExtractiveConfig(), PromptTemplates())
    prompt = Prompt(messages=[], context=[], memories=[REX])
    for question in ["How old is <rex>?", "What does <rex> eat?"]:
        answer = shipped.answer(question, prompt)
        assert not answer.answerable and answer.text == PromptTemplates().refusal, question


def test_no_context_is_a_refusal_without_candidates() -> None:
    assert not answerer().answer("Anything?", Prompt(messages=[], context=[])).answerable


def test_reads_the_whole_page_of_a_retrieved_chunk() -> None:
    """Retrieval ranked the page's first chunk; the answer is in its second."""
    ranked = item("Northwind Labs makes soil sensors for farms.", 1)
    page = [ranked.node.text, "The company was founded in Tromsø in 2011."]
    asked: list[tuple[str, int]] = []

    def read_pages(keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], list[str]]:
        asked.extend(keys)
        return {("/docs/report.pdf", 1): page}

    settings = ExtractiveConfig(weights=WEIGHTS, bias=-4.0, bar=0.5)
    question = "When was Northwind Labs founded?"
    prompt = Prompt(messages=[], context=[ranked])
    reading = ExtractiveAnswerer(None, settings, PromptTemplates(), read_pages=read_pages)
    answer = reading.answer(question, prompt)
    assert asked == [("/docs/report.pdf", 1)]
    assert answer.answerable and "founded in Tromsø in 2011" in answer.text
    assert "(report.pdf, page 1) [1]" in answer.text
    # Without the page, only the ranked chunk is read, and it does not say when.
    assert (
        "2011"
        not in ExtractiveAnswerer(None, settings, PromptTemplates()).answer(question, prompt).text
    )


def test_whole_pages_go_to_the_first_item_of_each_page_and_sentences_count_once() -> None:
    first, second = item("A one.", 3), item("B two.", 3)
    other = item("C three.", 4)
    texts = {("/docs/report.pdf", 3): ["A one.", "B two."]}
    pages = whole_pages([first, second, other], texts)
    assert pages == {0: ["A one.", "B two."]}
    found = candidates("What?", [first, second, other], None, pages=pages)
    assert [c.unit.text for c in found] == ["A one.", "B two.", "C three."]
    assert [c.features["in_ranked_chunk"] for c in found] == [1.0, 1.0, 1.0]
    assert [c.unit.item for c in found] == [0, 0, 2]
    alone = candidates("What?", [first], None, pages={0: ["A one.", "B two."]})
    assert [c.features["in_ranked_chunk"] for c in alone] == [1.0, 0.0]


FIELD_NOTES = (
    "FIELD NOTES - 14 August 2025\nUsing the GPS stakes from last year we measured that\n"
    "the ice front has retreated\n38 metres since August 2024.\n"
    "Meltwater temperature at the outlet stream: 1.6 degrees."
)
PASSWD = (
    "gnats:x:41:41:Gnats Bug-Reporting System (admin):/var/lib/gnats:/usr/sbin/nologin\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin"
)


def test_unwrap_joins_a_sentence_the_page_wrapped_and_nothing_else() -> None:
    assert unwrap(FIELD_NOTES) == [
        "FIELD NOTES - 14 August 2025",
        "Using the GPS stakes from last year we measured that the ice front has retreated "
        "38 metres since August 2024.",
        "Meltwater temperature at the outlet stream: 1.6 degrees.",
    ]
    # Records and table rows are not prose, even when the next line starts in lower case.
    assert unwrap(PASSWD) == PASSWD.splitlines()
    assert unwrap("Region Q3 Q4\nNordics 14.7 15.2") == ["Region Q3 Q4", "Nordics 14.7 15.2"]
    assert unwrap("the environ-\nment is measured by five sensors") == [
        "the environ-",
        "ment is measured by five sensors",
    ], "a short line is not prose: nothing to join"
    assert unwrap("Sensors across the whole valley measure the environ-\nment every hour.") == [
        "Sensors across the whole valley measure the environment every hour."
    ]


def test_a_quoted_line_grows_to_its_whole_sentence_and_a_row_does_not() -> None:
    line = next(u for u in split_units(FIELD_NOTES) if u.text.endswith("measured that"))
    assert whole_sentences(line, [FIELD_NOTES]) == [
        "Using the GPS stakes from last year we measured that the ice front has retreated "
        "38 metres since August 2024."
    ]
    row = split_units("Region\nQ3\nQ4\nNordics 14.7 15.2\nBaltics 3.1 3.4")[-1]
    assert whole_sentences(row, ["Region\nQ3\nQ4\nNordics 14.7 15.2\nBaltics 3.1 3.4"]) == [
        row.text
    ]
    # Two lines of one sentence, both chosen, are quoted once.
    context = [item(FIELD_NOTES, 1)]
    lines = [u for u in split_units(FIELD_NOTES) if "measured" in u.text or "38" in u.text]
    assert len(lines) == 2
    assert [text for _, text in quotes(lines, context, {})] == [
        "Using the GPS stakes from last year we measured that the ice front has retreated "
        "38 metres since August 2024."
    ]


NOTES = {
    "bakery.txt": "Neighbourhood notes.\nThe bakery on Elm Street opens at 7:30 on weekdays "
    "and at 8:00 on Saturdays. It is closed on Sundays.\nTheir rye bread sells out by noon.",
    "trains.txt": "Trains home.\nThe last train to Brighton leaves Victoria at 23:42.\n"
    "The first train in the morning is at 05:10, platform 15.",
    "garden.txt": "Garden jobs.\nWater the tomatoes every two days in summer.\n"
    "Feed the roses with seaweed fertiliser once a fortnight.",
    "ferry.txt": "Summer house trip.\nThe ferry to Hvaler runs every 45 minutes from 6 am "
    "until midnight.\nA return ticket costs 60 kroner.",
    "dentist.txt": "Health.\nMy dentist is Dr. Okafor at the Riverside clinic.\n"
    "Next check-up on 14 March at 10:15.",
    "wifi.txt": "House info for guests.\nThe guest Wi-Fi network is FernHouse and the "
    "password is bluefern42.\nThe router is in the hall cupboard.",
    "library.txt": "Library.\nBooks are due back on 3 April.\nThe late fee is 20 pence per "
    "day per book.",
    "pancakes.txt": "Pancakes for four.\nUse 2 eggs, 250 ml milk and 120 g flour.\n"
    "Rest the batter for 30 minutes before frying.",
    "car.txt": "Car.\nThe next service is due at 60,000 km.\nThe tyre pressure should be "
    "2.4 bar at the front and 2.2 bar at the back.",
    "plants.txt": "Houseplants.\nThe monstera needs water once a week.\nThe cactus needs "
    "water only once a month, less in winter.",
}
QUESTIONS = [
    ("When does the bakery open on weekdays?", "7:30"),
    ("What time does the last train to Brighton leave?", "23:42"),
    ("How often should I water the tomatoes?", "every two days"),
    ("How often does the ferry to Hvaler run?", "45 minutes"),
    ("Who is my dentist?", "Okafor"),
    ("What is the guest Wi-Fi password?", "bluefern42"),
    ("What is the library late fee?", "20 pence"),
    ("How much flour goes into the pancakes?", "120 g"),
    ("What should the front tyre pressure be?", "2.4 bar"),
    ("How often does the cactus need water?", "once a month"),
]


def test_short_plain_notes_are_answered_with_the_right_quote(tmp_path: Path) -> None:
    """Over-refusal of the extractive pipeline on simple answerable questions (issue 12)."""
    pipeline = load_pipeline("extractive")
    assert pipeline.generation.answerer == "extractive"
    notes = tmp_path / "notes"
    notes.mkdir()
    for name, text in NOTES.items():
        (notes / name).write_text(text, encoding="utf-8")
    rag = RAG.open(tmp_path / "store", pipeline=pipeline)
    rag.ingest([notes])
    right = []
    for question, gold in QUESTIONS:
        answer = rag.ask(question)
        if answer.answerable and gold in answer.text:
            right.append(question)
    # "Most": measured 7 of 10 with the bar fitted on MMLongBench (not on these notes).
    assert len(right) >= 6, f"answered with the right quote: {len(right)}/10: {right}"
    refused = rag.ask("What is the capital of Peru?")
    assert not refused.answerable


def test_ask_quotes_the_users_note_about_a_named_concept(tmp_path: Path) -> None:
    """End to end: a concept added with only a note, asked about by name, no documents."""
    quoting = fast_pipeline(generation={"answerer": "extractive"})
    rag = RAG.open(tmp_path / "store", pipeline=quoting)
    rag.memories("carol").add("rex", info=REX.info, category="dog")
    answer = rag.ask("What does <rex> love?", user="carol")
    assert answer.answerable and "loves swimming in the lake" in answer.text
    assert not rag.ask("How old is <rex>?", user="carol").answerable
    assert not rag.ask("What does <rex> love?", user="dave").answerable  # not dave's concept
