"""File loaders. Importing this package registers the built-in formats."""

from mmrag.ingest.loaders import docx, epub, html, markdown, pdf, plain, pptx
from mmrag.ingest.loaders.base import Loader, loader_for, register_loader, supported_extensions

__all__ = [
    "Loader",
    "docx",
    "epub",
    "html",
    "loader_for",
    "markdown",
    "pdf",
    "plain",
    "pptx",
    "register_loader",
    "supported_extensions",
]
