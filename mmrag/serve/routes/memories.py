"""A user's personal concepts: list, add, edit, remove, undo, recognise.

Always the key's own user. Changes take turns (see ``ServerState.memory_lock``) and
take effect for the next question at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, File, UploadFile, status

from mmrag.aio import run_blocking
from mmrag.memory import Memories
from mmrag.serve.auth import Caller, memory_owner
from mmrag.serve.keys import Principal
from mmrag.serve.models import MemoryBody, MemoryEditBody, decode_image
from mmrag.serve.state import ServerState, get_state
from mmrag.serve.uploads import read_upload

router = APIRouter(prefix="/v1/memories", tags=["memories"])
State = Annotated[ServerState, Depends(get_state)]
T = TypeVar("T")


@router.get("", summary="All of the user's concepts")
async def list_memories(caller: Caller, state: State) -> list[dict[str, Any]]:
    return await _read(state, caller, lambda m: [r.to_dict() for r in m.list()])


@router.post("", status_code=status.HTTP_201_CREATED, summary="Remember a new concept")
async def add_memory(body: MemoryBody, caller: Caller, state: State) -> dict[str, Any]:
    photos = [_photo(p) for p in body.photos_base64]
    return await _write(
        state,
        caller,
        lambda m: m.add(body.name, photos=photos, info=body.info, category=body.category).to_dict(),
    )


@router.post("/undo", summary="Undo the user's last change")
async def undo_memory(caller: Caller, state: State) -> dict[str, Any]:
    return {"undone": await _write(state, caller, lambda m: m.undo())}


@router.post("/recognise", summary="Which of the user's concepts a photo shows")
async def recognise(
    caller: Caller,
    state: State,
    image: Annotated[UploadFile, File(description="The photo.")],
) -> list[dict[str, Any]]:
    """Most similar first; ``claimed`` when the similarity passes the pipeline's threshold."""
    data = await read_upload(image)
    found = await _read(state, caller, lambda m: m.recognise(data))
    return [
        {"name": r.memory.name, "similarity": r.similarity, "claimed": r.claimed} for r in found
    ]


@router.get("/{name}", summary="One concept")
async def show_memory(name: str, caller: Caller, state: State) -> dict[str, Any]:
    return await _read(state, caller, lambda m: m.show(name).to_dict())


@router.patch("/{name}", summary="Change a concept")
async def edit_memory(
    name: str, body: MemoryEditBody, caller: Caller, state: State
) -> dict[str, Any]:
    photos = [_photo(p) for p in body.add_photos_base64]
    return await _write(
        state,
        caller,
        lambda m: m.edit(
            name,
            info=body.info,
            category=body.category,
            rename=body.rename,
            add_photos=photos,
            remove_photos=body.remove_photos,
        ).to_dict(),
    )


@router.post("/{name}/photos", summary="Add uploaded photos to a concept")
async def add_photos(
    name: str,
    caller: Caller,
    state: State,
    photos: Annotated[list[UploadFile], File(description="Photos of it.")],
) -> dict[str, Any]:
    data = [await read_upload(p) for p in photos]
    return await _write(state, caller, lambda m: m.edit(name, add_photos=data).to_dict())


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT, summary="Forget a concept")
async def remove_memory(name: str, caller: Caller, state: State) -> None:
    await _write(state, caller, lambda m: m.remove(name))


async def _read(state: ServerState, caller: Principal, work: Callable[[Memories], T]) -> T:
    memories = await run_blocking(state.memories, memory_owner(caller))
    return await run_blocking(work, memories)


async def _write(state: ServerState, caller: Principal, work: Callable[[Memories], T]) -> T:
    owner = memory_owner(caller)

    def locked() -> T:
        with state.memory_lock:
            return work(state.memories(owner))

    return await run_blocking(locked)


def _photo(data: str) -> bytes:
    photo = decode_image(data)
    assert photo is not None
    return photo
