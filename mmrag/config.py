"""Pipeline configuration: pydantic models (``extra="forbid"``) loaded from YAML.

A pipeline names one backend per model seam plus the settings of each stage. The same
models validate ``pipelines/*.yaml``, Python dicts and CLI overrides, so a typo in any of
them is an error that names the setting, never a silently ignored key.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    model_validator,
)

from mmrag.errors import ConfigError
from mmrag.generate.templates import PromptTemplates
from mmrag.models.crop import croppers
from mmrag.models.image_embed import image_embedders
from mmrag.models.mllm import mllms
from mmrag.models.ocr import ocr_engines
from mmrag.models.relevance import relevancy_scorers
from mmrag.models.summarize import image_summarizers
from mmrag.models.text_embed import text_embedders
from mmrag.registry import BackendConfig

DEFAULT_PIPELINE = "default"

TextEmbedderConfig = Annotated[SerializeAsAny[BackendConfig], BeforeValidator(text_embedders.parse)]
ImageEmbedderConfig = Annotated[
    SerializeAsAny[BackendConfig], BeforeValidator(image_embedders.parse)
]
OcrConfig = Annotated[SerializeAsAny[BackendConfig], BeforeValidator(ocr_engines.parse)]
ScorerConfig = Annotated[SerializeAsAny[BackendConfig], BeforeValidator(relevancy_scorers.parse)]
CropperConfig = Annotated[SerializeAsAny[BackendConfig], BeforeValidator(croppers.parse)]
MLLMConfig = Annotated[SerializeAsAny[BackendConfig], BeforeValidator(mllms.parse)]
SummarizerConfig = Annotated[
    SerializeAsAny[BackendConfig], BeforeValidator(image_summarizers.parse)
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChunkingConfig(_Section):
    #: Tokens per chunk; ``None`` uses the text embedder's whole window, never more.
    chunk_tokens: int | None = Field(default=None, gt=16)
    overlap_tokens: int = Field(default=24, ge=0)


class IngestConfig(_Section):
    #: Images whose shorter side is below this many pixels are icons or decoration.
    min_image_side: int = Field(default=100, ge=1)
    #: Images with more pixels are refused (decompression bombs, absurd scans).
    max_image_pixels: int = Field(default=150_000_000, ge=1)
    #: Images are stored inside the store, downscaled to this longest side.
    stored_image_max_side: int = Field(default=1600, ge=64)
    #: PDF pages with fewer native text characters are treated as scans: rendered and OCR'd.
    scan_text_chars: int = Field(default=50, ge=0)
    render_dpi: int = Field(default=150, ge=36, le=600)
    #: Run OCR on extracted images (charts, slides, photos of text).
    ocr_images: bool = True
    #: PDFs whose structure PyMuPDF had to repair (truncated downloads, broken xref
    #: tables) may silently miss pages; they are refused unless this is set.
    accept_repaired_pdfs: bool = False
    #: Files are written to the store in groups of about this many pages + images; each
    #: group is one atomic commit, so an interrupted ingest loses at most one group of work.
    commit_every: int = Field(default=64, ge=1)
    #: Images a Markdown/HTML file links to are not read beyond this size (MB).
    max_linked_file_mb: float = Field(default=64.0, gt=0)


#: Ingest settings added after stores existed; see ``PipelineConfig.ingest_fingerprint``.
_LATER_INGEST_LIMITS = ("max_linked_file_mb",)


class AdaptiveKConfig(_Section):
    """Keep the candidates worth their place: at least ``k_min``, at most ``k_max``
    (Mortaheb et al.: *up to* k, not always k). See :mod:`mmrag.retrieve.selection`."""

    enabled: bool = True
    #: ``marginal``: keep an item while the chance that it is the first relevant one
    #: reaches ``tau``. ``threshold``: keep items whose score reaches ``tau`` (and
    #: ``relative`` times the best score).
    rule: Literal["marginal", "threshold"] = "marginal"
    tau: float = Field(default=0.02343, ge=0.0, le=1.0)
    #: ``threshold`` rule only: share of the best score an item must reach.
    relative: float = Field(default=0.0, ge=0.0, le=1.0)
    k_min: int = Field(default=1, ge=0)
    k_max: int = Field(default=10, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _older_files_meant_threshold(cls, data: Any) -> Any:
        """Pipelines tuned before the marginal rule name ``relative`` but no ``rule``: their
        tau is a score threshold, so read them that way."""
        if isinstance(data, dict) and "relative" in data and "rule" not in data:
            return {**data, "rule": "threshold"}
        return data


class RerankConfig(_Section):
    """An MLLM re-ranks the kept items by P("Yes") to "is this relevant?" (MM-Embed)."""

    enabled: bool = False
    #: The judging model; ``None`` uses the pipeline's generator.
    judge: dict[str, object] | None = None
    #: How many of the best items it re-ranks (each costs one model call, cached).
    top_n: int = Field(default=10, ge=1)
    #: Items judged at once: concurrent requests to a judge behind a server, one padded
    #: batch for a transformers model; llama.cpp judges one item after another.
    batch_size: int = Field(default=8, ge=1)


class RetrievalConfig(_Section):
    #: Items returned when adaptive k is off or a fixed k is asked for.
    k: int = Field(default=5, ge=1)
    #: Candidates fetched from each retriever before fusion.
    candidates: int = Field(default=50, ge=1)
    #: Reciprocal-rank-fusion constant (60 in Cormack et al.).
    rrf_k: int = Field(default=60, ge=1)
    #: Per-retriever weights in rank fusion. Text has two lists (vector and BM25) where a
    #: query image has one; weighting that one 2 gives the two modalities equal say.
    weights: dict[str, float] = Field(
        default_factory=lambda: {
            "text_vector": 1.0,
            "full_text": 1.0,
            "image_vector": 2.0,
            "text_image": 1.0,
        }
    )
    #: Relevancy score per candidate in [0, 1]; ``None`` ranks by fusion alone.
    scorer: ScorerConfig | None = Field(
        default_factory=lambda: relevancy_scorers.parse({"type": "calibrated"})
    )
    #: How many fused candidates the scorer sees (cross-encoders and judges are slow).
    score_top: int = Field(default=100, ge=1)
    #: At most this many items from one page (0: no limit): the context covers more pages.
    max_per_page: int = Field(default=1, ge=0)
    #: A chart or image in the context brings its page's best text along (its caption).
    page_neighbours: bool = True
    adaptive: AdaptiveKConfig = Field(default_factory=AdaptiveKConfig)
    rerank: RerankConfig = Field(default_factory=RerankConfig)


class ExtractiveConfig(_Section):
    """How the extractive answerer scores candidate sentences and table rows.

    A candidate's score is a logistic function of signals that do not depend on the
    corpus (see :mod:`mmrag.generate.extractive`); it is quoted when the score reaches
    ``bar``. Weights and bar were fitted on half of MMLongBench-Doc dev (documents split
    by name) and checked on the other half: ``benchmarks/extractive.py``.
    """

    #: Fitted on half A of MMLongBench-Doc dev (whole pages read: 39,565 candidates, 305
    #: holding the gold): weights rank a question's
    #: candidates (the kind of thing asked for and the retrieval rank weigh most; restating
    #: the question counts against), then scale and bias make the best one's score the
    #: chance that the quotes hold the gold.
    weights: dict[str, float] = Field(
        default_factory=lambda: {
            "coverage": 0.8645,
            "similarity": 0.0,
            "type_match": 1.509,
            "novelty": -0.3704,
            "retrieval": 0.7423,
            "in_ranked_chunk": 0.541,
            "similarity_gap": 0.0,
            "length": 0.5798,
        }
    )
    bias: float = -5.8626
    #: Quote candidates whose score reaches this; refuse when none does. Quotes are never
    #: more likely right than wrong on MMLongBench, so this bar is the lowest at which half
    #: A's unanswerable questions are refused at least 60% of the time (65% on half B).
    bar: float = Field(default=0.1414, ge=0.0, le=1.0)
    #: Most passages quoted in one answer (more would reward quoting everything).
    max_quotes: int = Field(default=2, ge=1)
    #: Read the whole page of each retrieved text item, not only the chunk retrieval
    #: ranked: the answering sentence is often in the page's next chunk.
    whole_pages: bool = True


class GenerationConfig(_Section):
    #: ``generate``: a model writes the answer. ``extractive``: the answer quotes the
    #: context's sentences or table rows that best answer the question, or refuses; no
    #: model is called, so it cannot reason or combine facts, but it cannot invent either.
    answerer: Literal["extractive", "generate"] = "generate"
    max_tokens: int = Field(default=256, ge=1)
    temperature: float = Field(default=0.0, ge=0.0)
    seed: int | None = 0
    #: Retrieved items the generator sees, best first.
    context_items: int = Field(default=5, ge=0)
    #: Longer context items are cut at a word boundary (small models have small windows).
    max_item_chars: int = Field(default=1500, ge=50)
    #: Refuse without calling the model when no context item's text-vector similarity to
    #: the question reaches this (0 disables). Cheap protection against off-topic questions.
    min_similarity: float = Field(default=0.0, ge=0.0, le=1.0)
    #: Turn generated answers the context does not support into refusals (for small
    #: models that answer from memory). ``overlap``: numbers, and one added word, appear
    #: somewhere in the cited items. ``claims``: each key claim (number, name, option) sits
    #: in a sentence or row of the cited items that also holds the question's key terms.
    support_check: Literal["off", "overlap", "claims"] = "off"
    templates: PromptTemplates = Field(default_factory=PromptTemplates)
    extractive: ExtractiveConfig = Field(default_factory=ExtractiveConfig)

    @model_validator(mode="before")
    @classmethod
    def _require_support_was_overlap(cls, data: Any) -> Any:
        """Pipelines (and stores) written before ``support_check`` say ``require_support``:
        true meant today's ``overlap`` check, so they keep exactly that behaviour."""
        if isinstance(data, dict) and "require_support" in data:
            data = dict(data)
            required = data.pop("require_support")
            if "support_check" not in data:
                data["support_check"] = "overlap" if required else "off"
        return data


