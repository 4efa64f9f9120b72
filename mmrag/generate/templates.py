"""Every prompt text mmrag sends to a generator, in one place, overridable per pipeline."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

REFUSAL = "The provided documents do not contain the answer."

SYSTEM = (
    "You answer questions using only the numbered context items below. "
    "After each statement, cite the items it comes from as [1], [2]. "
    'If the context does not contain the answer, reply exactly: "{refusal}" '
    "Do not use outside knowledge. Be brief."
)


class PromptTemplates(BaseModel):
    """Format strings; placeholders in braces are filled by the prompt builder."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: ``{refusal}`` is replaced by :attr:`refusal`.
    system: str = SYSTEM
    refusal: str = REFUSAL
    memories_header: str = "What you know about the user's own things:"
    #: One personal concept, RAP-style.
    memory_item: str = "Name: {name}, Info: {info}"
    context_header: str = "Context:"
    #: ``{location}`` is e.g. "report.pdf, page 3".
    text_item: str = "[{number}] ({location}) {text}"
    #: An image given as pixels is followed by this line; a text-only model reads it alone.
    image_item: str = "[{number}] (image from {location}) {text}"
    query_image: str = "The user's image: {text}"
    question: str = "Question: {question}"
