"""Each loader called directly on small generated files (discovery: test_discover.py)."""

from __future__ import annotations

import base64
import io
import logging
from pathlib import Path

import pymupdf
import pytest
from conftest import LONG, make_pdf, png_bytes, text_image
from PIL import Image

from mmrag.config import IngestConfig
from mmrag.errors import LoaderError, UnsupportedFormatError
from mmrag.ingest.document import LoadedDocument
from mmrag.ingest.loaders import loader_for
from mmrag.ingest.loading import load_file


def load(path: Path, settings: IngestConfig | None = None) -> LoadedDocument:
    return load_file(path, settings or IngestConfig())


def pdf_with_pictures(path: Path, pages: list[list[bytes]], text: str = LONG) -> Path:
    """One page per entry; each page gets its text and the given PNG streams stacked."""
    doc = pymupdf.open()
    for streams in pages:
        page = doc.new_page(width=595, height=842)
        page.insert_textbox(pymupdf.Rect(50, 50, 545, 200), text, fontsize=11)
        for i, stream in enumerate(streams):
            top = 220 + i * 200
            page.insert_image(pymupdf.Rect(50, top, 350, top + 180), stream=stream)
    doc.save(path)
    doc.close()
    return path


# -- PDF ---------------------------------------------------------------------------------


def test_pdf_text_blocks_carry_one_based_page_numbers(tmp_path: Path) -> None:
    path = make_pdf(
        tmp_path / "three.pdf",
        [f"Zebrafish page {n}. {LONG}" for n in ("alpha", "bravo", "charlie")],
    )
    doc = load(path)
    assert doc.pages == 3
    assert [b.page for b in doc.blocks] == [1, 2, 3]
    for block, word in zip(doc.blocks, ("alpha", "bravo", "charlie"), strict=True):
        assert f"Zebrafish page {word}" in " ".join(block.text.split())
    assert doc.scans == []
    assert doc.images == []
    assert doc.source == str(path)


def test_pdf_blank_page_has_no_block_but_keeps_numbering(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "gap.pdf", [f"First. {LONG}", "", f"Third. {LONG}"])
    doc = load(path)
    assert doc.pages == 3
    assert [b.page for b in doc.blocks] == [1, 3]
    assert doc.scans == []  # a blank page has no visuals: nothing to OCR


def test_pdf_embedded_images_are_extracted_with_their_page(tmp_path: Path) -> None:
    chart = text_image("CHART", size=(300, 200))
    path = make_pdf(tmp_path / "img.pdf", [f"Intro. {LONG}", f"Chart. {LONG}"], images={1: chart})
    doc = load(path)
    assert len(doc.images) == 1
    image = doc.images[0]
    assert image.page == 2
    assert image.image.size == (300, 200)
    assert image.image.mode == "RGB"
    assert image.metadata["width"] == 300
    assert image.metadata["height"] == 200
    assert image.skip_ocr is False
    assert image.data  # the copy kept in the store
    assert Image.open(io.BytesIO(image.data)).size == (300, 200)


def test_pdf_images_below_min_image_side_are_dropped(tmp_path: Path) -> None:
    icon = png_bytes(text_image("i", size=(40, 40), font_size=12))
    chart = png_bytes(text_image("BIG", size=(300, 200)))
    path = pdf_with_pictures(tmp_path / "icons.pdf", [[icon, chart]])
    doc = load(path)
    assert [im.image.size for im in doc.images] == [(300, 200)]
    # A lower threshold keeps the icon too.
    doc = load(path, IngestConfig(min_image_side=10))
    assert sorted(im.image.size for im in doc.images) == [(40, 40), (300, 200)]


def test_pdf_same_image_on_two_pages_is_kept_once(tmp_path: Path) -> None:
    logo = png_bytes(text_image("LOGO", size=(300, 200)))
    path = pdf_with_pictures(tmp_path / "twice.pdf", [[logo], [logo]])
    doc = load(path)
    assert len(doc.images) == 1
    assert doc.images[0].page == 1


