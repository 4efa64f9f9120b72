"""One query at a time through ONNX Runtime, for a sentence-transformers embedder.

Why: a retrieval embeds its query while BM25 and the document search run on worker
threads. Torch runs MiniLM's forward as hundreds of Python-level module calls, each of
which needs the GIL those threads also want; ONNX Runtime runs the whole graph without
it. On the dev store (MMLongBench-Doc, `benchmarks/retrieval.py --only latency`) the median
retrieve went from 35-39 ms with torch to 22.5-23 ms with ONNX Runtime, same run, and the
query vectors agree with torch float32 to cosine 1.0 (0.99998 with the bfloat16 ones).

sentence-transformers has an ONNX backend of its own, but it goes through optimum, whose
release pins transformers < 4.58. So mmrag exports only the model's transformer module
with ``torch.onnx`` (once per machine and model; the file is cached) and keeps
sentence-transformers' own tokenisation around it. Before a session is used, its
embedding of a probe sentence is checked against the torch model's: a model this export
does not reproduce stays on torch.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import tempfile
import warnings
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmrag.cache import default_cache_dir

logger = logging.getLogger(__name__)

#: Bump when the exported graph's inputs or outputs change, so old files are not reused.
_EXPORT_FORMAT = 1
_OPSET = 17
_PROBE = "How many users signed up in 2023, according to the annual report (page 4)?"
#: Largest difference allowed between the ONNX and the torch float32 embedding of the probe
#: (measured: ~1e-7; a wrong graph is off by far more).
_TOLERANCE = 1e-4


class OnnxQueryEncoder:
    """Embeds texts like ``model.encode_query`` would, with the transformer on ONNX Runtime."""

    def __init__(
        self,
        model: Any,
        session: Any,
        input_names: list[str],
        tokenizer_lock: AbstractContextManager[Any] | None = None,
    ) -> None:
        self._model = model
        self._session = session
        self._input_names = input_names
        self._numpy_mean = _plain_mean_pooling(model)
        # The tokenizer is the torch model's too, and a Hugging Face fast tokenizer used
        # from two threads at once can fail ("Already borrowed"); the session is
        # thread-safe, so only tokenising waits.
        self._tokenizer_lock = tokenizer_lock or nullcontext()

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.encode_with_tokens(texts)[0]

    def encode_with_tokens(self, texts: list[str]) -> tuple[np.ndarray, list[np.ndarray]]:
        """:meth:`encode`, and each text's token vectors from the same pass (what
        ``output_value="token_embeddings"`` gives, padding cut off, as float32)."""
        with self._tokenizer_lock:
            features = self._model.preprocess(texts)
        inputs = {name: features[name].numpy() for name in self._input_names}
        (tokens,) = self._session.run(None, inputs)
        lengths = inputs["attention_mask"].sum(axis=1)
        per_text = [t[: int(n)] for t, n in zip(tokens, lengths, strict=True)]
        return self._pooled(features, inputs, tokens), per_text

    def _pooled(
        self, features: dict[str, Any], inputs: dict[str, np.ndarray], tokens: np.ndarray
    ) -> np.ndarray:
        if self._numpy_mean:
            # Every torch op hands the GIL back and waits to take it again: beside a
            # thread busy in Python (the retrieval's searches run on such threads),
            # torch's three pooling ops took 134 ms where numpy takes 0.01.
            mask = inputs["attention_mask"][..., None].astype(np.float32)
            vectors = (tokens * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
        else:
            vectors = self._pooled_by_the_model(features, tokens)
        norms = np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return np.asarray(vectors / norms, dtype=np.float32)

    def _pooled_by_the_model(self, features: dict[str, Any], tokens: np.ndarray) -> np.ndarray:
        import torch

        features["token_embeddings"] = torch.from_numpy(tokens)
        with torch.inference_mode():
            for module in list(self._model)[1:]:
                features = module(features)
        return np.asarray(features["sentence_embedding"].float().numpy(), dtype=np.float32)


def _plain_mean_pooling(model: Any) -> bool:
    """Does the model end in a mean over its tokens (then, perhaps, a normalisation),
    as MiniLM does? Other poolings run the model's own modules."""
    rest = list(model)[1:]
    names = [type(m).__name__ for m in rest]
    if names not in (["Pooling"], ["Pooling", "Normalize"]):
        return False
    config = rest[0].get_config_dict()
    return bool(config.get("pooling_mode") == "mean" and config.get("include_prompt", True))


