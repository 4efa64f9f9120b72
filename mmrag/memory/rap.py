"""RAP's concept database (``database.json``): import and export, as RAP writes it.

::

    {"concept_dict": {"<bo>": {"name": "bo", "image": "example_database/bo.png",
                               "info": "<bo> is a ... Shiba Inu ...", "category": "dog"}},
     "path_to_concept": {"example_database/bo.png": "<bo>"}}

``image`` may be one path or a list; paths are relative to the folder *above* the JSON
file (RAP's ``example_database/`` prefix), or to the JSON's own folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mmrag.errors import ConfigError
from mmrag.memory.memories import Memories
from mmrag.memory.names import normalise


def import_rap(
    memories: Memories, database_json: str | Path, *, replace: bool = False
) -> list[str]:
    """Add every concept of a RAP database to the user's memories; returns their names.

    Existing concepts are left alone unless ``replace`` (then they are edited in place).
    """
    path = Path(database_json)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read RAP database {path}: {exc}") from exc
    concepts = data.get("concept_dict") if isinstance(data, dict) else None
    if not isinstance(concepts, dict):
        raise ConfigError(f"{path}: not a RAP database (no 'concept_dict')")
    existing = {m.key for m in memories.list()}
    added = []
    for label, concept in concepts.items():
        name = str(concept.get("name") or label)
        photos = [_resolve(path, p) for p in _as_list(concept.get("image"))]
        info, category = str(concept.get("info") or ""), str(concept.get("category") or "")
        if normalise(name) in existing:
            if not replace:
                continue
            current = memories.show(name)
            memories.edit(
                name,
                info=info,
                category=category,
                remove_photos=current.photo_ids,
                add_photos=photos,
            )
        else:
            memories.add(name, photos=photos, info=info, category=category)
        added.append(f"<{normalise(name)}>")
    return added


def export_rap(memories: Memories, folder: str | Path) -> Path:
    """Write ``database.json`` plus the photos into ``folder`` in RAP's layout."""
    root = Path(folder)
    images = root / "example_database"
    images.mkdir(parents=True, exist_ok=True)
    concept_dict: dict[str, Any] = {}
    path_to_concept: dict[str, str] = {}
    for memory in memories.list():
        files = []
        for index, photo_id in enumerate(memory.photo_ids):
            found = memories.photo(photo_id)
            if found is None:
                continue
            data, fmt = found
            stem = memory.key.replace(" ", "_") + ("" if index == 0 else f"_{index}")
            name = f"{stem}.{'jpg' if fmt == 'jpeg' else fmt}"
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
    out = root / "database.json"
    out.write_text(
        json.dumps(
            {"concept_dict": concept_dict, "path_to_concept": path_to_concept},
            indent=2,
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    return out


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _resolve(database_json: Path, image: str) -> Path:
    for base in (database_json.parent.parent, database_json.parent):
        candidate = base / image
        if candidate.is_file():
            return candidate
    fallback = database_json.parent / Path(image).name
    if fallback.is_file():
        return fallback
    raise ConfigError(f"{database_json}: image not found: {image}")
