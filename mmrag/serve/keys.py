"""API keys and the user namespaces they stand for.

A key file (YAML or JSON, given as ``mmrag serve --keys FILE``, or its text in the
environment variable ``MMRAG_API_KEYS``) lists who may use the server::

    keys:
      - key: "alice-6f1c…"           # reads the shared corpus and alice's own; writes alice's
        user: alice
      - key_sha256: "9b74c9897bac…"  # the same, storing only the key's SHA-256 hex digest
        user: bob
      - key: "ops-42a0…"
        admin: true                  # may also write the shared corpus (ingest without a user)

A key never reads another user's documents or memories: the user comes from the key,
never from the request.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mmrag.errors import ConfigError, InvalidNameError
from mmrag.store.filters import validate_user

#: The environment variable that may hold the key file's text instead of ``--keys``.
KEYS_ENV = "MMRAG_API_KEYS"
#: Shorter keys are too easy to guess to guard anyone's documents.
MIN_KEY_LENGTH = 16


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts for: a user namespace (``None``: the shared corpus only)."""

    name: str
    user: str | None
    admin: bool = False


class _KeyEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str | None = Field(default=None, min_length=MIN_KEY_LENGTH)
    key_sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    user: str | None = None
    admin: bool = False
    #: A label for logs; defaults to the user (or "admin").
    name: str | None = None

    @model_validator(mode="after")
    def _check(self) -> _KeyEntry:
        if (self.key is None) == (self.key_sha256 is None):
            raise ValueError("give exactly one of 'key' and 'key_sha256'")
        if self.user is not None:
            try:
                validate_user(self.user)
            except InvalidNameError as exc:
                raise ValueError(str(exc)) from exc
        elif not self.admin:
            raise ValueError("a key needs a 'user', or 'admin: true' for the shared corpus")
        return self

    def digest(self) -> bytes:
        if self.key_sha256 is not None:
            return bytes.fromhex(self.key_sha256)
        assert self.key is not None
        return _sha256(self.key)


class _KeyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keys: list[_KeyEntry] = Field(min_length=1)


class KeyRing:
    """Looks up the :class:`Principal` of an API key in constant time per entry."""

    def __init__(self, entries: list[tuple[bytes, Principal]]) -> None:
        self._entries = entries

    @classmethod
    def parse(cls, text: str, *, origin: str) -> KeyRing:
        """Keys from the text of a key file (YAML or JSON); ``origin`` names it in errors."""
        try:
            data: Any = yaml.safe_load(text)
            parsed = _KeyFile.model_validate(data)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{origin} is not valid YAML or JSON: {exc}") from exc
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(f"{origin}: {problems}") from exc
        digests = [entry.digest() for entry in parsed.keys]
        if len(set(digests)) != len(digests):
            raise ConfigError(f"{origin}: the same key is listed twice")
        return cls(
            [
                (digest, Principal(e.name or e.user or "admin", e.user, e.admin))
                for digest, e in zip(digests, parsed.keys, strict=True)
            ]
        )

    @classmethod
    def load(cls, path: str | Path | None = None) -> KeyRing:
        """Keys from ``path``, else from ``$MMRAG_API_KEYS``; an error when neither is set."""
        if path is not None:
            try:
                text = Path(path).read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"cannot read the key file {path}: {exc}") from exc
            return cls.parse(text, origin=str(path))
        text = os.environ.get(KEYS_ENV, "")
        if not text.strip():
            raise ConfigError(
                f"no API keys: give --keys FILE (YAML or JSON) or set {KEYS_ENV}; "
                "see 'Serving over HTTP' in the README for the format"
            )
        return cls.parse(text, origin=f"${KEYS_ENV}")

    def principal(self, key: str) -> Principal | None:
        """Whose key this is, or ``None``. Every entry is compared, so timing tells nothing."""
        digest = _sha256(key)
        found = None
        for known, principal in self._entries:
            if hmac.compare_digest(known, digest):
                found = principal
        return found

    def __len__(self) -> int:
        return len(self._entries)


def _sha256(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()
