"""Caption pairs from what a user already has: the store's own image captions (alt texts,
figure captions, descriptive file names) and caption files beside photo folders.

Caption files:

- ``captions.csv`` with a header ``image,caption``, one row per caption (an image may have
  several); ``image`` is a path relative to the CSV's folder, or a bare file name. Given
  with ``--captions`` or found in the folder of an ingested photo.
- ``photo.txt`` beside ``photo.jpg``: one caption per non-empty line.

Each caption is paired with the stored features of the image it names; captions of
images the store does not hold are counted and skipped.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mmrag.errors import ConfigError
from mmrag.store import Store

logger = logging.getLogger(__name__)

CAPTIONS_CSV = "captions.csv"


@dataclass(slots=True)
class StoredImage:
    image_id: str
    source: str
    caption: str
    features: np.ndarray


@dataclass(slots=True)
class CaptionPairs:
    """Distinct images with their features, and (image index, caption) pairs."""

    images: list[StoredImage]
    captions: list[tuple[int, str]]
    #: Where the pairs came from: "store", "captions.csv", ".txt" -> count.
    found: dict[str, int] = field(default_factory=dict)
    #: Caption-file rows naming images the store does not hold.
    unmatched: int = 0

    def features(self) -> np.ndarray:
        return np.stack([im.features for im in self.images]).astype(np.float32)


def stored_images(store: Store, user: str | None) -> list[StoredImage]:
    """Every image the user can search, once per image (the first node's caption)."""
    rows = store.image_features(user=user)
    seen: dict[str, StoredImage] = {}
    for row in rows.to_pylist():
        if row["image_id"] not in seen:
            vector = np.asarray(row["image_vector"], dtype=np.float32)
            seen[row["image_id"]] = StoredImage(
                row["image_id"], row["source"], (row["text"] or "").strip(), vector
            )
    return list(seen.values())


def collect_pairs(
    store: Store, *, user: str | None = None, caption_files: Sequence[Path] = ()
) -> CaptionPairs:
    """All caption pairs for ``user``'s images; :class:`ConfigError` when there are none."""
    images = stored_images(store, user)
    if not images:
        raise ConfigError(
            f"store {store.uri} holds no images with image features: ingest photos with a "
            "pipeline that has an image_embedder first"
        )
    index_of_source = {_norm(im.source): i for i, im in enumerate(images)}
    by_name: dict[str, list[int]] = {}
    for i, im in enumerate(images):
        by_name.setdefault(Path(im.source).name, []).append(i)
    result = CaptionPairs(images=images, captions=[])
    seen: set[tuple[int, str]] = set()

    def add(index: int, caption: str, origin: str) -> None:
        text = " ".join(caption.split())
        if text and (index, text.lower()) not in seen:
            seen.add((index, text.lower()))
            result.captions.append((index, text))
            result.found[origin] = result.found.get(origin, 0) + 1

    for i, im in enumerate(images):
        add(i, im.caption, "store")
    files = [*caption_files, *_files_beside(images)]
    for path in dict.fromkeys(Path(f).resolve() for f in files):
        for name, caption in read_captions_csv(path):
            target = index_of_source.get(_norm(str(path.parent / name)))
            if target is None and len(by_name.get(Path(name).name, [])) == 1:
                target = by_name[Path(name).name][0]
            if target is None:
                result.unmatched += 1
            else:
                add(target, caption, CAPTIONS_CSV)
    # Sources are paths on the machine that ingested them (even for an s3:// store):
    # files beside them are read when this machine sees them too.
    for i, im in enumerate(images):
        sidecar = Path(im.source).with_suffix(".txt")
        if _is_photo(im.source) and sidecar.is_file():
            for line in sidecar.read_text(encoding="utf-8", errors="replace").splitlines():
                add(i, line, ".txt")
    if not result.captions:
        raise ConfigError(
            f"no caption pairs found for the {len(images)} images in {store.uri}: give a "
            f"captions file (--captions FILE, a CSV with header image,caption), put a "
            f"{CAPTIONS_CSV} or a same-name .txt beside the photos, or ingest documents "
            "whose images have alt texts or figure captions"
        )
    return result


def read_captions_csv(path: Path) -> Iterable[tuple[str, str]]:
    """(image, caption) rows of a caption file; one clear error for a malformed one."""
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            if not {"image", "caption"} <= set(reader.fieldnames or ()):
                raise ConfigError(f"{path}: a captions file needs the header 'image,caption'")
            rows = [(r["image"] or "", r["caption"] or "") for r in reader]
    except OSError as exc:
        raise ConfigError(f"cannot read captions file {path}: {exc}") from exc
    return [(image.strip(), caption) for image, caption in rows if image.strip()]


def _files_beside(images: Sequence[StoredImage]) -> list[Path]:
    """``captions.csv`` files in the folders of ingested photos."""
    folders = {Path(im.source).parent for im in images if _is_photo(im.source)}
    return [f / CAPTIONS_CSV for f in sorted(folders) if (f / CAPTIONS_CSV).is_file()]


def _is_photo(source: str) -> bool:
    """An image file of its own (a photo), not an image inside a document."""
    # Imported here: the loaders package pulls in every format's parser.
    from mmrag.ingest.loaders.plain import ImageFileLoader

    return Path(source).suffix.lower() in ImageFileLoader.extensions


def _norm(path: str) -> str:
    try:
        return str(Path(path).resolve())
    except (OSError, RuntimeError):
        return path