class MemoryConfig(_Section):
    """Personal concepts: how photos are recognised and how many reach the prompt."""

    #: Whole image plus centre and quadrant crops: top-1 0.957 -> 1.0 on DreamBooth (1 photo).
    cropper: CropperConfig = Field(default_factory=lambda: croppers.parse({"type": "multi-crop"}))
    #: With ``recognition: fixed``: the image similarity at which mmrag claims a photo
    #: shows one of the user's concepts; below it, no concept is claimed. With EfficientNet
    #: features and multi-crop on DreamBooth (benchmarks/personal.py): 0.65 claims 61% (1
    #: photo enrolled) to 70% (2 photos) of the user's own things, never a wrong one, and
    #: 0-5% of look-alikes that were never enrolled.
    recognition_threshold: float = Field(default=0.65, ge=-1.0, le=1.0)
    #: How the claim floor is set: ``calibrated`` per concept from the user's own photos
    #: (the best similarity a photo that is *not* the concept — another concept's or a
    #: generic one — reaches against its photos, plus ``recognition_margin``; it rises
    #: with the photo count as the query's best-of does), or ``fixed`` at
    #: ``recognition_threshold``. See mmrag/memory/recognition.py.
    recognition: Literal["calibrated", "fixed"] = "calibrated"
    #: How far above its null a concept's similarity must be to be claimed (calibrated).
    #: 0.13 was fitted on half of the DreamBooth subjects (each left out in turn as the
    #: never-enrolled one; the most claims with <= 5% false claims, 1 and 2 photos) and on
    #: the other half claims 85% (1 photo) / 83% (2) of the user's own things with 12% /
    #: 15% false claims — fixed 0.65 there: 50% / 66% with 2% / 4%. Neither reaches the
    #: goal (>= 90% claimed with <= 5% false): the null only knows the user's own things.
    recognition_margin: float = Field(default=0.13, ge=-1.0, le=1.0)
    #: With several photos, a concept also needs this share of the way from its null up to
    #: how alike its own photos are (0 = off). 0.8 keeps the RAP dog <bo> from claiming
    #: other dogs as more photos are enrolled (balanced accuracy 0.86 -> 0.95 with 2
    #: photos, 0.84 -> 1.0 with 5; chosen on that dev set, so in-sample), at a cost on
    #: DreamBooth 2-photo claims (83% -> 77%, held-out half).
    recognition_self_weight: float = Field(default=0.8, ge=0.0, le=1.0)
    max_in_prompt: int = Field(default=3, ge=0)


