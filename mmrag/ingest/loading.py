"""Loading one file the safe way: check what it is, load it, then read what it links to.

Loaders trust a file's name and open only that file; everything around them that a
hostile folder could abuse lives here, in one place: the file must be a regular file
whose first bytes do not contradict its extension, linked images are read only inside
the run's read scope, and a file that yields nothing is said so rather than counted as
ingested with 0 nodes.
"""

from __future__ import annotations

import logging
from pathlib import Path

from mmrag.config import IngestConfig
from mmrag.errors import LoaderError
from mmrag.ingest.document import LoadedDocument
from mmrag.ingest.loaders import loader_for
from mmrag.ingest.loaders.linked import add_linked_images
from mmrag.ingest.scope import ReadScope, read_regular
from mmrag.ingest.sniff import HEAD_BYTES, mismatch

logger = logging.getLogger(__name__)


def load_file(path: Path, settings: IngestConfig, scope: ReadScope | None = None) -> LoadedDocument:
    """Load ``path`` with the loader for its extension, after checking its content.

    ``scope`` bounds the images the document may link to; by default, the file's own
    folder. Raises :class:`LoaderError` naming the file for special files, content that
    is another format than the extension says, and whatever the loader refuses.

    Example::

        doc = load_file(Path("docs/guide.md"), IngestConfig(), ReadScope.of(["docs"]))
    """
    loader = loader_for(path)
    head = _head(path)
    problem = mismatch(path.suffix, head)
    if problem:
        raise LoaderError(path, problem)
    doc = loader.load(path, settings)
    if doc.links:
        add_linked_images(doc, scope or ReadScope.of([path.parent]), settings)
    if not (doc.blocks or doc.scans or doc.images or doc.skip_reason):
        doc.skip_reason = "nothing to index: no text or images found"
    if doc.skip_reason:
        doc.warnings.append(f"{doc.source}: not indexed ({doc.skip_reason})")
    return doc


def _head(path: Path) -> bytes:
    """The first bytes of ``path``; refuses special files without blocking on them."""
    try:
        return read_regular(path, limit=HEAD_BYTES, what="file", truncate=True)
    except LoaderError as exc:
        raise LoaderError(path, exc.reason) from exc
