"""Ingest uploaded files as a background job, and poll it."""

from __future__ import annotations

import shutil
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, UploadFile, status

from mmrag.serve.auth import Caller, write_target
from mmrag.serve.state import ServerState, get_state
from mmrag.serve.uploads import save_upload

router = APIRouter(prefix="/v1", tags=["ingest"])
State = Annotated[ServerState, Depends(get_state)]


@router.post("/ingest", status_code=status.HTTP_202_ACCEPTED, summary="Ingest uploaded files")
async def ingest(
    caller: Caller,
    state: State,
    files: Annotated[list[UploadFile], File(description="Documents, images, text files.")],
    shared: Annotated[bool, Form(description="Into the shared corpus (admin keys only).")] = False,
) -> dict[str, Any]:
    """Queue the files for ingestion into the key's user (or, for an admin, the shared
    corpus) and return the job at once; poll ``GET /v1/ingest/{id}`` for progress.

    A file uploaded again under the same name replaces its earlier version.
    """
    user = write_target(caller, shared)
    folder = state.jobs.staging()
    try:
        for upload in files:
            await save_upload(upload, folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return state.jobs.submit(caller.name, user, folder).to_dict()


@router.get("/ingest/{job_id}", summary="An ingest job's state, progress and report")
async def ingest_job(job_id: str, caller: Caller, state: State) -> dict[str, Any]:
    """``state`` is queued, running, done or failed; ``report`` comes when it is done."""
    job = state.jobs.get(job_id, caller.name)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no ingest job {job_id} for this key")
    return job.to_dict()
