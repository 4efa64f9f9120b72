"""The .docx, .pptx and .epub loaders on files the tests write with the same libraries."""

from __future__ import annotations

import builtins
import io
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from conftest import fast_pipeline, png_bytes, text_image
from PIL import Image

from mmrag import RAG
from mmrag.config import IngestConfig
from mmrag.errors import LoaderError
from mmrag.ingest.document import LoadedDocument
from mmrag.ingest.loaders import loader_for

docx = pytest.importorskip("docx")
pptx = pytest.importorskip("pptx")
epub = pytest.importorskip("ebooklib.epub")


def load(path: Path) -> LoadedDocument:
    return loader_for(path).load(path, IngestConfig())


def picture(label: str, colour: str = "white") -> bytes:
    image = text_image(label)
    if colour != "white":
        image = Image.new("RGB", (320, 200), colour)
    return png_bytes(image)


# -- .docx -------------------------------------------------------------------------------


def make_docx(path: Path) -> Path:
    document = docx.Document()
    document.core_properties.title = "Lighthouse annual report"
    document.add_heading("Lighthouse annual report", 0)
    document.add_paragraph("The keeper logged 212 foggy nights.")
    document.add_heading("Budget", 1)
    document.add_paragraph("Repairs were paid from the harbour fund.")
    table = document.add_table(rows=3, cols=3)
    for r, row in enumerate(
        [["Item", "2024", "2025"], ["Lens", "1200", "800"], ["Paint", "300", "450"]]
    ):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.add_heading("Lamp room", 2)
    document.add_paragraph("A photo of the lamp room follows.")
    document.add_picture(io.BytesIO(picture("LAMP ROOM")))
    document.inline_shapes[-1]._inline.docPr.set("descr", "the lamp room at dusk")
    document.add_heading("Staff", 1)
    document.add_paragraph("Two keepers share the night watch.")
    document.save(str(path))
    return path


def test_docx_sections_tables_and_images(tmp_path: Path) -> None:
    doc = load(make_docx(tmp_path / "report.docx"))
    assert doc.metadata["title"] == "Lighthouse annual report"
    sections = [b.metadata.get("section") for b in doc.blocks]
    assert sections == [
        "Lighthouse annual report",
        "Lighthouse annual report/Budget",
        "Lighthouse annual report/Budget/Lamp room",
        "Lighthouse annual report/Staff",
    ]
    # No pages in a .docx: the order of sections stands in for them.
    assert [b.page for b in doc.blocks] == [None] * 4
    assert [b.metadata["section_index"] for b in doc.blocks] == [1, 2, 3, 4]
    budget = doc.blocks[1].text.splitlines()
    assert "Item | 2024 | 2025" in budget
    assert "Lens | 1200 | 800" in budget
    assert "Paint | 300 | 450" in budget
    assert doc.metadata["tables"] == 1
    assert len(doc.images) == 1
    image = doc.images[0]
    assert image.caption == "the lamp room at dusk"
    assert image.metadata["section"] == "Lighthouse annual report/Budget/Lamp room"
    assert image.image.size == (640, 200)


def rendered_break(paragraph: Any, *, leading: bool = True) -> None:
    """Mark a page break where Word's last layout put one (Word writes these on save)."""
    from docx.oxml import OxmlElement

    run = paragraph.runs[0]._r
    mark = OxmlElement("w:lastRenderedPageBreak")
    if leading:
        run.insert(0, mark)
    else:
        run.append(mark)


