"""MmragReader: mmrag's loaders as a LlamaIndex reader (Documents and ImageDocuments),
alone and as a SimpleDirectoryReader file extractor."""

from __future__ import annotations

import base64
import io
import logging
from pathlib import Path

import pytest
from conftest import fast_pipeline, make_pdf, text_image
from PIL import Image

from mmrag.config import load_pipeline
from mmrag.errors import LoaderError

pytest.importorskip("llama_index.core")

from llama_index.core import SimpleDirectoryReader
from llama_index.core.schema import Document, ImageDocument

from mmrag.llama_index import MmragReader

LONG = "This page carries plenty of native text, so the loader never treats it as a scan."


@pytest.fixture(scope="module")
def ocr_reader() -> MmragReader:
    """The offline default's OCR (RapidOCR), loaded once."""
    pytest.importorskip("rapidocr")
    return MmragReader(load_pipeline("default"))


def test_reader_reads_scans_and_images_by_ocr(ocr_reader: MmragReader, tmp_path: Path) -> None:
    path = make_pdf(
        tmp_path / "notes.pdf",
        [f"Native text on the first page. {LONG}", ""],
        images={0: text_image("HARBOUR MAP")},
        scanned={1: "GLACIER RETREATED\n38 METRES"},
    )
    docs = ocr_reader.load_data(path)
    text = [d for d in docs if not isinstance(d, ImageDocument)]
    assert [d.metadata["page"] for d in text] == [1, 2]
    assert "GLACIER" in text[1].text.upper()
    assert text[1].metadata["ocr"] is True
    assert text[0].metadata["file_name"] == "notes.pdf"
    # An embedded picture's text is read too; the scan's own page image is not read twice.
    pictures = {d.metadata["page"]: d.text for d in docs if isinstance(d, ImageDocument)}
    assert "HARBOUR" in pictures[1].upper()
    assert pictures.get(2, "") == ""


def test_reader_gives_markdown_text_and_its_images(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    text_image("HARBOUR MAP").save(tmp_path / "img" / "harbour.png")
    page = tmp_path / "guide.md"
    page.write_text("# Guide\n\nQuokkas.\n\n![harbour map](img/harbour.png)\n", encoding="utf-8")
    reader = MmragReader(fast_pipeline(), ocr=False)
    docs = reader.load_data(page, extra_info={"collection": "guides"})
    kinds = [(type(d).__name__, d.metadata["kind"]) for d in docs]
    assert kinds == [("Document", "text"), ("ImageDocument", "image")]
    image = docs[1]
    assert isinstance(image, ImageDocument)
    assert image.text == "harbour map"
    assert image.image_mimetype == "image/png"
    assert Image.open(io.BytesIO(base64.b64decode(image.image or ""))).size == (640, 200)
    assert all(d.metadata["collection"] == "guides" for d in docs)
    # Stable ids: reading the same file again upserts instead of duplicating.
    assert [d.doc_id for d in reader.load_data(page)] == [d.doc_id for d in docs]


def test_reader_as_a_simple_directory_reader_extractor(tmp_path: Path) -> None:
    text_image("SUNSET").save(tmp_path / "sunset_beach.png")
    (tmp_path / "notes.txt").write_text("Axolotls regrow their limbs.", encoding="utf-8")
    reader = MmragReader(fast_pipeline(), ocr=False)
    docs = SimpleDirectoryReader(
        str(tmp_path), file_extractor={".png": reader, ".txt": reader}
    ).load_data()
    by_name = {d.metadata["file_name"]: d for d in docs}
    assert isinstance(by_name["sunset_beach.png"], ImageDocument)
    assert by_name["sunset_beach.png"].text == "sunset beach"
    assert by_name["notes.txt"].text == "Axolotls regrow their limbs."


def test_reader_errors_name_the_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4 not really")
    reader = MmragReader(fast_pipeline(), ocr=False)
    with pytest.raises(LoaderError, match=r"broken\.pdf"):
        reader.load_data(bad)
    (tmp_path / "fine.txt").write_text("Walruses haul out on ice.", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        docs = reader.load_data(tmp_path)  # a folder: the bad file is logged and skipped
    assert [d.metadata["file_name"] for d in docs] == ["fine.txt"]
    assert "broken.pdf" in caplog.text
    assert all(isinstance(d, Document) for d in docs)
