"""File loaders. Importing this package registers the built-in formats."""

from mmrag.ingest.loaders import html, markdown, pdf, plain
from mmrag.ingest.loaders.base import Loader, loader_for, register_loader, supported_extensions

__all__ = [
    "Loader",
    "html",
    "loader_for",
    "markdown",
    "pdf",
    "plain",
    "register_loader",
    "supported_extensions",
]