def test_docx_pages_come_from_words_rendered_page_breaks(tmp_path: Path) -> None:
    document = docx.Document()
    document.add_heading("Report", 0)
    document.add_paragraph("Foreword on page one.")
    budget = document.add_heading("Budget", 1)
    rendered_break(budget)  # the heading opens page 2
    table = document.add_table(rows=3, cols=2)
    for r, row in enumerate([["Item", "Cost"], ["Lens", "1200"], ["Paint", "300"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    for cell in table.rows[2].cells:  # the last row moved to page 3: every cell says so
        rendered_break(cell.paragraphs[0])
    after = document.add_paragraph("Notes after the table.")
    document.add_picture(io.BytesIO(picture("LENS")))
    staff = document.add_heading("Staff", 1)
    staff.add_run(" and volunteers")
    rendered_break(staff, leading=False)  # page 4 begins inside the heading
    document.add_paragraph("Two keepers share the night watch.")
    document.save(str(tmp_path / "paged.docx"))

    doc = load(tmp_path / "paged.docx")
    assert [(b.page, b.metadata.get("section")) for b in doc.blocks] == [
        (1, "Report"),
        (2, "Report/Budget"),
        (3, "Report/Budget"),
        (3, "Report/Staff and volunteers"),  # a paragraph counts from the page it starts on
        (4, "Report/Staff and volunteers"),
    ]
    # A block never spans pages; the section index stays that of the section.
    assert [b.metadata["section_index"] for b in doc.blocks] == [1, 2, 2, 3, 3]
    assert after.text in doc.blocks[2].text
    assert doc.pages == 4
    assert [im.page for im in doc.images] == [3]


def test_docx_merged_cells_are_not_repeated(tmp_path: Path) -> None:
    document = docx.Document()
    table = document.add_table(rows=2, cols=3)
    table.cell(0, 0).merge(table.cell(0, 2)).text = "Quarterly totals"
    for c, value in enumerate(["Q1", "Q2", "Q3"]):
        table.cell(1, c).text = value
    document.save(str(tmp_path / "merged.docx"))
    doc = load(tmp_path / "merged.docx")
    assert doc.blocks[0].text.splitlines() == ["Quarterly totals", "Q1 | Q2 | Q3"]


# -- .pptx -------------------------------------------------------------------------------


def make_pptx(path: Path) -> Path:
    from pptx.chart.data import CategoryChartData
    from pptx.enum.chart import XL_CHART_TYPE
    from pptx.util import Inches

    deck = pptx.Presentation()
    deck.core_properties.title = "Harbour review"
    first = deck.slides.add_slide(deck.slide_layouts[1])
    first.shapes.title.text = "Harbour review"
    first.placeholders[1].text = "Dredging finished in March."
    first.notes_slide.notes_text_frame.text = "Mention the tide tables."

    second = deck.slides.add_slide(deck.slide_layouts[5])
    second.shapes.title.text = "Cargo volumes"
    rows = [["Port", "Tonnes"], ["North quay", "5400"], ["South quay", "3100"]]
    shape = second.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(6), Inches(2))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            shape.table.cell(r, c).text = value
    data = CategoryChartData()
    data.categories = ["2024", "2025"]
    data.add_series("Ferries", (120, 135.5))
    second.shapes.add_chart(
        XL_CHART_TYPE.COLUMN_CLUSTERED, Inches(1), Inches(4.5), Inches(4), Inches(2.5), data
    )

    third = deck.slides.add_slide(deck.slide_layouts[6])  # blank: a picture only
    pic = third.shapes.add_picture(io.BytesIO(picture("TIDE GAUGE")), Inches(1), Inches(1))
    pic._element._nvXxPr.cNvPr.set("descr", "the new tide gauge")
    deck.save(str(path))
    return path


def test_pptx_slides_are_pages_with_tables_charts_notes_and_pictures(tmp_path: Path) -> None:
    doc = load(make_pptx(tmp_path / "review.pptx"))
    assert doc.pages == 3
    assert doc.metadata["title"] == "Harbour review"
    # The picture-only slide has no text block; its picture carries the page.
    assert [b.page for b in doc.blocks] == [1, 2]
    first, second = doc.blocks
    assert first.metadata["slide_title"] == "Harbour review"
    assert "Dredging finished in March." in first.text
    assert "Notes: Mention the tide tables." in first.text
    lines = second.text.splitlines()
    assert "Port | Tonnes" in lines
    assert "North quay | 5400" in lines
    assert " | 2024 | 2025" in lines or "| 2024 | 2025" in lines
    assert "Ferries | 120 | 135.5" in lines
    assert [(im.page, im.caption) for im in doc.images] == [(3, "the new tide gauge")]


# -- .epub -------------------------------------------------------------------------------


def make_epub(path: Path, *, with_table: bool = True) -> Path:
    book = epub.EpubBook()
    book.set_identifier("id-walrus")
    book.set_title("Walrus field guide")
    book.set_language("en")
    book.add_author("A. Keeper")
    one = epub.EpubHtml(title="Tusks", file_name="text/tusks.xhtml", lang="en")
    one.content = "<h1>Tusks</h1><p>Walruses haul out on ice with their tusks.</p>"
    two = epub.EpubHtml(title="Diet", file_name="text/diet.xhtml", lang="en")
    table = (
        "<table><tr><th>Prey</th><th>Share</th></tr><tr><td>Clams</td><td>60%</td></tr></table>"
        if with_table
        else ""
    )
    two.content = (
        "<h1>Diet</h1><p>They eat bivalves.</p>"
        + table
        + '<figure><img src="../images/clam.png" alt="a clam"/>'
        "<figcaption>Clams at low tide</figcaption></figure>"
    )
    image = epub.EpubImage(
        uid="clam", file_name="images/clam.png", media_type="image/png", content=picture("CLAM")
    )
    for item in (one, two, image):
        book.add_item(item)
    book.toc = [one, two]
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", one, two]
    epub.write_epub(str(path), book)
    return path


def test_epub_chapters_are_pages_with_tables_and_images(tmp_path: Path) -> None:
    doc = load(make_epub(tmp_path / "walrus.epub"))
    assert doc.metadata["title"] == "Walrus field guide"
    assert doc.metadata["author"] == "A. Keeper"
    # The navigation document is a table of contents, not chapter 1.
    assert doc.pages == 2
    assert [(b.page, b.metadata["chapter"]) for b in doc.blocks] == [(1, "Tusks"), (2, "Diet")]
    assert "Walruses haul out on ice" in doc.blocks[0].text
    assert "Prey | Share" in doc.blocks[1].text.splitlines()
    assert "Clams | 60%" in doc.blocks[1].text.splitlines()
    assert [(im.page, im.caption) for im in doc.images] == [(2, "a clam — Clams at low tide")]


# -- bad input and missing libraries -----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("broken.docx", "not a readable Word document"),
        ("broken.pptx", "not a readable PowerPoint file"),
        ("broken.epub", "not a readable EPUB"),
    ],
)
def test_corrupt_file_is_one_clear_error(tmp_path: Path, name: str, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"PK\x03\x04 this is not really a zip archive")
    with pytest.raises(LoaderError) as info:
        load(path)
    message = str(info.value)
    assert message == f"{path}: {reason} (not a ZIP archive: damaged, or another format renamed)"


