"""Clients for ``mmrag serve``: :class:`Client` (blocking) and :class:`AsyncClient`.

Both speak the same JSON API and return the server's JSON as dicts. Needs ``httpx``
(the ``serve`` extra).

Example::

    async with AsyncClient("http://127.0.0.1:8000", api_key="alice-6f1c…") as mm:
        hits = await mm.search("revenue by region", k=5)
        async for event in mm.ask_stream("What was Q3 revenue?"):
            if event.name == "answer":          # the verdict; "draft" events come before it
                print(event.data["answer"], event.data["citations"])
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmrag.errors import MmragError
from mmrag.models.deps import require

#: What a file argument may be: a path, or raw bytes.
FileInput = str | Path | bytes


class ServerError(MmragError):
    """The server refused a request or failed; ``status`` is the HTTP status."""

    def __init__(self, status: int, detail: str) -> None:
        self.status = status
        self.detail = detail
        super().__init__(f"mmrag server answered {status}: {detail}")


@dataclass(frozen=True, slots=True)
class Event:
    """One server-sent event of a streamed ask: ``draft``, ``answer`` or ``error``."""

    name: str
    data: dict[str, Any]


@dataclass(slots=True)
class _Call:
    """One request, built once and sent by either client."""

    method: str
    path: str
    json: Any = None
    data: dict[str, Any] | None = None
    files: list[tuple[str, tuple[str, bytes]]] = field(default_factory=list)

    def kwargs(self) -> dict[str, Any]:
        args: dict[str, Any] = {}
        if self.json is not None:
            args["json"] = self.json
        if self.data is not None:
            args["data"] = self.data
        if self.files:
            args["files"] = self.files
        return args


class _Calls:
    """The API's requests; shared by the two clients so they cannot drift apart."""

    @staticmethod
    def search(
        query: str | None,
        image: FileInput | None,
        k: int | None,
        source: Sequence[str],
        pages: str | None,
    ) -> _Call:
        if image is not None:
            data = {"query": query, "k": k}
            return _Call(
                "POST",
                "/v1/search/image",
                data={key: v for key, v in data.items() if v is not None},
                files=[_file("image", image)],
            )
        body = {"query": query, "k": k, "source": list(source), "pages": pages}
        return _Call("POST", "/v1/search", json=body)

    @staticmethod
    def ask(question: str, source: Sequence[str], generate: bool) -> _Call:
        return _Call(
            "POST",
            "/v1/ask",
            json={"question": question, "source": list(source), "generate": generate},
        )

    @staticmethod
    def ingest(files: Iterable[FileInput], shared: bool) -> _Call:
        return _Call(
            "POST",
            "/v1/ingest",
            data={"shared": str(shared).lower()},
            files=[_file("files", f) for f in files],
        )

    @staticmethod
    def add_memory(name: str, info: str, category: str, photos: Sequence[FileInput]) -> _Call:
        encoded = [base64.b64encode(_read(p)).decode("ascii") for p in photos]
        body = {"name": name, "info": info, "category": category, "photos_base64": encoded}
        return _Call("POST", "/v1/memories", json=body)

    @staticmethod
    def edit_memory(name: str, changes: dict[str, Any]) -> _Call:
        return _Call("PATCH", f"/v1/memories/{name}", json=changes)

    @staticmethod
    def recognise(photo: FileInput) -> _Call:
        return _Call("POST", "/v1/memories/recognise", files=[_file("image", photo)])


def _read(item: FileInput) -> bytes:
    return item if isinstance(item, bytes) else Path(item).read_bytes()


def _file(field_name: str, item: FileInput) -> tuple[str, tuple[str, bytes]]:
    if isinstance(item, bytes):
        return field_name, ("upload", item)
    path = Path(item)
    return field_name, (path.name, path.read_bytes())


def _check(response: Any) -> Any:
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise ServerError(response.status_code, str(detail))
    if response.status_code == 204 or not response.content:
        return None
    return response.json()


def _events(lines: Iterable[str], pending: dict[str, str]) -> Iterator[Event]:
    """Server-sent events from lines of the stream; ``pending`` carries a partial event."""
    for line in lines:
        if not line:
            if "data" in pending:
                yield Event(pending.get("event", "message"), json.loads(pending["data"]))
            pending.clear()
            continue
        key, _, value = line.partition(":")
        if key in ("event", "data"):
            value = value.removeprefix(" ")
            pending[key] = (
                pending[key] + "\n" + value if key == "data" and key in pending else value
            )


