"""Where mmrag keeps what it derives once per machine (ONNX exports, assembled models)."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """``$MMRAG_CACHE_DIR``, else ``$XDG_CACHE_HOME/mmrag``, else ``~/.cache/mmrag``."""
    if os.environ.get("MMRAG_CACHE_DIR"):
        return Path(os.environ["MMRAG_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mmrag"