@pytest.mark.parametrize("name", ["empty.docx", "empty.pptx", "empty.epub"])
def test_empty_file_is_named(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"")
    with pytest.raises(LoaderError, match="file is empty"):
        load(path)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("other.docx", "not a readable Word document"),
        ("other.pptx", "not a readable PowerPoint file"),
        ("other.epub", "not a readable EPUB"),
    ],
)
def test_zip_of_something_else_is_one_clear_error(tmp_path: Path, name: str, reason: str) -> None:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "not an office document")
    with pytest.raises(LoaderError) as info:
        load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {reason} (")
    assert message.count(str(path)) == 1  # the library's own copy of the path is dropped
    assert "\n" not in message


@pytest.mark.parametrize(
    ("module", "name", "package"),
    [
        ("docx", "a.docx", "python-docx"),
        ("pptx", "a.pptx", "python-pptx"),
        ("ebooklib", "a.epub", "ebooklib"),
    ],
)
def test_missing_library_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str, name: str, package: str
) -> None:
    real_import = builtins.__import__

    def no_office(target: str, *args: Any, **kwargs: Any) -> Any:
        if target == module or target.startswith(module + "."):
            raise ImportError(f"No module named '{module}'")
        return real_import(target, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_office)
    for cached in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        monkeypatch.delitem(sys.modules, cached)
    path = tmp_path / name
    path.write_bytes(b"anything")
    with pytest.raises(LoaderError) as info:
        load(path)
    assert f"'{package}'" in str(info.value)
    assert "[office]" in str(info.value)  # the extra that installs it


# -- end to end --------------------------------------------------------------------------


def test_office_files_are_ingested_and_searchable(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    make_docx(docs / "report.docx")
    make_pptx(docs / "review.pptx")
    make_epub(docs / "walrus.epub")
    rag = RAG.open(tmp_path / "store", pipeline=fast_pipeline())
    report = rag.ingest([docs])
    assert not report.failed
    hit = rag.search("North quay tonnes", k=1)[0]
    assert (Path(hit.node.source).name, hit.node.page) == ("review.pptx", 2)
    hit = rag.search("walruses haul out on ice", k=1)[0]
    assert (Path(hit.node.source).name, hit.node.page) == ("walrus.epub", 1)
    hit = rag.search("keepers share the night watch", k=1)[0]
    assert Path(hit.node.source).name == "report.docx"
    assert hit.node.metadata["section"] == "Lighthouse annual report/Staff"