def test_pdf_identical_images_under_different_xrefs_are_kept_once(tmp_path: Path) -> None:
    logo = png_bytes(text_image("LOGO", size=(300, 200)))
    parts = [pdf_with_pictures(tmp_path / f"part{i}.pdf", [[logo]]) for i in range(2)]
    merged = pymupdf.open()
    for part in parts:
        with pymupdf.open(part) as src:
            merged.insert_pdf(src)
    merged.save(tmp_path / "merged.pdf")
    merged.close()
    with pymupdf.open(tmp_path / "merged.pdf") as check:  # the premise: two distinct xrefs
        xrefs = {info[0] for page in check for info in page.get_images()}
    assert len(xrefs) == 2
    doc = load(tmp_path / "merged.pdf")
    assert len(doc.images) == 1
    assert doc.images[0].page == 1


def test_pdf_distinct_images_are_all_kept(tmp_path: Path) -> None:
    one = png_bytes(text_image("ONE", size=(300, 200)))
    two = png_bytes(text_image("TWO", size=(300, 200)))
    path = pdf_with_pictures(tmp_path / "two.pdf", [[one], [two]])
    doc = load(path)
    assert [im.page for im in doc.images] == [1, 2]
    assert doc.images[0].image_id != doc.images[1].image_id


def test_pdf_scanned_page_is_rendered_for_ocr(tmp_path: Path) -> None:
    path = make_pdf(
        tmp_path / "scan.pdf",
        ["", f"Native second page. {LONG}"],
        scanned={0: "SCANNED INVOICE 42"},
    )
    doc = load(path)
    assert [s.page for s in doc.scans] == [1]
    scan = doc.scans[0].image
    assert scan.mode == "RGB"
    assert 500 <= max(scan.size) <= 2000  # rendered, capped at _MAX_RENDER_SIDE
    assert scan.size[1] > scan.size[0]  # portrait A4
    # The native page is a text block, the scanned page is not.
    assert [b.page for b in doc.blocks] == [2]
    # The full-page picture is the scan itself: it is kept but not OCR'd a second time.
    assert len(doc.images) == 1
    assert doc.images[0].page == 1
    assert doc.images[0].skip_ocr is True


def test_pdf_image_on_native_page_is_not_a_scan(tmp_path: Path) -> None:
    chart = text_image("CHART", size=(300, 200))
    path = make_pdf(tmp_path / "n.pdf", [f"Plenty of words. {LONG}"], images={0: chart})
    doc = load(path)
    assert doc.scans == []
    assert [im.skip_ocr for im in doc.images] == [False]


def test_pdf_metadata_title_is_kept(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "meta.pdf", [LONG])
    with pymupdf.open(path) as doc:
        doc.set_metadata({"title": "Lighthouse Budget", "author": "Ada"})
        doc.saveIncr()
    assert load(path).metadata == {"title": "Lighthouse Budget", "author": "Ada"}


# -- Markdown ----------------------------------------------------------------------------

MARKDOWN = """# Intro

Quokkas live on Rottnest Island.

## Habitat

They shelter in dense scrub.

# Diet

Quokkas eat leaves and grasses.
"""


def test_markdown_is_split_at_headings(tmp_path: Path) -> None:
    path = tmp_path / "guide.md"
    path.write_text(MARKDOWN, encoding="utf-8")
    doc = load(path)
    assert doc.pages == 1
    assert [b.text.splitlines()[0] for b in doc.blocks] == ["# Intro", "## Habitat", "# Diet"]
    assert "Rottnest" in doc.blocks[0].text
    assert "scrub" in doc.blocks[1].text
    assert "grasses" in doc.blocks[2].text
    assert "scrub" not in doc.blocks[0].text
    assert all(b.page is None for b in doc.blocks)


def test_markdown_blocks_name_their_own_section(tmp_path: Path) -> None:
    path = tmp_path / "guide.md"
    path.write_text(MARKDOWN, encoding="utf-8")
    doc = load(path)
    assert [b.metadata.get("section") for b in doc.blocks] == ["Intro", "Intro/Habitat", "Diet"]


def test_markdown_subsection_metadata_mentions_its_parent(tmp_path: Path) -> None:
    path = tmp_path / "guide.md"
    path.write_text(MARKDOWN, encoding="utf-8")
    habitat = next(b for b in load(path).blocks if "scrub" in b.text)
    assert "Intro" in str(habitat.metadata.get("section", ""))


