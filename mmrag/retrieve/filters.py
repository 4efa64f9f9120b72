"""What a search may return besides the user scope: documents, files, kinds, pages."""

from __future__ import annotations

from dataclasses import dataclass

from mmrag.schema import NodeKind
from mmrag.store.filters import all_of, in_list, source_filter


@dataclass(frozen=True, slots=True)
class SearchFilter:
    """Restrictions on candidates, turned into a safe SQL filter (values are quoted).

    Example::

        SearchFilter(sources=("reports/*.pdf",), pages=(3, 7), kinds=(NodeKind.TEXT,))
    """

    #: Paths or globs of source files (``report.pdf``, ``papers/*.pdf``).
    sources: tuple[str, ...] = ()
    #: Document ids (as in ``Node.doc_id``).
    docs: tuple[str, ...] = ()
    kinds: tuple[NodeKind, ...] = ()
    #: Inclusive page range; nodes without a page (Markdown, images) are excluded.
    pages: tuple[int, int] | None = None

    def where(self) -> str | None:
        clauses = [source_filter(self.sources)]
        if self.docs:
            clauses.append(in_list("doc_id", self.docs))
        if self.kinds:
            clauses.append(in_list("kind", [k.value for k in self.kinds]))
        if self.pages is not None:
            low, high = self.pages
            clauses.append(f"page >= {int(low)} AND page <= {int(high)}")
        clauses = [c for c in clauses if c]
        return all_of(*clauses) if clauses else None

    def allows(self, kind: NodeKind) -> bool:
        return not self.kinds or kind in self.kinds

    def documents_where(self) -> str | None:
        """The part of the filter that applies to whole documents."""
        clauses = [source_filter(self.sources)]
        if self.docs:
            clauses.append(in_list("doc_id", self.docs))
        clauses = [c for c in clauses if c]
        return all_of(*clauses) if clauses else None


def parse_pages(spec: str) -> tuple[int, int]:
    """``"3"`` -> (3, 3); ``"3-7"`` -> (3, 7)."""
    low, _, high = spec.partition("-")
    try:
        start, end = int(low), int(high or low)
    except ValueError as exc:
        raise ValueError(f"page range must look like 3 or 3-7, not {spec!r}") from exc
    if start < 1 or end < start:
        raise ValueError(f"invalid page range {spec!r}")
    return start, end
