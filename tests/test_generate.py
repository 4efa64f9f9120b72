"""Prompt assembly, citation parsing, refusal, and answers with a scripted generator."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from mmrag.generate import Answerer, PromptTemplates, build_prompt, is_refusal, parse_citations
from mmrag.generate.citations import infer_citations
from mmrag.models.mllm import Capabilities, Generation, GenerationOptions, ImagePart, Message
from mmrag.schema import MemoryRef, Node, NodeKind, ScoredNode


def item(
    text: str, *, kind: NodeKind = NodeKind.TEXT, page: int | None = 1, image_id: str | None = None
) -> ScoredNode:
    node = Node(
        id=text[:8] + str(page),
        kind=kind,
        doc_id="d",
        source="/docs/report.pdf",
        page=page,
        text=text,
        image_id=image_id,
    )
    return ScoredNode(node=node, score=0.5)


CONTEXT = [
    item("Revenue in Q3 was 14.7 million EUR in the Nordics.", page=2),
    item("The CEO is Ingrid Solberg-Amari.", page=1),
    item("Quarterly revenue chart: Q4 44.6", kind=NodeKind.IMAGE_SUMMARY, page=3, image_id="img1"),
]


class Scripted:
    """A generator that answers with a fixed text (and records what it was asked)."""

    def __init__(self, reply: str, capabilities: Capabilities | None = None) -> None:
        self.reply = reply
        self.seen: list[list[Message]] = []
        self._caps = capabilities or Capabilities()

    @property
    def name(self) -> str:
        return "scripted"

    @property
    def capabilities(self) -> Capabilities:
        return self._caps

    def generate(
        self, messages: Sequence[Message], options: GenerationOptions | None = None
    ) -> Generation:
        self.seen.append(list(messages))
        return Generation(text=self.reply, model="scripted", prompt_tokens=10, completion_tokens=5)

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions | None = None
    ) -> Iterator[str | Generation]:
        final = self.generate(messages, options)
        yield from (w + " " for w in self.reply.split())
        yield final


def test_prompt_orders_memories_context_question() -> None:
    prompt = build_prompt(
        "Who leads the company?",
        CONTEXT,
        capabilities=Capabilities(),
        templates=PromptTemplates(),
        memories=[MemoryRef(name="<bo>", info="A corgi who loves the beach.")],
    )
    system, user = prompt.messages
    assert system.role == "system" and "[1]" in system.as_text()
    text = user.as_text()
    assert (
        text.index("Name: <bo>, Info: A corgi")
        < text.index("[1] (report.pdf, page 2)")
        < text.index("Question: Who leads")
    )
    assert "[3] (image from report.pdf, page 3) Quarterly revenue chart" in text
    assert user.images == []  # text-only model: the image came as its summary


def test_images_go_as_pixels_up_to_the_limit() -> None:
    loaded = []

    def load(image_id: str) -> tuple[bytes, str]:
        loaded.append(image_id)
        return b"\x89PNG fake", "png"

    context = [*CONTEXT, item("Second chart", kind=NodeKind.IMAGE_SUMMARY, page=4, image_id="img2")]
    prompt = build_prompt(
        "q",
        context,
        capabilities=Capabilities(images=True, max_images=1),
        templates=PromptTemplates(),
        load_image=load,
    )
    user = prompt.messages[1]
    assert len(user.images) == 1 and user.images[0].summary.startswith("Quarterly revenue")
    assert prompt.images_sent == 1 and loaded == ["img1"]
    assert "[4] (image from report.pdf, page 4) Second chart" in user.as_text()


def test_image_node_and_its_summary_are_one_item() -> None:
    pair = [
        item("caption", kind=NodeKind.IMAGE, image_id="x"),
        item("OCR text of x", kind=NodeKind.IMAGE_SUMMARY, image_id="x"),
    ]
    prompt = build_prompt("q", pair, capabilities=Capabilities(), templates=PromptTemplates())
    assert [c.node.text for c in prompt.context] == ["OCR text of x"]


def test_query_image_goes_first_as_text_for_text_only_models() -> None:
    query = ImagePart(b"x", summary="Image showing: corgi")
    prompt = build_prompt(
        "Who is this?",
        CONTEXT,
        capabilities=Capabilities(),
        templates=PromptTemplates(),
        query_image=query,
    )
    assert "The user's image: Image showing: corgi" in prompt.messages[1].as_text()


@pytest.mark.parametrize(
    ("reply", "numbers", "cleaned"),
    [
        ("Q3 revenue was 14.7 million [1].", [1], "Q3 revenue was 14.7 million [1]."),
        ("It was 44.6 [3][1] and more [2, 3].", [3, 1, 2], "It was 44.6 [3][1] and more [2, 3]."),
        ("Made up [7] fact [1, 9].", [1], "Made up fact [1]."),
        ("No markers here.", [], "No markers here."),
        ("Bad [0] and [12].", [], "Bad and."),
    ],
)
def test_parse_citations(reply: str, numbers: list[int], cleaned: str) -> None:
    text, citations = parse_citations(reply, CONTEXT)
    assert [c.number for c in citations] == numbers
    assert text == cleaned
    assert all(c.node is CONTEXT[c.number - 1].node for c in citations)


def test_inferred_citations_by_overlap() -> None:
    citations = infer_citations("The Nordics had 14.7 million in Q3", CONTEXT)
    assert citations[0].number == 1 and citations[0].inferred
    assert infer_citations("Completely unrelated words", CONTEXT) == []


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        ("The provided documents do not contain the answer.", True),
        ("the provided documents do not contain the answer", True),
        ("I cannot answer this from the context.", True),
        ("The context does not contain information about the CEO's age.", True),
        ("", True),
        ("Revenue was 14.7 million EUR [1].", False),
        ("The CEO is Ingrid Solberg-Amari [2]; her salary is not mentioned.", False),
    ],
)
def test_refusal_detection(text: str, refused: bool) -> None:
    assert is_refusal(text, PromptTemplates().refusal) is refused


def _prompt(context: list[ScoredNode]):  # type: ignore[no-untyped-def]
    return build_prompt(
        "What was Q3 revenue?", context, capabilities=Capabilities(), templates=PromptTemplates()
    )


def test_answer_with_citations() -> None:
    model = Scripted("Q3 revenue in the Nordics was 14.7 million EUR [1].")
    answer = Answerer(model, PromptTemplates(), GenerationOptions()).answer(
        "What was Q3 revenue?", _prompt(CONTEXT)
    )
    assert answer.answerable and [c.number for c in answer.citations] == [1]
    assert answer.citations[0].node.page == 2 and not answer.citations[0].inferred
    assert (answer.prompt_tokens, answer.completion_tokens, answer.model) == (10, 5, "scripted")


def test_uncited_answer_gets_inferred_citations() -> None:
    model = Scripted("Q3 revenue in the Nordics was 14.7 million EUR.")
    answer = Answerer(model, PromptTemplates(), GenerationOptions()).answer("q", _prompt(CONTEXT))
    assert [c.number for c in answer.citations] == [1] and answer.citations[0].inferred


def test_refusal_has_no_citations() -> None:
    model = Scripted("I cannot answer this from the context [2].")
    answer = Answerer(model, PromptTemplates(), GenerationOptions()).answer("q", _prompt(CONTEXT))
    assert not answer.answerable and answer.citations == []
    assert answer.text == PromptTemplates().refusal


def test_no_context_refuses_without_calling_the_model() -> None:
    model = Scripted("should not be called")
    answer = Answerer(model, PromptTemplates(), GenerationOptions()).answer("q", _prompt([]))
    assert not answer.answerable and model.seen == []


def test_stream_yields_text_then_answer() -> None:
    model = Scripted("Revenue was 14.7 million [1].")
    items = list(
        Answerer(model, PromptTemplates(), GenerationOptions()).stream("q", _prompt(CONTEXT))
    )
    *deltas, final = items
    assert all(isinstance(d, str) for d in deltas) and "".join(deltas).strip() == model.reply
    assert final.citations[0].number == 1  # type: ignore[union-attr]