def test_markdown_linked_relative_image_is_decoded(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    text_image("HARBOUR MAP", size=(240, 160)).save(tmp_path / "img" / "harbour.png")
    path = tmp_path / "guide.md"
    path.write_text(
        "# Guide\n\nSee the map.\n\n![harbour map](img/harbour.png)\n", encoding="utf-8"
    )
    doc = load(path)
    assert doc.warnings == []
    assert len(doc.images) == 1
    image = doc.images[0]
    assert image.image.size == (240, 160)
    assert image.caption == "harbour map"
    assert image.metadata["link"] == "img/harbour.png"
    # Image syntax is replaced by its alt text in the searchable text.
    assert "[image: harbour map]" in doc.blocks[0].text
    assert "img/harbour.png" not in doc.blocks[0].text


def test_markdown_inline_html_img_is_found(tmp_path: Path) -> None:
    text_image("PLAN", size=(200, 150)).save(tmp_path / "plan.png")
    path = tmp_path / "plan.md"
    path.write_text(
        'Floor plan below.\n\n<img src="plan.png" alt="floor plan">\n', encoding="utf-8"
    )
    doc = load(path)
    assert [(im.caption, im.image.size) for im in doc.images] == [("floor plan", (200, 150))]


def test_markdown_missing_linked_image_is_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "guide.md"
    path.write_text("# Guide\n\nText stays.\n\n![gone](img/missing.png)\n", encoding="utf-8")
    doc = load(path)  # no exception: the text is still worth indexing
    assert doc.images == []
    assert len(doc.warnings) == 1
    assert "img/missing.png" in doc.warnings[0]
    assert "not found" in doc.warnings[0]
    assert str(path) in doc.warnings[0]
    assert "Text stays." in doc.blocks[0].text


def test_markdown_unreadable_linked_image_is_a_warning(tmp_path: Path) -> None:
    (tmp_path / "broken.png").write_text("not an image", encoding="utf-8")
    path = tmp_path / "guide.md"
    path.write_text("Body text.\n\n![broken](broken.png)\n", encoding="utf-8")
    doc = load(path)
    assert doc.images == []
    assert len(doc.warnings) == 1
    assert "broken.png" in doc.warnings[0]
    assert "not a readable image" in doc.warnings[0]


def test_markdown_remote_image_is_not_fetched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("ingestion must not touch the network")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    path = tmp_path / "remote.md"
    path.write_text("Remote picture.\n\n![logo](https://example.com/logo.png)\n", encoding="utf-8")
    doc = load(path)
    assert doc.images == []
    assert len(doc.warnings) == 1
    assert "remote image not fetched" in doc.warnings[0]
    assert "https://example.com/logo.png" in doc.warnings[0]


def test_markdown_data_uri_image_is_decoded(tmp_path: Path) -> None:
    payload = base64.b64encode(png_bytes(text_image("INLINE", size=(180, 120)))).decode()
    path = tmp_path / "inline.md"
    path.write_text(f"Inline picture.\n\n![inline pic](data:image/png;base64,{payload})\n", "utf-8")
    doc = load(path)
    assert doc.warnings == []
    assert len(doc.images) == 1
    assert doc.images[0].image.size == (180, 120)
    assert doc.images[0].caption == "inline pic"
    assert doc.images[0].metadata["link"] == "data-uri"
    assert payload[:20] not in doc.blocks[0].text  # the base64 blob is not indexed as text


def test_markdown_same_image_linked_twice_is_kept_once(tmp_path: Path) -> None:
    text_image("MAP", size=(200, 150)).save(tmp_path / "map.png")
    path = tmp_path / "twice.md"
    path.write_text("![a](map.png)\n\nMore.\n\n![b](./map.png)\n", encoding="utf-8")
    assert len(load(path).images) == 1


# -- HTML --------------------------------------------------------------------------------

HTML = """<html><head><title>Walrus facts</title>
<style>.stylesecret { color: red }</style>
<script>var scriptsecret = 1;</script></head>
<body><h1>Walruses</h1><p>Walruses use their tusks to haul out onto ice.</p>
<noscript>noscriptsecret</noscript>
<figure><img src="map.png" alt="map alt"><figcaption>Figure 1: the harbour map</figcaption></figure>
<script>callScriptSecretTwo()</script>
</body></html>
"""


def test_html_visible_text_only(tmp_path: Path) -> None:
    text_image("MAP", size=(200, 150)).save(tmp_path / "map.png")
    path = tmp_path / "page.html"
    path.write_text(HTML, encoding="utf-8")
    doc = load(path)
    assert len(doc.blocks) == 1
    text = doc.blocks[0].text
    assert "Walruses use their tusks to haul out onto ice." in text
    for hidden in ("stylesecret", "scriptsecret", "noscriptsecret", "ScriptSecretTwo"):
        assert hidden not in text


def test_html_title_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(HTML, encoding="utf-8")
    doc = load(path)
    assert doc.metadata == {"title": "Walrus facts"}
    assert doc.blocks[0].text.startswith("Walrus facts")


def test_html_figure_caption_becomes_image_caption(tmp_path: Path) -> None:
    text_image("MAP", size=(200, 150)).save(tmp_path / "map.png")
    path = tmp_path / "page.html"
    path.write_text(HTML, encoding="utf-8")
    doc = load(path)
    assert doc.warnings == []
    assert len(doc.images) == 1
    assert "Figure 1: the harbour map" in doc.images[0].caption
    assert "map alt" in doc.images[0].caption


def test_html_without_text_or_images_fails(tmp_path: Path) -> None:
    path = tmp_path / "blank.html"
    path.write_text("<html><head><script>x()</script></head><body></body></html>", "utf-8")
    with pytest.raises(LoaderError, match="no visible text"):
        load(path)


# -- plain text --------------------------------------------------------------------------

FRENCH = (
    "Le garçon a commandé un café et une crème brûlée à la terrasse. "
    "Il était très content de sa soirée, même si l'addition était élevée.\n"
) * 3


def test_text_utf8(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("Axolotls regrow their limbs. Naïve café — 東京\n", encoding="utf-8")
    doc = load(path)
    assert [b.text for b in doc.blocks] == ["Axolotls regrow their limbs. Naïve café — 東京\n"]
    assert doc.pages == 1


def test_text_utf8_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeffAxolotls with a BOM. Crème brûlée.".encode())
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    doc = load(path)
    assert doc.blocks[0].text == "Axolotls with a BOM. Crème brûlée."


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_text_legacy_encoding_is_decoded_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, encoding: str
) -> None:
    path = tmp_path / f"{encoding}.txt"
    path.write_bytes(FRENCH.encode(encoding))
    with caplog.at_level(logging.WARNING, logger="mmrag.ingest.text_decoding"):
        doc = load(path)
    assert doc.blocks[0].text == FRENCH
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert str(path) in warnings[0].getMessage()
    assert "not UTF-8" in warnings[0].getMessage()


def test_text_short_cp1252_line_is_not_mojibake(tmp_path: Path) -> None:
    line = "Le café est très bon à Paris, déjà vu, garçon. Crème brûlée."
    path = tmp_path / "short.txt"
    path.write_bytes(line.encode("cp1252"))
    assert load(path).blocks[0].text == line


def test_text_with_null_bytes_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "binary.txt"
    path.write_bytes(b"MZ\x90\x00\x03\x00\x00\x00" * 50)
    with pytest.raises(LoaderError, match="binary"):
        load(path)


def test_text_whitespace_only_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "blank.txt"
    path.write_text("  \n\t\n", encoding="utf-8")
    with pytest.raises(LoaderError, match="empty"):
        load(path)


# -- image files -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ext", "pil_format", "stored"),
    [
        (".png", "PNG", "png"),
        (".jpg", "JPEG", "jpeg"),
        (".jpeg", "JPEG", "jpeg"),
        (".webp", "WEBP", "jpeg"),
        (".gif", "GIF", "png"),
        (".bmp", "BMP", "png"),
        (".tif", "TIFF", "png"),
        (".tiff", "TIFF", "png"),
    ],
)
def test_image_files_load(tmp_path: Path, ext: str, pil_format: str, stored: str) -> None:
    path = tmp_path / f"harbour_map-2024{ext}"
    text_image("FORMAT", size=(240, 160)).save(path, format=pil_format)
    doc = load(path)
    assert doc.skip_reason is None
    assert doc.blocks == []
    assert len(doc.images) == 1
    image = doc.images[0]
    assert image.image.size == (240, 160)
    assert image.image.mode == "RGB"
    assert image.format == stored
    assert image.caption == "harbour map 2024"
    assert image.page is None
    assert Image.open(io.BytesIO(image.data)).size == (240, 160)


