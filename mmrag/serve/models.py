"""Request bodies of the HTTP API (pydantic: validated, and documented at /docs)."""

from __future__ import annotations

import base64
import binascii

from fastapi import HTTPException
from pydantic import BaseModel, ConfigDict, Field

from mmrag.retrieve import SearchFilter
from mmrag.retrieve.filters import parse_pages
from mmrag.schema import NodeKind


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SearchBody(_Body):
    """A text query and/or a query image; with ``k`` exactly the best k, else adaptive k."""

    query: str | None = Field(default=None, examples=["revenue by region in 2025"])
    #: A query image as base64 (or upload it to /v1/search/image instead).
    image_base64: str | None = None
    k: int | None = Field(default=None, ge=1, le=200)
    #: Only files matching these paths or globs.
    source: list[str] = Field(default_factory=list)
    kinds: list[NodeKind] = Field(default_factory=list)
    #: A page or an inclusive page range: "3" or "3-7".
    pages: str | None = Field(default=None, examples=["3-7"])

    def filters(self) -> SearchFilter:
        try:
            pages = parse_pages(self.pages) if self.pages else None
        except ValueError as exc:
            raise _unprocessable(str(exc)) from exc
        return SearchFilter(sources=tuple(self.source), kinds=tuple(self.kinds), pages=pages)

    def image(self) -> bytes | None:
        return decode_image(self.image_base64)


class AskBody(_Body):
    question: str = Field(min_length=1, examples=["What was Q3 revenue in the Nordics?"])
    image_base64: str | None = None
    source: list[str] = Field(default_factory=list)
    #: False: a retrieval-only ask; the context the generator would read, no generation.
    generate: bool = True
    #: Streamed asks: False sends no ``draft`` events, only the verdict, for clients that
    #: must never display text mmrag has not checked yet.
    drafts: bool = True

    def image(self) -> bytes | None:
        return decode_image(self.image_base64)


class MemoryBody(_Body):
    name: str = Field(min_length=1, examples=["bo"])
    info: str = ""
    category: str = ""
    #: Photos as base64 (or use the multipart photo upload endpoint).
    photos_base64: list[str] = Field(default_factory=list)


class MemoryEditBody(_Body):
    info: str | None = None
    category: str | None = None
    rename: str | None = None
    add_photos_base64: list[str] = Field(default_factory=list)
    remove_photos: list[str] = Field(default_factory=list)


def decode_image(data: str | None) -> bytes | None:
    """Base64 (plain or as a ``data:`` URL) to bytes; HTTP 422 when it is not base64."""
    if data is None:
        return None
    if data.startswith("data:"):
        data = data.partition(",")[2]
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _unprocessable(f"image is not valid base64: {exc}") from exc


def _unprocessable(message: str) -> HTTPException:
    return HTTPException(422, message)
