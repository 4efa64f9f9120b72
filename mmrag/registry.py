"""Registries of backends, one per model seam, filled by ``@registry.register("name")``.

A backend is a class constructed from its own pydantic config class (``extra="forbid"``),
whose ``type`` field names it. Third-party packages add backends through the entry-point
group ``mmrag.<seam>`` (each entry point names a module to import, whose import registers
the backends). Instances are cached per config so that a pipeline which uses the same
model for two roles loads it once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from mmrag.errors import ConfigError

logger = logging.getLogger(__name__)

T = TypeVar("T")
B = TypeVar("B")


class BackendConfig(BaseModel):
    """Base of every backend config: ``type`` picks the registered backend."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Settings that change how a query is computed, not what an embedder stores: a
    #: store opens under any value of these (mmrag.api compares the rest).
    query_only_settings: ClassVar[frozenset[str]] = frozenset()

    type: str


class Registry(Generic[T]):
    """Maps backend names to (config class, backend class) for one seam."""

    def __init__(self, seam: str) -> None:
        self.seam = seam
        self._entries: dict[str, tuple[type[BackendConfig], Callable[[Any], T]]] = {}
        self._instances: dict[str, T] = {}
        self._plugins_loaded = False

    def register(self, name: str, config: type[BackendConfig]) -> Callable[[B], B]:
        """Class decorator registering a backend under ``name`` with its config class."""

        def decorate(cls: B) -> B:
            if name in self._entries:
                raise ValueError(f"{self.seam} backend '{name}' is registered twice")
            self._entries[name] = (config, cls)  # type: ignore[assignment]
            return cls

        return decorate

    def names(self) -> list[str]:
        self._load_plugins()
        return sorted(self._entries)

    def parse(self, data: Any) -> BackendConfig:
        """Validate a config dict (or an existing config) against its backend's model."""
        if isinstance(data, BackendConfig):
            return data
        if isinstance(data, str):
            data = {"type": data}
        if not isinstance(data, dict) or "type" not in data:
            raise ConfigError(f"{self.seam}: expected a mapping with a 'type' key, got {data!r}")
        config_cls, _ = self._entry(str(data["type"]))
        try:
            return config_cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"{self.seam} '{data['type']}': {_first_error(exc)}") from exc

    def create(self, config: BackendConfig) -> T:
        """The backend for ``config``; one shared instance per distinct config."""
        key = config.model_dump_json()
        if key not in self._instances:
            _, factory = self._entry(config.type)
            self._instances[key] = factory(config)
        return self._instances[key]

    def _entry(self, name: str) -> tuple[type[BackendConfig], Callable[[Any], T]]:
        if name not in self._entries:
            self._load_plugins()
        if name not in self._entries:
            known = ", ".join(sorted(self._entries)) or "none"
            raise ConfigError(f"unknown {self.seam} type '{name}' (known: {known})")
        return self._entries[name]

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for ep in entry_points(group=f"mmrag.{self.seam}"):
            try:
                ep.load()
            except Exception as exc:  # a broken plugin must not break the built-ins
                logger.warning("could not load %s plugin %s: %s", self.seam, ep.name, exc)


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "config"
    return f"{where}: {err['msg']}"
