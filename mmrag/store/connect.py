"""Opening a store's LanceDB connection, locally or in object storage, with clear errors.

Object storage (``s3://bucket/prefix``, also ``gs://`` and ``az://``) is configured the
way every AWS tool is: ``AWS_ENDPOINT_URL``, ``AWS_DEFAULT_REGION``/``AWS_REGION``,
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` and, for a plain-``http`` endpoint such
as a local S3-compatible server, ``AWS_ALLOW_HTTP=true``. The non-secret settings can
also ride on the store URI, so one string names the whole store::

    s3://bucket/prefix?endpoint=http://127.0.0.1:9000&region=us-east-1&allow_http=true

Credentials never go in the URI (it is printed in reports); they come from the
environment only.

LanceDB reports a misconfigured or unreachable store as a long retry trace; this module
turns it into one line that says what to set.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from mmrag.errors import ConfigError, MmragError, StoreError
from mmrag.store.retry import retry_conflicts

#: The file (in a local store's folder) that serialises creating tables.
CREATION_LOCK = ".mmrag-create.lock"

#: URI query settings -> the storage option LanceDB (object_store) takes for them.
URI_SETTINGS = {
    "endpoint": "aws_endpoint",
    "region": "aws_region",
    "allow_http": "allow_http",
    "virtual_hosted_style_request": "aws_virtual_hosted_style_request",
}


def is_remote(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


def split_uri(uri: str) -> tuple[str, dict[str, str]]:
    """The URI LanceDB opens and the storage options given in its query string."""
    if not is_remote(uri) or "?" not in uri:
        return uri, {}
    base, _, query = uri.partition("?")
    options = {}
    for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
        if key not in URI_SETTINGS:
            raise ConfigError(
                f"store URI {base}: unknown setting '{key}' (known: {', '.join(URI_SETTINGS)}); "
                "credentials go in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"
            )
        options[URI_SETTINGS[key]] = value
    return base, options


def connect(
    uri: str,
    storage_options: dict[str, str] | None = None,
    *,
    read_consistency_interval: float | None = None,
) -> Any:
    """A LanceDB connection to ``uri`` (see the module docstring for object storage).

    ``read_consistency_interval`` (seconds): how stale a table handle may be before a
    read looks for versions other processes committed; ``None`` never looks (LanceDB's
    default, right for one command), ``0`` looks on every read. A long-running server
    sets it so that an ingest run beside it becomes visible without a restart.
    """
    base, options = split_uri(uri)
    options |= storage_options or {}
    import lancedb  # here: importing LanceDB takes seconds, and not every command needs it

    interval = (
        None if read_consistency_interval is None else timedelta(seconds=read_consistency_interval)
    )
    try:
        return lancedb.connect(
            base, storage_options=options or None, read_consistency_interval=interval
        )
    except Exception as exc:
        raise explain(uri, exc, options) from exc


_MISSING = re.compile(r"was not found|not found|does not exist|no such table", re.IGNORECASE)
_UNREACHABLE = re.compile(
    r"RetryError|error sending request|connection refused|dns error|tcp connect|timed out|"
    r"Connection reset|failed to lookup address",
    re.IGNORECASE,
)
_DENIED = re.compile(
    r"\b403\b|Forbidden|AccessDenied|InvalidAccessKeyId|SignatureDoesNotMatch|"
    r"credential|NoCredentialProviders",
    re.IGNORECASE,
)
_NO_BUCKET = re.compile(r"NoSuchBucket|bucket .*does not exist", re.IGNORECASE)
_ADDRESS = re.compile(r"\b(?:https?|s3)://\S+|\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?")


def open_or_create(db: Any, uri: str, name: str, schema: Any) -> Any:
    """Table ``name``, created with ``schema`` if the store has none yet.

    An existing table is opened as it is, never re-declared: a store written by an older
    version may lack newer optional columns or key declarations, which its readers allow
    for (and LanceDB refuses ``create_table(exist_ok=True)`` with a schema that differs).
    Two processes creating it at once is fine: the loser retries and opens it.
    """
    try:
        return db.open_table(name)
    except Exception as exc:
        if not is_missing_table(exc):
            raise explain(uri, exc) from exc
    try:
        with _creation_lock(uri):
            return retry_conflicts(
                lambda: db.create_table(name, schema=schema, exist_ok=True),
                what=f"creating table '{name}' in {uri}",
            )
    except MmragError:
        raise
    except Exception as exc:
        raise explain(uri, exc) from exc


@contextmanager
def _creation_lock(uri: str) -> Iterator[None]:
    """Hold the store's creation lock while a table is created (local stores only).

    Lance turns a create that lost the race to another process's create into an
    *overwrite* of the winner's table. Right after creation that table is empty, but
    should the winner already have written rows they would be gone, so two local
    processes never create at once; the one that waits then finds the table there
    (``exist_ok``). Object storage has no such lock: there the window is the few
    milliseconds between two first-ever opens of one store.
    """
    if not uri or is_remote(uri):
        yield
        return
    folder = Path(uri.removeprefix("file://"))
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / CREATION_LOCK).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def is_missing_table(exc: BaseException) -> bool:
    """Is this LanceDB's "no such table" (as opposed to failing to reach the store)?"""
    return isinstance(exc, FileNotFoundError | ValueError) and bool(
        _MISSING.search(str(exc)) and not _UNREACHABLE.search(str(exc))
    )


def explain(uri: str, exc: BaseException, options: dict[str, str] | None = None) -> StoreError:
    """One line saying why the store at ``uri`` cannot be used, and what to set."""
    message = str(exc)
    detail = message.strip().splitlines()[0][:200] if message.strip() else type(exc).__name__
    if not is_remote(uri):
        return StoreError(f"cannot use store {uri}: {detail}")
    base = uri.partition("?")[0]
    options = options or {}
    endpoint = (
        options.get("aws_endpoint")
        or os.environ.get("AWS_ENDPOINT_URL")
        or os.environ.get("AWS_ENDPOINT")
    )
    allow_http = (options.get("allow_http") or os.environ.get("AWS_ALLOW_HTTP", "")).lower()
    # Addresses come out before matching: the port of http://127.0.0.1:40312 is no 403.
    reason = _ADDRESS.sub(" ", message)
    if endpoint and urlsplit(endpoint).scheme == "http" and allow_http != "true":
        hint = (
            f"the endpoint {endpoint} is plain http, which is refused unless you set "
            "AWS_ALLOW_HTTP=true (or add allow_http=true to the store URI)"
        )
    elif _NO_BUCKET.search(reason):
        hint = "the bucket does not exist; create it first"
    elif _DENIED.search(reason):
        hint = "access denied; check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    elif _UNREACHABLE.search(reason):
        where = endpoint or "the object store"
        hint = f"cannot reach {where}; check AWS_ENDPOINT_URL, AWS_DEFAULT_REGION and the network"
    else:
        hint = detail
    return StoreError(f"cannot use store {base}: {hint}")
