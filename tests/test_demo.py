"""The generated demo corpus: complete, deterministic, and each fact where the demo expects it."""

from __future__ import annotations

import io
from pathlib import Path

import pymupdf
import pytest
from PIL import Image

from mmrag.demo import DemoQuery, build_demo_corpus, demo_queries

EXPECTED_FILES = [
    "annual_report.pdf",
    "field_notes_scan.pdf",
    "guide.md",
    "images/architecture.png",
    "images/product.png",
    "notes.txt",
    "photos/mountain_lake.jpg",
    "photos/snowy_forest.jpg",
    "photos/sunset_beach.jpg",
    "press_release.html",
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo_corpus(tmp_path_factory.mktemp("demo") / "nested" / "docs")


def files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def pdf_pages(path: Path) -> list[str]:
    with pymupdf.open(path) as doc:
        return [page.get_text() for page in doc]


def pdf_images(path: Path) -> list[Image.Image]:
    """Every embedded picture of a PDF, decoded, in page order."""
    with pymupdf.open(path) as doc:
        return [
            Image.open(io.BytesIO(doc.extract_image(info[0])["image"]))
            for page in doc
            for info in page.get_images(full=True)
        ]


def test_builds_every_file_and_returns_the_directory(corpus: Path) -> None:
    assert corpus.name == "docs"
    assert files(corpus) == EXPECTED_FILES


def test_rebuild_is_deterministic(corpus: Path, tmp_path: Path) -> None:
    again = build_demo_corpus(tmp_path / "again")
    assert files(again) == files(corpus)
    for name in files(corpus):
        if name.endswith(".pdf"):
            assert pdf_pages(again / name) == pdf_pages(corpus / name), name
        else:
            assert (again / name).read_bytes() == (corpus / name).read_bytes(), name


def test_rebuild_in_place_overwrites_with_the_same_content(tmp_path: Path) -> None:
    root = build_demo_corpus(tmp_path / "docs")
    before = {name: (root / name).read_bytes() for name in files(root)}
    build_demo_corpus(root)
    assert {name: (root / name).read_bytes() for name in files(root)} == before


def test_annual_report_has_narrative_table_and_chart(corpus: Path) -> None:
    pages = pdf_pages(corpus / "annual_report.pdf")
    assert len(pages) >= 3
    assert "Ingrid Solberg-Amari" in pages[0]
    assert "Tromsø" in pages[0]
    assert "chief executive officer" in pages[0]  # plain letters, no "ﬃ" ligature glyph
    table = pages[1].split()
    assert "Nordics" in table
    assert {"Q1", "Q2", "Q3", "Q4", "12.1", "14.7", "16.3"} <= set(table)
    assert "Figure 1" in pages[2]
    # The chart's values are pixels only: the table page does not state the quarter totals.
    assert "44.6" not in "".join(pages)
    (chart,) = pdf_images(corpus / "annual_report.pdf")
    assert chart.width >= 600
    assert chart.height >= 400


def test_scanned_pdf_has_no_native_text(corpus: Path) -> None:
    pages = pdf_pages(corpus / "field_notes_scan.pdf")
    assert pages == [""]
    (scan,) = pdf_images(corpus / "field_notes_scan.pdf")
    assert scan.size == (1200, 1700)


def test_markdown_and_html_link_generated_images(corpus: Path) -> None:
    guide = (corpus / "guide.md").read_text(encoding="utf-8")
    assert "## Installation" in guide
    assert "## Usage" in guide
    assert "![architecture diagram](images/architecture.png)" in guide
    html = (corpus / "press_release.html").read_text(encoding="utf-8")
    assert '<img src="images/product.png"' in html
    assert "<figcaption>" in html
    assert "180 grams" in html
    with Image.open(corpus / "images" / "architecture.png") as diagram:
        assert min(diagram.size) >= 400
    with Image.open(corpus / "images" / "product.png") as product:
        assert min(product.size) >= 300


def test_photos_are_jpegs_of_usable_size(corpus: Path) -> None:
    for photo in sorted((corpus / "photos").iterdir()):
        with Image.open(photo) as image:
            assert image.format == "JPEG"
            assert min(image.size) >= 320


def test_notes_are_plain_text(corpus: Path) -> None:
    notes = (corpus / "notes.txt").read_text(encoding="utf-8")
    assert "Lisbon" in notes
    assert "Pixel" in notes


def test_demo_queries_point_into_the_corpus(corpus: Path) -> None:
    queries = demo_queries(corpus)
    assert len(queries) >= 4
    assert all(isinstance(q, DemoQuery) for q in queries)
    assert all(q.text or q.image for q in queries)
    images = [q.image for q in queries if q.image is not None]
    assert images
    assert all(image.is_file() and image.is_relative_to(corpus) for image in images)
    with pytest.raises(AttributeError):
        queries[0].text = "changed"  # type: ignore[misc]


@pytest.mark.slow
def test_ocr_reads_the_chart_and_the_scan(corpus: Path) -> None:
    """The facts that only pixels carry are readable by the default OCR engine."""
    rapidocr = pytest.importorskip("rapidocr")
    engine = rapidocr.RapidOCR(params={"Global.log_level": "error"})
    (chart,) = pdf_images(corpus / "annual_report.pdf")
    chart_text = " ".join(engine(chart).txts)
    assert "Quarterly revenue 2025" in chart_text
    assert "44.6" in chart_text
    (scan,) = pdf_images(corpus / "field_notes_scan.pdf")
    scan_text = " ".join(engine(scan).txts)
    assert "Kaldfonna" in scan_text
    assert "38 metres" in scan_text