def _headers(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


class AsyncClient:
    """The server's API for asyncio code; one connection pool per client."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 120.0) -> None:
        httpx = require("httpx", extra="serve", purpose="the mmrag HTTP client")
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=_headers(api_key), timeout=timeout
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, call: _Call) -> Any:
        return _check(await self._http.request(call.method, call.path, **call.kwargs()))

    async def health(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._send(_Call("GET", "/health"))
        return result

    async def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._send(_Call("GET", "/v1/stats"))
        return result

    async def search(
        self,
        query: str | None = None,
        *,
        image: FileInput | None = None,
        k: int | None = None,
        source: Sequence[str] = (),
        pages: str | None = None,
    ) -> list[dict[str, Any]]:
        result = await self._send(_Calls.search(query, image, k, source, pages))
        items: list[dict[str, Any]] = result["items"]
        return items

    async def ask(
        self, question: str, *, source: Sequence[str] = (), generate: bool = True
    ) -> dict[str, Any]:
        """The verdict (or, with ``generate=False``, the retrieved context)."""
        result: dict[str, Any] = await self._send(_Calls.ask(question, source, generate))
        return result

    async def ask_stream(
        self, question: str, *, source: Sequence[str] = ()
    ) -> AsyncIterator[Event]:
        """``draft`` events, then the ``answer`` verdict (or an ``error`` event)."""
        call = _Calls.ask(question, source, True)
        async with self._http.stream("POST", "/v1/ask/stream", json=call.json) as response:
            if response.status_code >= 400:
                await response.aread()
                _check(response)
            pending: dict[str, str] = {}
            async for line in response.aiter_lines():
                for event in _events([line], pending):
                    yield event

    async def ingest(self, files: Iterable[FileInput], *, shared: bool = False) -> dict[str, Any]:
        """Queue files for ingestion; returns the job (poll it with :meth:`job`)."""
        result: dict[str, Any] = await self._send(_Calls.ingest(files, shared))
        return result

    async def job(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._send(_Call("GET", f"/v1/ingest/{job_id}"))
        return result

    async def wait(
        self, job_id: str, *, poll: float = 0.5, timeout: float = 3600
    ) -> dict[str, Any]:
        """Poll a job until it is done or failed."""
        deadline = time.monotonic() + timeout
        while True:
            job = await self.job(job_id)
            if job["state"] in ("done", "failed") or time.monotonic() > deadline:
                return job
            await asyncio.sleep(poll)

    async def memories(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._send(_Call("GET", "/v1/memories"))
        return result

    async def add_memory(
        self, name: str, *, info: str = "", category: str = "", photos: Sequence[FileInput] = ()
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self._send(_Calls.add_memory(name, info, category, photos))
        return result

    async def edit_memory(self, name: str, **changes: Any) -> dict[str, Any]:
        """``info``, ``category``, ``rename``, ``remove_photos`` as in the API."""
        result: dict[str, Any] = await self._send(_Calls.edit_memory(name, changes))
        return result

    async def remove_memory(self, name: str) -> None:
        await self._send(_Call("DELETE", f"/v1/memories/{name}"))

    async def undo(self) -> str | None:
        result: dict[str, Any] = await self._send(_Call("POST", "/v1/memories/undo"))
        return result["undone"]  # type: ignore[no-any-return]

    async def recognise(self, photo: FileInput) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._send(_Calls.recognise(photo))
        return result


class Client:
    """The server's API, blocking; the same methods as :class:`AsyncClient`."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 120.0) -> None:
        httpx = require("httpx", extra="serve", purpose="the mmrag HTTP client")
        self._http = httpx.Client(base_url=base_url, headers=_headers(api_key), timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, call: _Call) -> Any:
        return _check(self._http.request(call.method, call.path, **call.kwargs()))

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._send(_Call("GET", "/health"))
        return result

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._send(_Call("GET", "/v1/stats"))
        return result

    def search(
        self,
        query: str | None = None,
        *,
        image: FileInput | None = None,
        k: int | None = None,
        source: Sequence[str] = (),
        pages: str | None = None,
    ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self._send(_Calls.search(query, image, k, source, pages))[
            "items"
        ]
        return items

    def ask(
        self, question: str, *, source: Sequence[str] = (), generate: bool = True
    ) -> dict[str, Any]:
        result: dict[str, Any] = self._send(_Calls.ask(question, source, generate))
        return result

    def ask_stream(self, question: str, *, source: Sequence[str] = ()) -> Iterator[Event]:
        call = _Calls.ask(question, source, True)
        with self._http.stream("POST", "/v1/ask/stream", json=call.json) as response:
            if response.status_code >= 400:
                response.read()
                _check(response)
            yield from _events(response.iter_lines(), {})

    def ingest(self, files: Iterable[FileInput], *, shared: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = self._send(_Calls.ingest(files, shared))
        return result

    def job(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._send(_Call("GET", f"/v1/ingest/{job_id}"))
        return result

    def wait(self, job_id: str, *, poll: float = 0.5, timeout: float = 3600) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job["state"] in ("done", "failed") or time.monotonic() > deadline:
                return job
            time.sleep(poll)

    def memories(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._send(_Call("GET", "/v1/memories"))
        return result

    def add_memory(
        self, name: str, *, info: str = "", category: str = "", photos: Sequence[FileInput] = ()
    ) -> dict[str, Any]:
        result: dict[str, Any] = self._send(_Calls.add_memory(name, info, category, photos))
        return result

    def edit_memory(self, name: str, **changes: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._send(_Calls.edit_memory(name, changes))
        return result

    def remove_memory(self, name: str) -> None:
        self._send(_Call("DELETE", f"/v1/memories/{name}"))

    def undo(self) -> str | None:
        result: dict[str, Any] = self._send(_Call("POST", "/v1/memories/undo"))
        return result["undone"]  # type: ignore[no-any-return]

    def recognise(self, photo: FileInput) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._send(_Calls.recognise(photo))
        return result
