"""Files that try to make a loader misbehave: links leading out of the read scope, content
that contradicts its extension, Markdown and HTML built to make parsing slow."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import LONG, make_pdf, png_bytes, text_image

from mmrag.config import IngestConfig
from mmrag.errors import LoaderError
from mmrag.ingest.loading import load_file
from mmrag.ingest.scope import ReadScope

# -- linked files stay inside the read scope ---------------------------------------------


def test_links_outside_the_root_are_refused_before_opening(
    tmp_path: Path, opened: list[str]
) -> None:
    root, outside = tmp_path / "docs", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    secret = outside / "secret.png"
    secret.write_bytes(png_bytes(text_image("SECRET", size=(200, 150))))
    links = [
        str(secret),
        "../outside/secret.png",
        secret.as_uri(),
        "/etc/passwd",
        "file:///proc/self/environ",
    ]
    path = root / "guide.md"
    path.write_text("Text.\n\n" + "".join(f"![x]({s})\n\n" for s in links), encoding="utf-8")

    opened.clear()  # what the test itself wrote does not count
    doc = load_file(path, IngestConfig(), ReadScope.of([root]))

    assert doc.images == []
    assert len(doc.warnings) == len(links)
    for src, warning in zip(links, doc.warnings, strict=True):
        assert src in warning
        assert str(path) in warning
        assert "outside the folders being ingested" in warning
    forbidden = (str(outside), "/etc/passwd", "/proc/self/environ")
    assert not [p for p in opened if p.startswith(forbidden)]


def test_linked_image_in_an_allowed_folder_is_read(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    text_image("LOGO", size=(200, 150)).save(shared / "logo.png")
    (tmp_path / "docs").mkdir()
    path = tmp_path / "docs" / "a.md"
    path.write_text("Text.\n\n![logo](../shared/logo.png)\n", encoding="utf-8")
    assert load_file(path, IngestConfig()).images == []  # default scope: the file's folder
    doc = load_file(path, IngestConfig(), ReadScope.of([tmp_path / "docs", shared]))
    assert [im.caption for im in doc.images] == ["logo"]


@pytest.mark.timeout(20)
def test_linked_fifo_and_oversized_file_are_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.png")
    text_image("BIG", size=(400, 300)).save(tmp_path / "big.png")
    path = tmp_path / "a.md"
    path.write_text("Text.\n\n![p](pipe.png)\n\n![b](big.png)\n", encoding="utf-8")
    doc = load_file(path, IngestConfig(max_linked_file_mb=0.001))
    assert doc.images == []
    pipe, big = doc.warnings
    assert "named pipe" in pipe and "pipe.png" in pipe
    assert "limit" in big and "big.png" in big


# -- content that contradicts the extension ---------------------------------------------


@pytest.mark.parametrize(
    ("name", "make", "words"),
    [
        (
            "image.pdf",
            lambda p: text_image("PNG").save(p, format="PNG"),
            ["png image", "not a pdf"],
        ),
        ("doc.txt", lambda p: make_pdf(p, [LONG]), ["pdf document", "not text"]),
        ("doc.png", lambda p: make_pdf(p, [LONG]), ["pdf document", "not an image"]),
        ("prog.md", lambda p: p.write_bytes(b"\x7fELF\x02\x01" + bytes(64)), ["program"]),
    ],
)
def test_content_of_another_format_fails_naming_it(
    tmp_path: Path, name: str, make: Callable[[Path], object], words: list[str]
) -> None:
    path = tmp_path / name
    make(path)
    with pytest.raises(LoaderError) as info:
        load_file(path, IngestConfig())
    assert info.value.path == str(path)
    for word in words:
        assert word in info.value.reason.lower()


def test_png_with_a_jpeg_extension_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    text_image("PNG INSIDE", size=(300, 200)).save(path, format="PNG")
    assert len(load_file(path, IngestConfig()).images) == 1


def test_blank_pdf_says_there_is_nothing_to_index(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "blank.pdf", [""])
    doc = load_file(path, IngestConfig())
    assert doc.skip_reason is not None and "nothing to index" in doc.skip_reason
    assert any(str(path) in w and "not indexed" in w for w in doc.warnings)


# -- hostile Markdown is parsed in linear time ------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("unit", ["![", "![a](", "<img ", "![a](x '", "![a][", "[b]: "])
def test_markdown_loader_is_linear_on_a_hostile_line(tmp_path: Path, unit: str) -> None:
    # 400 KB: the old image pattern took 79 s on 80 KB of "![" and grows quadratically.
    path = tmp_path / "line.md"
    path.write_text("Quokkas smile. " + unit * (400_000 // len(unit)), encoding="utf-8")
    doc = load_file(path, IngestConfig())
    assert doc.images == []
    assert "Quokkas smile." in doc.blocks[0].text


def test_markdown_reference_images_and_fences(tmp_path: Path) -> None:
    text_image("MAP", size=(200, 150)).save(tmp_path / "map (1).png")
    text_image("PLAN", size=(200, 150)).save(tmp_path / "plan.png")
    path = tmp_path / "a.md"
    path.write_text(
        "Intro.\n\n![the map][m]\n\n```md\n![example](nothere.png)\n```\n\n"
        '![plan](plan.png "A title")\n\n[m]: <map (1).png>\n',
        encoding="utf-8",
    )
    doc = load_file(path, IngestConfig())
    assert doc.warnings == []  # the fenced example is not an image
    assert [im.caption for im in doc.images] == ["the map", "plan"]


@pytest.mark.timeout(30)
def test_html_deeply_nested_is_read_in_linear_time(tmp_path: Path) -> None:
    # Break markers inserted into the tree walked a subtree per insert: 63 s at this depth.
    depth = 20_000
    path = tmp_path / "deep.html"
    path.write_text(
        "<html><body>" + "<div>x " * depth + "Tardigrades survive." + "</div>" * depth,
        encoding="utf-8",
    )
    text = load_file(path, IngestConfig()).blocks[0].text
    assert text.splitlines()[-1] == "x Tardigrades survive."
    assert len(text.splitlines()) == depth
