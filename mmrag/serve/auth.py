"""Who is asking: the API key of a request, and what that key may read and write.

A key is sent as ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``. The namespace a
request reads and writes always comes from its key, never from the request body, so no
request can reach another user's documents or memories.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from mmrag.serve.keys import Principal
from mmrag.serve.state import ServerState, get_state

_bearer = HTTPBearer(auto_error=False, description="An API key from the server's key file.")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The same, as a header.")


def current_principal(
    state: Annotated[ServerState, Depends(get_state)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> Principal:
    """The key's owner; 401 without a known key."""
    key = bearer.credentials if bearer is not None else header
    principal = state.keys.principal(key) if key else None
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a valid API key is needed: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


Caller = Annotated[Principal, Depends(current_principal)]


def write_target(principal: Principal, shared: bool) -> str | None:
    """The namespace a write goes to: the key's user, or the shared corpus (admin only)."""
    if shared:
        if not principal.admin:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, "writing the shared corpus needs an admin key"
            )
        return None
    if principal.user is None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "this key has no user namespace; set shared=true to write the shared corpus",
        )
    return principal.user


def memory_owner(principal: Principal) -> str:
    """Memories belong to a user: the key's own."""
    if principal.user is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "memories need a key with a user")
    return principal.user