def test_exif_rotated_jpeg_comes_out_upright(tmp_path: Path) -> None:
    # Stored 300x120, left half red and right half blue; Orientation 6 means the camera
    # was turned: the viewer rotates 90° clockwise, so the red half ends up on top.
    raw = Image.new("RGB", (300, 120), (220, 0, 0))
    raw.paste((0, 0, 220), (150, 0, 300, 120))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "photo.jpg"
    raw.save(path, format="JPEG", exif=exif, quality=95)
    assert Image.open(path).size == (300, 120)  # the premise: pixels are stored sideways
    image = load(path).images[0]
    assert image.image.size == (120, 300)
    red_top = image.image.getpixel((60, 40))
    blue_bottom = image.image.getpixel((60, 260))
    assert isinstance(red_top, tuple)
    assert isinstance(blue_bottom, tuple)
    assert red_top[0] > 150 > red_top[2]
    assert blue_bottom[2] > 150 > blue_bottom[0]
    assert Image.open(io.BytesIO(image.data)).size == (120, 300)  # stored upright too


def test_rgba_png_is_composited_on_white(tmp_path: Path) -> None:
    rgba = Image.new("RGBA", (200, 200), (0, 0, 0, 0))  # fully transparent black
    rgba.paste((0, 128, 0, 255), (100, 0, 200, 200))  # opaque green right half
    path = tmp_path / "chart.png"
    rgba.save(path)
    assert Image.open(path).convert("RGB").getpixel((10, 10)) == (0, 0, 0)  # naive: black
    image = load(path).images[0].image
    assert image.mode == "RGB"
    assert image.getpixel((10, 10)) == (255, 255, 255)
    assert image.getpixel((150, 10)) == (0, 128, 0)


