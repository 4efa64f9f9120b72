"""Ask: a JSON answer, a retrieval-only ask, or the answer streamed as server-sent events.

The stream sends ``draft`` events while the model writes, then one ``answer`` event with
the verdict: ``answerable``, the answer ``text`` (``answer``) and its ``citations``. Only
the ``answer`` event is the answer. When mmrag rejects what the model wrote (not
supported by the context, or a refusal), the verdict says ``answerable: false``, its
text is the refusal and ``draft_rejected`` is true: a client shows the verdict's text in
place of the draft, never the draft.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import StreamingResponse

from mmrag.errors import MmragError
from mmrag.schema import Answer
from mmrag.serve.auth import Caller
from mmrag.serve.errors import status_of
from mmrag.serve.models import AskBody
from mmrag.serve.state import ServerState, get_state

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["ask"])
State = Annotated[ServerState, Depends(get_state)]


@router.post("/ask", summary="Answer a question (or, with generate=false, only retrieve)")
async def ask(body: AskBody, caller: Caller, state: State) -> dict[str, Any]:
    """The answer with citations; ``answerable`` is false when the documents do not hold it.

    With ``generate: false`` this is a retrieval-only ask: the numbered context and the
    memories the generator would read, without generating.
    """
    rag, image, sources = state.rag, body.image(), body.source or None
    await state.ready(caller.user)
    if not body.generate:
        started = time.perf_counter()
        prompt = await rag.aprompt(body.question, image=image, user=caller.user, source=sources)
        return {
            "question": body.question,
            "context": [item.to_dict() for item in prompt.context],
            "memories": [{"name": m.name, "similarity": m.similarity} for m in prompt.memories],
            "timings": {"retrieve": round(time.perf_counter() - started, 4)},
        }
    answer = await rag.aask(body.question, image=image, user=caller.user, source=sources)
    return verdict(answer)


@router.post(
    "/ask/stream",
    summary="Answer a question, streamed as server-sent events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def ask_stream(body: AskBody, caller: Caller, state: State) -> StreamingResponse:
    """Events: ``draft`` (``{"text": piece}``, provisional; none with ``drafts: false``),
    then ``answer`` (the verdict), or ``error`` (``{"detail", "status"}``) if the model
    fails after the stream began."""
    if not body.generate:
        raise HTTPException(422, "a retrieval-only ask is not streamed: use POST /v1/ask")
    await state.ready(caller.user)
    stream = state.rag.aask_stream(
        body.question, image=body.image(), user=caller.user, source=body.source or None
    )
    return StreamingResponse(
        _events(stream, drafts=body.drafts),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _events(stream: AsyncIterator[str | Answer], *, drafts: bool) -> AsyncIterator[str]:
    try:
        async for item in stream:
            if isinstance(item, Answer):
                yield sse("answer", verdict(item))
            elif drafts:
                yield sse("draft", {"text": item})
    except MmragError as exc:
        yield sse("error", {"detail": str(exc), "status": status_of(exc)})
    except Exception as exc:  # the status line is already sent: say so in the stream
        logger.exception("ask stream failed")
        yield sse("error", {"detail": f"internal error: {type(exc).__name__}", "status": 500})


def verdict(answer: Answer) -> dict[str, Any]:
    """The answer as JSON, with ``draft_rejected`` when the model's own text was replaced."""
    data = answer.to_dict()
    data["draft_rejected"] = not answer.answerable and bool(answer.raw_text)
    return data


def sse(event: str, data: dict[str, Any]) -> str:
    """One server-sent event; JSON keeps the data on one line."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
