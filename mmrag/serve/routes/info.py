"""Health (no key needed), store statistics, and stored images."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Response, status

from mmrag.aio import run_blocking
from mmrag.serve.auth import Caller
from mmrag.serve.state import ServerState, get_state

router = APIRouter(tags=["info"])
State = Annotated[ServerState, Depends(get_state)]


@router.get("/health", summary="Is the server up? (no key needed)")
async def health(state: State) -> dict[str, Any]:
    """Answered on the event loop itself: a slow reply means the loop is blocked."""
    return {"status": "ok", "pipeline": state.rag.config.name}


@router.get("/v1/stats", summary="Files, nodes by kind, indexes and size, as the key sees them")
async def stats(caller: Caller, state: State) -> dict[str, Any]:
    found = await run_blocking(state.rag.stats, user=caller.user)
    return found.to_dict()


@router.get(
    "/v1/images/{image_id}",
    summary="A stored image (as cited by search and ask), if the key may see it",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}},
)
async def image(image_id: str, caller: Caller, state: State) -> Response:
    found = await run_blocking(state.rag.store.image_bytes, image_id, user=caller.user)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no image {image_id} for this key")
    data, fmt = found
    return Response(data, media_type=f"image/{fmt.lower()}")
