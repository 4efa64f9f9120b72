"""Named evaluation sets: their examples, the corpus each needs, and its gold level."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from mmrag.errors import ConfigError
from mmrag.evaluate.dataset import (
    Example,
    from_flickr8k,
    from_mmlongbench,
    from_rap_text_qa,
    load_dataset,
)

Level = Literal["page", "image", "concept", "file"]

#: Where the public sets live when nobody says otherwise (this project's layout).
DEFAULT_DATA_ROOT = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@dataclass(slots=True)
class DatasetSpec:
    name: str
    examples: list[Example]
    #: Files and folders to ingest as the shared corpus.
    corpus: list[Path] = field(default_factory=list)
    #: A RAP database.json to import as the memories of the examples' users.
    memories: Path | None = None
    #: What the gold evidence identifies: pages of files, whole images, or concepts.
    level: Level = "page"


def resolve(
    name_or_path: str, *, data_root: Path | None = None, corpus: Path | None = None
) -> DatasetSpec:
    """``mmlongbench``, ``flickr8k``, ``rap`` (from the data root), or a JSONL file whose
    corpus is given separately."""
    root = data_root or DEFAULT_DATA_ROOT
    if name_or_path == "mmlongbench":
        base = _need(root / "mmlongbench_doc")
        return DatasetSpec(
            "mmlongbench", from_mmlongbench(base / "samples.json"), [base / "documents"]
        )
    if name_or_path == "flickr8k":
        base = _need(root / "flickr8k")
        return DatasetSpec(
            "flickr8k", from_flickr8k(base / "captions.csv"), [base / "images"], level="image"
        )
    if name_or_path == "rap":
        base = _need(root / "rap")
        return DatasetSpec(
            "rap",
            from_rap_text_qa(base / "text_only_qa.json"),
            [],
            memories=base / "database" / "database.json",
            level="concept",
        )
    path = Path(name_or_path)
    if not path.is_file():
        raise ConfigError(
            f"unknown dataset '{name_or_path}' (mmlongbench, flickr8k, rap, or a JSONL file)"
        )
    examples = load_dataset(path)
    level: Level = "page" if any(ev.pages for e in examples for ev in e.evidence) else "file"
    return DatasetSpec(path.stem, examples, [corpus] if corpus else [], level=level)


def _need(path: Path) -> Path:
    if not path.is_dir():
        raise ConfigError(f"dataset folder not found: {path} (set --data-root)")
    return path