@dataclass(frozen=True)
class OnnxExport:
    """A model's transformer, exported to ONNX, and what a session of it is checked by.

    Exporting needs the model's float32 weights, so it happens when the model loads; a
    session (90 MB for MiniLM) is only opened for the first query, so processes that
    never embed one (an ingest, a Ray worker) do not hold it."""

    path: Path
    input_names: list[str]
    #: Torch's float32 embedding of the probe sentence.
    probe: np.ndarray

    def encoder(
        self, model: Any, tokenizer_lock: AbstractContextManager[Any] | None = None
    ) -> OnnxQueryEncoder:
        """A session of the export for ``model``, checked against the probe.

        ``tokenizer_lock`` is held while a query is tokenised: whatever else uses the
        model's tokenizer should hold it too. A file ONNX Runtime cannot load is removed,
        to be exported again by the next process that loads the model."""
        try:
            import onnxruntime
        except ImportError as exc:
            raise OnnxUnavailableError("onnxruntime is not installed") from exc
        try:
            session = _session(onnxruntime, self.path)
        except Exception as exc:  # a truncated or foreign file under the export's name
            self.path.unlink(missing_ok=True)
            raise OnnxUnavailableError(
                f"ONNX Runtime cannot load {self.path} ({exc}); removed, to be exported again"
            ) from exc
        encoder = OnnxQueryEncoder(model, session, self.input_names, tokenizer_lock)
        gap = float(np.abs(encoder.encode([_PROBE]) - self.probe).max())
        if gap > _TOLERANCE:
            raise OnnxUnavailableError(f"its ONNX embedding differs from torch's by {gap:.2g}")
        return encoder


def export_for_queries(model: Any, cache_dir: Path | None = None) -> OnnxExport:
    """Export ``model``'s transformer to ONNX, or find the export cached for these weights.

    Call it while ``model`` still holds its float32 weights. Raises
    :class:`OnnxUnavailableError` saying why when this model cannot run on ONNX Runtime.
    """
    if not _installed("onnxruntime"):
        raise OnnxUnavailableError("onnxruntime is not installed")
    _check_layout(model)
    import torch

    features = model.preprocess([_PROBE])
    inputs = {name: value for name, value in features.items() if isinstance(value, torch.Tensor)}
    path = (cache_dir or default_cache_dir()) / "onnx" / f"{_fingerprint(model)}.onnx"
    if not path.exists():
        _export(model, inputs, path)
    probe = model.encode_query(
        [_PROBE], convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
    )
    return OnnxExport(path, list(inputs), np.asarray(probe, dtype=np.float32))


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: a module set to None in sys.modules
        return False


def _session(onnxruntime: Any, path: Path) -> Any:
    options = onnxruntime.SessionOptions()
    # One query at a time, beside the searches on the other core (see the module doc).
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxUnavailableError(Exception):
    """This model cannot (or may not) run on ONNX Runtime; the message says why."""


def _check_layout(model: Any) -> None:
    modules = list(model)
    first = modules[0] if modules else None
    if first is None or not hasattr(first, "auto_model") or not hasattr(model, "preprocess"):
        raise OnnxUnavailableError("its first module is not a Hugging Face transformer")
    if getattr(first, "module_output_name", "token_embeddings") != "token_embeddings":
        raise OnnxUnavailableError("its transformer does not output token embeddings")
    if any((getattr(model, "prompts", None) or {}).values()):
        # encode_query would prepend a prompt; keep such models on sentence-transformers.
        raise OnnxUnavailableError("it has prompts")


def _fingerprint(model: Any) -> str:
    """Names the export by what it computes: the weights, the model's config, the export
    format and the torch that wrote it. Hashing 22M MiniLM weights takes ~0.1 s."""
    import torch

    digest = hashlib.sha256()
    first = model[0]
    header = {
        "format": _EXPORT_FORMAT,
        "opset": _OPSET,
        "torch": torch.__version__,
        "config": first.auto_model.config.to_json_string(use_diff=False),
    }
    digest.update(json.dumps(header, sort_keys=True).encode())
    for name, tensor in first.auto_model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().to(torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()[:32]


def _export(model: Any, example: dict[str, Any], path: Path) -> None:
    """Export the transformer, traced on ``example`` (the probe's tokenised tensors)."""
    try:
        import onnx  # noqa: F401  (torch.onnx writes the file through it)
        import torch
    except ImportError as exc:
        raise OnnxUnavailableError("the onnx package is not installed") from exc

    input_names = list(example)

    class Forward(torch.nn.Module):
        def __init__(self, transformer: torch.nn.Module) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            output = self.transformer(**dict(zip(input_names, tensors, strict=True)))
            hidden: torch.Tensor = output.last_hidden_state
            return hidden

    axes = {name: {0: "batch", 1: "tokens"} for name in [*input_names, "token_embeddings"]}
    # Written beside its final name and renamed: two processes exporting at once each
    # rename a whole file, and a crash leaves no half-written one under the final name.
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=path.parent, suffix=".partial")
    except OSError as exc:
        raise OnnxUnavailableError(
            f"its export cannot be written to {path.parent} ({exc}); set MMRAG_CACHE_DIR"
        ) from exc
    os.close(handle)
    try:
        # The exporter warns about tracing details of the model's Python code, which the
        # agreement check after loading covers.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Forward(model[0].auto_model).eval(),
                tuple(example.values()),
                partial,
                input_names=input_names,
                output_names=["token_embeddings"],
                dynamic_axes=axes,
                opset_version=_OPSET,
                dynamo=False,
            )
        Path(partial).replace(path)
    except Exception as exc:
        raise OnnxUnavailableError(f"exporting it to ONNX failed ({exc})") from exc
    finally:
        Path(partial).unlink(missing_ok=True)
    logger.info("exported the query embedder to %s", path)
