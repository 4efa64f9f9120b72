"""Is a backend's model here already, or would it come from the Hugging Face hub?

Answered from the file system alone (a local path, or a snapshot in the local Hugging
Face cache), never with a network call: on a machine that cannot reach the hub, asking it
is exactly what hangs for minutes.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from mmrag.registry import BackendConfig

#: Backend type -> the config field that names a hub model (or a local directory).
_HUB_MODEL_FIELDS = {
    "sentence-transformers": "model",
    "cross-encoder": "model",
    "transformers": "model",
    "transformers-clip": "model",
}
#: Short names sentence-transformers resolves under its own organisation on the hub.
_SHORT_NAME_ORG = {
    "sentence-transformers": "sentence-transformers",
    "cross-encoder": "cross-encoder",
}


def hub_cache_dir() -> Path:
    """Where huggingface_hub keeps downloaded models (its own setting when installed)."""
    try:
        from huggingface_hub import constants

        return Path(constants.HF_HUB_CACHE)
    except ImportError:
        pass
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "huggingface"
    )
    return Path(home) / "hub"


def is_cached(repo_id: str, cache: Path | None = None) -> bool:
    """True when a snapshot of ``repo_id`` with at least one file is in the hub cache."""
    folder = (cache or hub_cache_dir()) / f"models--{repo_id.replace('/', '--')}" / "snapshots"
    if not folder.is_dir():
        return False
    return any(any(snapshot.iterdir()) for snapshot in folder.iterdir() if snapshot.is_dir())


def hub_model_problem(backend: BackendConfig) -> str | None:
    """Why ``backend``'s model cannot load without a download, or None when it can."""
    if backend.type == "open-clip":
        return _open_clip_problem(backend)
    field = _HUB_MODEL_FIELDS.get(backend.type)
    if field is None:
        return None
    model = str(getattr(backend, field, "") or "")
    if not model or _is_bundled(backend.type, model) or Path(model).expanduser().exists():
        return None
    candidates = [model]
    org = _SHORT_NAME_ORG.get(backend.type)
    if org and "/" not in model:
        candidates.append(f"{org}/{model}")
    cache = hub_cache_dir()
    if any(is_cached(repo, cache) for repo in candidates):
        return None
    return (
        f"model '{model}' is neither a local directory nor in the Hugging Face cache "
        f"({cache}), so it would be downloaded from the hub on first use. Download it "
        f"where the hub is reachable (hf download {candidates[-1]}) or set `{field}:` to a "
        "local directory"
    )


def _open_clip_problem(backend: BackendConfig) -> str | None:
    pretrained = str(getattr(backend, "pretrained", "") or "")
    if not pretrained or Path(pretrained).expanduser().is_file():
        return None
    repo = _open_clip_repo(str(getattr(backend, "model", "")), pretrained)
    if repo is None or is_cached(repo):
        return None
    return (
        f"open_clip weights '{pretrained}' are not in the Hugging Face cache "
        f"({hub_cache_dir()}), so they would be downloaded from the hub on first use. "
        f"Download them where the hub is reachable (hf download {repo}) or set "
        "`pretrained:` to a checkpoint file"
    )


def _is_bundled(backend_type: str, model: str) -> bool:
    if backend_type != "sentence-transformers":
        return False
    from mmrag.models.text_embed.sentence_transformers import _BUNDLED_MINILM

    return model.lower() in _BUNDLED_MINILM


def _open_clip_repo(model: str, pretrained: str) -> str | None:
    """The hub repository open_clip would fetch ``pretrained`` from, when it says."""
    try:
        pretrained_cfgs = importlib.import_module("open_clip.pretrained")
    except Exception:  # open_clip missing, or its torchvision import broken: checked elsewhere
        return None
    cfg = pretrained_cfgs.get_pretrained_cfg(model, pretrained) or {}
    hub = str(cfg.get("hf_hub") or "").strip("/")
    return hub or None
