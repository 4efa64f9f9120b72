"""Shared fixtures: tiny generated files, a tmp_path store, fast and real pipelines."""

from __future__ import annotations

import atexit
import io
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pymupdf
import pytest
from PIL import Image, ImageDraw, ImageFont

from mmrag import RAG
from mmrag.config import PipelineConfig
from mmrag.evaluate.dataset import Evidence, Example
from mmrag.retrieve.tuning import LabelledQuery, collect

# Tests never reach a model hub: a missing model must fail at once, not after retries.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# The query embedder's ONNX export goes to a cache of the test session's own, not the
# user's ~/.cache (tests of the export itself use one per test).
if "MMRAG_CACHE_DIR" not in os.environ:
    os.environ["MMRAG_CACHE_DIR"] = tempfile.mkdtemp(prefix="mmrag-test-cache-")
    atexit.register(shutil.rmtree, os.environ["MMRAG_CACHE_DIR"], ignore_errors=True)

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def fast_pipeline(**overrides: object) -> PipelineConfig:
    """Model-free pipeline: hashing text embedder, no OCR, no image models. Instant."""
    data: dict[str, object] = {
        "name": "test-fast",
        "text_embedder": {"type": "hashing", "dim": 64, "max_tokens": 64},
        "image_embedder": None,
        "ocr": None,
        "summarizer": None,
        "chunking": {"overlap_tokens": 8},
    }
    data.update(overrides)
    return PipelineConfig.from_dict(data)


@pytest.fixture
def fast_rag(tmp_path: Path) -> RAG:
    return RAG.open(tmp_path / "store", pipeline=fast_pipeline())


@pytest.fixture
def fast_yaml(tmp_path: Path) -> Path:
    """:func:`fast_pipeline` as a YAML file, for the CLI's ``--pipeline``."""
    path = tmp_path / "fast.yaml"
    path.write_text(
        "text_embedder: {type: hashing, dim: 64, max_tokens: 64}\n"
        "image_embedder: null\nocr: null\nsummarizer: null\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="session")
def default_pipeline() -> PipelineConfig:
    """The real offline default (MiniLM, RapidOCR, EfficientNet): loads once per session."""
    from mmrag.config import load_pipeline

    return load_pipeline("default")


def text_image(text: str, size: tuple[int, int] = (640, 200), font_size: int = 36) -> Image.Image:
    """White image with black text: something OCR can read."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=font_size)
    y = 20
    for line in text.split("\n"):
        draw.text((20, y), line, fill="black", font=font)
        y += int(font_size * 1.4)
    return image


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


#: Enough native text that a page is never mistaken for a scan (scan_text_chars is 50).
LONG = "This page carries plenty of native text, so the loader never treats it as a scan."


def make_pdf(
    path: Path,
    pages: list[str],
    *,
    images: dict[int, Image.Image] | None = None,
    scanned: dict[int, str] | None = None,
) -> Path:
    """A PDF with one text page per entry of ``pages``.

    ``images`` puts a picture on a page (0-based); ``scanned`` makes a page image-only,
    its text rendered into pixels so that only OCR can read it.
    """
    doc = pymupdf.open()
    for i, text in enumerate(pages):
        page = doc.new_page(width=595, height=842)
        if scanned and i in scanned:
            picture = text_image(scanned[i], size=(1190, 1684), font_size=40)
            page.insert_image(page.rect, stream=png_bytes(picture))
            continue
        if text:
            page.insert_textbox(pymupdf.Rect(50, 50, 545, 400), text, fontsize=11)
        if images and i in images:
            page.insert_image(pymupdf.Rect(50, 420, 545, 800), stream=png_bytes(images[i]))
    doc.save(path)
    doc.close()
    return path


#: birds.pdf, one bird a page: what the relevancy features' tests retrieve from.
BIRD_PAGES = ["The heron waits in the reeds.", "The wren sings at dawn.", "Kites ride the wind."]


def birds_rag(tmp_path: Path, **pipeline: object) -> RAG:
    """A store of birds.pdf, ingested with ``fast_pipeline(**pipeline)``."""
    (tmp_path / "docs").mkdir()
    make_pdf(tmp_path / "docs" / "birds.pdf", BIRD_PAGES)
    rag = RAG.open(tmp_path / "store", pipeline=fast_pipeline(**pipeline))
    rag.ingest([tmp_path / "docs"])
    return rag


def bird_questions(rag: RAG) -> list[LabelledQuery]:
    """One question a page of birds.pdf (its gold page), collected for tuning."""
    examples = [
        Example(id=f"q{i}", question=q, evidence=[Evidence(source="birds.pdf", pages=(i + 1,))])
        for i, q in enumerate(["heron reeds", "wren dawn", "kites wind"])
    ]
    return collect(rag.retriever, examples)


@pytest.fixture
def make_corpus(tmp_path: Path) -> Callable[..., Path]:
    """A folder with one file of each supported kind."""

    def build(name: str = "corpus") -> Path:
        root = tmp_path / name
        (root / "img").mkdir(parents=True)
        make_pdf(
            root / "report.pdf",
            [
                "Zebrafish migration patterns in the northern delta.",
                "Budget for lighthouse repairs.",
            ],
        )
        text_image("HARBOUR MAP").save(root / "img" / "harbour.png")
        (root / "guide.md").write_text(
            "# Guide\n\nThe quokka lives on Rottnest Island.\n\n![harbour map](img/harbour.png)\n",
            encoding="utf-8",
        )
        (root / "page.html").write_text(
            "<html><head><title>Walrus facts</title><script>var x=1;</script></head>"
            "<body><p>Walruses use their tusks to haul out onto ice.</p></body></html>",
            encoding="utf-8",
        )
        (root / "notes.txt").write_text("Axolotls regrow their limbs.", encoding="utf-8")
        return root

    return build


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No hub requests: the hub client reads HF_HUB_OFFLINE once, at import."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


#: Paths opened while a test audits with the ``opened`` fixture. An audit hook cannot be
#: removed, so one is installed for the whole session and records only while asked to.
_OPENED: list[str] | None = None


def _audit(event: str, args: tuple[object, ...]) -> None:
    if _OPENED is not None and event == "open" and args and isinstance(args[0], str | bytes):
        _OPENED.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)


@pytest.fixture
def opened() -> Iterator[list[str]]:
    """Every path the process opens during the test (proof that a file was never read)."""
    global _OPENED
    _OPENED = []
    try:
        yield _OPENED
    finally:
        _OPENED = None
