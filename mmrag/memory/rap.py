"""RAP's concept database (``database.json``): import and export, as RAP writes it.

::

    {"concept_dict": {"<bo>": {"name": "bo", "image": "example_database/bo.png",
                               "info": "<bo> is a ... Shiba Inu ...", "category": "dog"}},
     "path_to_concept": {"example_database/bo.png": "<bo>"}}

``image`` may be one path or a list; paths are relative to the folder *above* the JSON
file (RAP's ``example_database/`` prefix), or to the JSON's own folder.

An imported file is untrusted input: its shape and sizes are checked (one error naming
the file and the field), concept names must be plain names, and image paths must stay
inside the database's folder. Export writes only file names it builds itself.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from mmrag.errors import ConfigError, InvalidNameError
from mmrag.memory.memories import Memories
from mmrag.memory.names import plain_name

#: Limits on an imported database: generous for real concepts (RAP's longest info is
#: ~160 characters), small enough that a hostile file cannot flood the prompt or store.
MAX_FILE_BYTES = 20_000_000
MAX_CONCEPTS = 10_000
MAX_INFO_CHARS = 4_000
MAX_CATEGORY_CHARS = 64
MAX_PHOTOS = 32
MAX_PATH_CHARS = 1_000

_Path = Annotated[str, StringConstraints(min_length=1, max_length=MAX_PATH_CHARS)]


class _Concept(BaseModel):
    # RAP's files carry other keys in some versions; only these are read.
    model_config = ConfigDict(extra="ignore", strict=True)

    name: str | None = Field(None, max_length=200)
    image: _Path | Annotated[list[_Path], Field(max_length=MAX_PHOTOS)] | None = None
    info: str | None = Field(None, max_length=MAX_INFO_CHARS)
    category: str | None = Field(None, max_length=MAX_CATEGORY_CHARS)


class _Database(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    concept_dict: Annotated[dict[str, _Concept], Field(max_length=MAX_CONCEPTS)]


@dataclass(frozen=True, slots=True)
class RapImport:
    """What :func:`import_rap` did, by concept name (``<bo>``)."""

    #: Concepts added, or overwritten with ``replace``.
    imported: list[str] = field(default_factory=list)
    #: Concepts the user already had, left as they were (``replace`` was not given).
    skipped: list[str] = field(default_factory=list)


def import_rap(
    memories: Memories, database_json: str | Path, *, replace: bool = False
) -> RapImport:
    """Add every concept of a RAP database to the user's memories.

    Existing concepts are left alone unless ``replace`` (then they are edited in place);
    the result names both, so a second import can say what it did not do. The whole file
    is checked before anything is added, so a bad file changes nothing.

    Example::

        result = import_rap(rag.memories("alice"), "rap/database.json")
        result.imported, result.skipped   # (["<bo>", "<mam>"], [])
    """
    path = Path(database_json)
    database = _read(path)
    concepts = []
    for label, concept in database.concept_dict.items():
        name = concept.name or label
        try:
            key = plain_name(name)
        except InvalidNameError as exc:
            raise ConfigError(f"{path}: concept_dict.{label}.name: {exc}") from exc
        photos = [_resolve(path, p) for p in _as_list(concept.image)]
        concepts.append((key, photos, concept.info or "", concept.category or ""))
    existing = {m.key for m in memories.list()}
    result = RapImport()
    for key, photos, info, category in concepts:
        if key in existing:
            if not replace:
                result.skipped.append(f"<{key}>")
                continue
            current = memories.show(key)
            memories.edit(
                key,
                info=info,
                category=category,
                remove_photos=current.photo_ids,
                add_photos=photos,
            )
        else:
            memories.add(key, photos=photos, info=info, category=category)
        result.imported.append(f"<{key}>")
    return result


def export_rap(memories: Memories, folder: str | Path, *, replace: bool = False) -> Path:
    """Write ``database.json`` plus the photos into ``folder`` in RAP's layout.

    A folder that already holds a ``database.json`` is refused unless ``replace``: an
    export of another user (or an older one) would otherwise be lost without a word. With
    ``replace`` the old ``database.json`` and same-named photos are overwritten; photos
    only the old export listed stay on disk, unreferenced (nothing the user did not ask
    to lose is deleted).
    """
    root = Path(folder)
    out = root / "database.json"
    if out.exists() and not replace:
        raise ConfigError(
            f"{root} already holds an export ({out}); choose another folder, or overwrite "
            "it with replace=True (mmrag memory export --replace)"
        )
    images = root / "example_database"
    images.mkdir(parents=True, exist_ok=True)
    concept_dict: dict[str, Any] = {}
    path_to_concept: dict[str, str] = {}
    used: set[str] = set()
    for memory in memories.list():
        files = []
        for photo_id in memory.photo_ids:
            found = memories.photo(photo_id)
            if found is None:
                continue
            data, fmt = found
            name = _file_name(memory.key, "jpg" if fmt == "jpeg" else fmt, used)
            (images / name).write_bytes(data)
            rel = f"example_database/{name}"
            files.append(rel)
            path_to_concept[rel] = memory.name
        concept_dict[memory.name] = {
            "name": memory.key,
            "image": files[0] if len(files) == 1 else files,
            "info": memory.info,
            "category": memory.category,
        }
    out.write_text(
        json.dumps(
            {"concept_dict": concept_dict, "path_to_concept": path_to_concept},
            indent=2,
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    return out


def _read(path: Path) -> _Database:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ConfigError(
                f"{path}: RAP database larger than {MAX_FILE_BYTES // 1_000_000} MB; refused"
            )
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read RAP database {path}: {exc}") from exc
    if not isinstance(data, dict) or "concept_dict" not in data:
        raise ConfigError(f"{path}: not a RAP database (no 'concept_dict')")
    try:
        return _Database.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"{path}: {where}: {first['msg']}") from exc


def _file_name(key: str, ext: str, used: set[str]) -> str:
    """A file name made only of word characters and ``-``, unique within the export.

    Keys come from the store, which may hold names typed by anyone (``../x`` included):
    they are never used as paths as they are.
    """
    stem = re.sub(r"[^\w-]+", "_", key).strip("_") or "concept"
    name, n = f"{stem}.{ext}", 1
    while name in used:
        name, n = f"{stem}_{n}.{ext}", n + 1
    used.add(name)
    return name


def _as_list(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _resolve(database_json: Path, image: str) -> Path:
    """The photo ``image`` names, which must lie inside the database's folder (or the
    folder above it, RAP's layout); absolute paths and ``..`` escapes are refused."""
    top = database_json.parent.parent.resolve()
    if Path(image).is_absolute() or "\x00" in image:
        raise ConfigError(f"{database_json}: image path must be relative: {image}")
    for base in (database_json.parent.parent, database_json.parent):
        candidate = (base / image).resolve()
        if not candidate.is_relative_to(top):
            raise ConfigError(f"{database_json}: image path leaves the database folder: {image}")
        if candidate.is_file():
            return candidate
    fallback = database_json.parent / Path(image).name
    if fallback.is_file():
        return fallback
    raise ConfigError(f"{database_json}: image not found: {image}")
