"""HTTP plumbing shared by the server backends (OpenAI-compatible, Ollama).

:class:`HttpJsonClient` turns network and HTTP failures into mmrag errors the same way
for every server, and retries what is worth retrying.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING, Any

from mmrag.errors import ModelError
from mmrag.models.deps import require
from mmrag.models.mllm.base import BackendUnavailableError, ModelResponseError
from mmrag.models.mllm.retry import RetryPolicy, TransientError

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger(__name__)

#: Statuses that mean "busy or briefly broken": worth the same request again.
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})

StatusHint = Callable[[int, str], ModelError | None]


class _RetryError(TransientError):
    """A transient failure, carrying the error to raise once attempts run out."""

    def __init__(self, final: ModelError) -> None:
        super().__init__(str(final))
        self.final = final


class HttpJsonClient:
    """A lazily opened ``httpx.Client`` that turns network and HTTP failures into mmrag errors.

    Shared by the HTTP backends so that every one tells the user the same things: the server
    is down, the model is missing, the key is wrong, or the server stayed overloaded.
    ``status_hint`` lets a backend word 401/403/404 in its own terms.
    """

    def __init__(
        self,
        *,
        backend: str,
        base_url: str,
        timeout: float,
        retry: RetryPolicy,
        extra: str,
        headers: Callable[[], dict[str, str]] = dict,
        status_hint: StatusHint | None = None,
    ) -> None:
        self.backend = backend
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry = retry
        self._extra = extra
        self._headers = headers
        self._status_hint = status_hint
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def post_json(self, path: str, body: dict[str, Any]) -> Any:
        """POST ``body`` and return the decoded JSON answer; transient failures are retried."""

        def attempt() -> Any:
            client = self._get_client()
            with self._translated():
                response = client.post(path, json=body, headers=self._headers())
            self._check_status(response)
            return parse_json(response.text, self.backend)

        return self._retried(attempt, path)

    def post_lines(self, path: str, body: dict[str, Any]) -> Generator[str, None, None]:
        """POST ``body`` and yield the answer's non-empty lines as they arrive.

        Only opening the stream is retried: once lines were handed out, a failure cannot be
        repeated without duplicating text the caller has already shown.
        """

        def attempt() -> httpx.Response:
            client = self._get_client()
            request = client.build_request("POST", path, json=body, headers=self._headers())
            with self._translated():
                response = client.send(request, stream=True)
                if response.status_code >= 400:
                    try:
                        response.read()
                    finally:
                        response.close()
            self._check_status(response)
            return response

        response = self._retried(attempt, path)
        try:
            with self._translated():
                for line in response.iter_lines():
                    if line.strip():
                        yield line.strip()
        except _RetryError as exc:
            raise exc.final from exc
        finally:
            response.close()

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _get_client(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                hx = self._httpx()
                self._client = hx.Client(
                    base_url=self.base_url,
                    timeout=hx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
                )
            return self._client

    def _retried(self, attempt: Callable[[], Any], path: str) -> Any:
        try:
            return self.retry.run(attempt, what=f"{self.backend} POST {path}")
        except _RetryError as exc:
            raise exc.final from exc

    def _httpx(self) -> ModuleType:
        return require("httpx", extra=self._extra, purpose=f"The {self.backend} backend")

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """Maps httpx's exceptions: unreachable fails at once, slow or dropped is retried."""
        hx = self._httpx()
        name, url = self.backend, self.base_url
        try:
            yield
        except (hx.ConnectError, hx.ConnectTimeout) as exc:
            raise BackendUnavailableError(
                f"{name}: cannot connect to {url}: the server is down or unreachable ({exc}). "
                "Start it, or fix base_url."
            ) from exc
        except hx.TimeoutException as exc:
            raise _RetryError(
                ModelResponseError(
                    f"{name}: {url} sent no answer within {self.timeout:g}s "
                    f"({self.retry.attempts} attempt(s)); raise `timeout`, lower max_tokens "
                    "or use a faster model"
                )
            ) from exc
        except (hx.ReadError, hx.WriteError, hx.RemoteProtocolError) as exc:
            raise _RetryError(
                BackendUnavailableError(
                    f"{name}: {url} dropped the connection ({exc or type(exc).__name__}); "
                    "the server may have crashed or restarted"
                )
            ) from exc
        except hx.HTTPError as exc:
            raise BackendUnavailableError(f"{name}: request to {url} failed: {exc}") from exc

    def _check_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        detail = server_message(response)
        if status in TRANSIENT_STATUSES:
            raise _RetryError(
                ModelResponseError(
                    f"{self.backend}: {response.request.url} kept failing with HTTP {status} "
                    f"after {self.retry.attempts} attempt(s): {detail}"
                )
            )
        hint = self._status_hint(status, detail) if self._status_hint else None
        raise hint or ModelResponseError(
            f"{self.backend}: {response.request.url} answered HTTP {status}: {detail}"
        )


def parse_json(text: str, backend: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelResponseError(f"{backend} sent malformed JSON: {excerpt(text)}") from exc


def server_message(response: httpx.Response) -> str:
    """The server's own words for an error: ``error.message``, ``error`` or ``detail``."""
    try:
        data = json.loads(response.text)
    except json.JSONDecodeError:
        return excerpt(response.text) or response.reason_phrase
    return error_text(data) if isinstance(data, dict) else excerpt(response.text)


def excerpt(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def error_text(data: dict[str, Any]) -> str:
    error = data.get("error", data.get("detail", data.get("message")))
    if isinstance(error, dict):
        error = error.get("message", error)
    return excerpt(error if isinstance(error, str) else json.dumps(data))


def json_object(data: Any, backend: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ModelResponseError(
            f"{backend} sent JSON that is not an object: {excerpt(json.dumps(data))}"
        )
    return data
