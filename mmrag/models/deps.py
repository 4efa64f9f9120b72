"""Optional imports that fail with an install hint instead of a bare ImportError."""

from __future__ import annotations

import importlib
from types import ModuleType

from mmrag.errors import MissingDependencyError


def require(module: str, *, extra: str, purpose: str, package: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(package or module, extra, purpose) from exc