class PipelineConfig(_Section):
    """Everything that decides how documents are indexed and searched."""

    name: str = DEFAULT_PIPELINE
    description: str = ""
    text_embedder: TextEmbedderConfig = Field(
        default_factory=lambda: text_embedders.parse({"type": "sentence-transformers"})
    )
    #: A second text embedder whose similarity to the query enters the relevancy score
    #: (features ``second_*``); its vectors are stored at ingest beside the first's, so a
    #: query embeds once more and reads the candidates' vectors instead of embedding them.
    #: It does not find candidates: the first embedder and BM25 do.
    second_embedder: TextEmbedderConfig | None = None
    #: Store each text chunk's token vectors (from ``text_embedder``, 8-bit) at ingest, and
    #: give the relevancy score their late-interaction similarity to the query's (features
    #: ``late_*``; :mod:`mmrag.models.relevance.late_interaction`). 35 KB a chunk.
    late_interaction: bool = False
    image_embedder: ImageEmbedderConfig | None = Field(
        default_factory=lambda: image_embedders.parse({"type": "efficientnet-lite0"})
    )
    ocr: OcrConfig | None = Field(default_factory=lambda: ocr_engines.parse({"type": "rapidocr"}))
    summarizer: SummarizerConfig | None = Field(
        default_factory=lambda: image_summarizers.parse({"type": "ocr-tags"})
    )
    chunking: ChunkingConfig = Field(default_factory=ChunkingConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)
    generator: MLLMConfig | None = Field(default_factory=lambda: mllms.parse({"type": "llama-cpp"}))
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    memory: MemoryConfig = Field(default_factory=MemoryConfig)

    def ingest_fingerprint(self) -> str:
        """Hash of the settings that shape stored nodes; a change re-ingests files."""
        keys = ("text_embedder", "image_embedder", "ocr", "summarizer", "chunking", "ingest")
        payload = self.model_dump(mode="json", include=set(keys))
        if self.second_embedder is not None:  # absent: the fingerprint of stores before it
            payload["second_embedder"] = self.second_embedder.model_dump(mode="json")
        if self.late_interaction:  # likewise
            payload["late_interaction"] = True
        payload["ingest"].pop("commit_every", None)
        # Limits added later count only once changed: upgrading must not re-ingest a store.
        for key in _LATER_INGEST_LIMITS:
            if payload["ingest"].get(key) == IngestConfig.model_fields[key].default:
                payload["ingest"].pop(key)
        blob = json.dumps(payload, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, origin: str = "pipeline") -> PipelineConfig:
        try:
            return cls.model_validate(data)
        except ConfigError as exc:
            raise ConfigError(f"{origin}: {exc}") from exc
        except ValidationError as exc:
            raise ConfigError(f"{origin}: {_describe(exc)}") from exc


