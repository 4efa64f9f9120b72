"""mmrag's errors as HTTP statuses: the message goes to the client as ``detail``."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from mmrag.errors import (
    ConfigError,
    InvalidNameError,
    LoaderError,
    MissingDependencyError,
    MmragError,
    ModelError,
    StoreError,
)
from mmrag.memory.memories import MemoryNotFoundError

#: Most specific first.
_STATUSES: tuple[tuple[type[MmragError], int], ...] = (
    (MemoryNotFoundError, 404),
    (InvalidNameError, 422),
    (LoaderError, 422),
    (MissingDependencyError, 501),
    (ConfigError, 422),
    (ModelError, 502),
    (StoreError, 409),
)


def status_of(error: MmragError) -> int:
    """The HTTP status for an mmrag error: 4xx for the request, 5xx for the server side."""
    for kind, code in _STATUSES:
        if isinstance(error, kind):
            return code
    return 400


async def mmrag_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MmragError)
    return JSONResponse({"detail": str(exc)}, status_code=status_of(exc))
