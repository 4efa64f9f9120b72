"""Which pipeline a store was built with, and whether another one can use it.

A store records its pipeline in its metadata: the whole configuration (so later edits to
generation settings can apply and a store opened without ``--pipeline`` keeps its own),
and, once, the embedders that wrote its vectors. A pipeline whose embedders differ would
write vectors that cannot be compared with the stored ones, so it is refused.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from mmrag.components import Components
from mmrag.config import PipelineConfig, load_pipeline
from mmrag.errors import MmragError, StoreError

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
#: Pipeline parts whose change makes stored vectors incomparable with new ones.
VECTOR_KEYS = ("text_embedder", "second_embedder", "image_embedder")


def pipeline_record(
    config: PipelineConfig, components: Components, source: str | None, *, first: bool
) -> dict[str, Any]:
    """The metadata a store keeps about ``config``; ``first`` (a new store) adds its
    schema version, creation time and the embedders (names and dimensions)."""
    record: dict[str, Any] = {
        "pipeline": config.model_dump(mode="json"),
        "pipeline_source": source,
    }
    if first:
        text, second, image = (
            components.text_embedder,
            components.second_embedder,
            components.image_embedder,
        )
        record |= {
            "schema_version": SCHEMA_VERSION,
            "created_at": datetime.now(UTC).isoformat(),
            "text_embedder": text.name,
            "text_dim": text.dim,
            "second_embedder": second.name if second else None,
            "second_dim": second.dim if second else None,
            "image_embedder": image.name if image else None,
            "image_dim": image.dim if image else None,
        }
    return record


def stored_pipeline(uri: str, stored: Any, source: str | None) -> PipelineConfig:
    """The pipeline a store was built with: its current named/YAML version when that still
    fits the stored vectors (so edits to generation settings apply), else the stored copy."""
    if not stored:
        return load_pipeline(source)
    if source:
        try:
            current = load_pipeline(source)
            check_compatible(uri, stored, current)
            return current
        except MmragError as exc:
            logger.warning("using the pipeline stored in %s: %s", uri, exc)
    return PipelineConfig.from_dict(stored, origin=f"{uri} (stored pipeline)")


def check_compatible(uri: str, stored: dict[str, Any], config: PipelineConfig) -> None:
    current = config.model_dump(mode="json")
    # Token vectors are stored for every chunk or for none (absent: a store before them).
    if bool(stored.get("late_interaction")) != config.late_interaction:
        raise StoreError(
            f"store {uri} was built with late_interaction "
            f"{bool(stored.get('late_interaction'))}, but pipeline '{config.name}' has "
            f"{config.late_interaction}; a store keeps token vectors for all its chunks or "
            "none. Use another --store for this pipeline."
        )
    for key in VECTOR_KEYS:
        backend = getattr(config, key)
        query_only = backend.query_only_settings if backend is not None else frozenset()
        if _without(stored.get(key), query_only) != _without(current.get(key), query_only):
            raise StoreError(
                f"store {uri} was built with {key} {stored.get(key)}, but pipeline "
                f"'{config.name}' uses {current.get(key)}; their vectors cannot be mixed. "
                "Use another --store for this pipeline."
            )


def _without(settings: Any, names: frozenset[str]) -> Any:
    if not isinstance(settings, dict):
        return settings
    return {k: v for k, v in settings.items() if k not in names}