def load_pipeline(name_or_path: str | Path | None = None) -> PipelineConfig:
    """Load a pipeline by name (``default``, a file in ``pipelines/``) or by YAML path.

    Example::

        cfg = load_pipeline("default")
        cfg = load_pipeline("my-pipelines/clip.yaml")
    """
    if name_or_path is None:
        name_or_path = DEFAULT_PIPELINE
    path = _find_pipeline(str(name_or_path))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read pipeline file: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a pipeline file must hold a mapping of settings")
    data.setdefault("name", path.stem)
    return PipelineConfig.from_dict(data, origin=str(path))


def available_pipelines() -> dict[str, Path]:
    """Named pipelines shipped with mmrag (name -> file)."""
    found: dict[str, Path] = {}
    for folder in _pipeline_dirs():
        for file in sorted(folder.glob("*.yaml")):
            found.setdefault(file.stem, file)
    return found


def _find_pipeline(name_or_path: str) -> Path:
    candidate = Path(name_or_path).expanduser()
    if candidate.suffix in {".yaml", ".yml"} or candidate.exists():
        if not candidate.is_file():
            raise ConfigError(f"pipeline file not found: {candidate}")
        return candidate
    named = available_pipelines()
    if name_or_path in named:
        return named[name_or_path]
    known = ", ".join(sorted(named)) or "none installed"
    raise ConfigError(f"unknown pipeline '{name_or_path}' (known: {known}; or give a YAML path)")


def _pipeline_dirs() -> list[Path]:
    dirs = [Path.cwd() / "pipelines"]
    packaged = Path(str(resources.files("mmrag"))) / "_pipelines"
    dirs.append(packaged)
    # Source checkouts and editable installs keep them next to the package.
    dirs.append(Path(__file__).resolve().parent.parent / "pipelines")
    return [d for d in dirs if d.is_dir()]


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err["loc"]) or "pipeline"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)