def test_palette_png_with_transparency_is_composited_on_white(tmp_path: Path) -> None:
    rgba = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    rgba.paste((200, 0, 0, 255), (0, 0, 100, 200))
    path = tmp_path / "palette.png"
    rgba.convert("P").save(path, transparency=0)
    assert Image.open(path).convert("RGB").getpixel((150, 10)) == (0, 0, 0)  # naive: black
    image = load(path).images[0].image
    assert image.mode == "RGB"
    assert image.getpixel((150, 10)) == (255, 255, 255)
    assert image.getpixel((10, 10)) == (200, 0, 0)


def test_tiny_image_file_is_skipped_not_failed(tmp_path: Path) -> None:
    path = tmp_path / "icon.png"
    Image.new("RGB", (16, 16), "blue").save(path)
    doc = load(path)
    assert doc.images == []
    assert doc.skip_reason is not None
    assert "smaller than 100 px" in doc.skip_reason


def test_big_image_is_downscaled_for_storage(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.new("RGB", (1000, 500), "white").save(path)
    image = load(path, IngestConfig(stored_image_max_side=200)).images[0]
    assert image.image.size == (200, 100)  # everything downstream works at this size
    assert image.metadata == {"width": 1000, "height": 500}
    assert Image.open(io.BytesIO(image.data)).size == (200, 100)


# -- loader selection --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["A.PDF", "b.Md", "c.HTM", "d.TXT", "e.JPEG"])
def test_extension_match_is_case_insensitive(name: str) -> None:
    assert Path(name).suffix.lower() in loader_for(Path(name)).extensions


def test_unknown_extension_has_no_loader() -> None:
    with pytest.raises(UnsupportedFormatError, match=r"unsupported file type '\.xyz'"):
        loader_for(Path("data.xyz"))


@pytest.mark.parametrize(
    ("stem", "caption"),
    [
        ("golden_gate-sunset", "golden gate sunset"),
        ("paris_2024", "paris 2024"),
        ("IMG_2041", ""),
        ("1001773457_577c3a7d70", ""),
        ("PXL_20250704_beach_party", "beach party"),
        ("dog.at.park", "dog at park"),
    ],
)
def test_image_file_caption_keeps_only_descriptive_words(stem: str, caption: str) -> None:
    from mmrag.ingest.loaders.plain import caption_from_filename

    assert caption_from_filename(stem) == caption
