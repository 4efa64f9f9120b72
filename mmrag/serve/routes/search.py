"""Search by text and/or image: JSON, or an uploaded image file."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, UploadFile

from mmrag.retrieve import Retrieval
from mmrag.serve.auth import Caller
from mmrag.serve.models import SearchBody
from mmrag.serve.state import ServerState, get_state
from mmrag.serve.uploads import read_upload

router = APIRouter(prefix="/v1", tags=["search"])
State = Annotated[ServerState, Depends(get_state)]


@router.post("/search", summary="Search by text and/or a base64 image")
async def search(body: SearchBody, caller: Caller, state: State) -> dict[str, Any]:
    """The most relevant items of the shared corpus and the key's own user, best first.

    Without ``k`` adaptive k decides how many (those whose relevancy score passes the
    pipeline's threshold); with ``k``, exactly the best ``k``.
    """
    found = await state.rag.aretrieve(
        body.query, image=body.image(), user=caller.user, k=body.k, filters=body.filters()
    )
    return _result(found)


@router.post("/search/image", summary="Search with an uploaded image (and optional text)")
async def search_image(
    caller: Caller,
    state: State,
    image: Annotated[UploadFile, File(description="The query image (JPEG, PNG, …).")],
    query: Annotated[str | None, Form()] = None,
    k: Annotated[int | None, Form(ge=1, le=200)] = None,
) -> dict[str, Any]:
    """Image-to-image search (and text-to-image with a CLIP-like image embedder)."""
    data = await read_upload(image)
    found = await state.rag.aretrieve(query, image=data, user=caller.user, k=k)
    return _result(found)


def _result(found: Retrieval) -> dict[str, Any]:
    return {
        "items": [hit.to_dict() for hit in found.items],
        "candidates": found.candidates,
        "timings": found.timings,
    }
