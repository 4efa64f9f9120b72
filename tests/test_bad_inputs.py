"""Bad files through ``RAG.ingest``: one clear failure each, the run goes on, nothing is lost."""

from __future__ import annotations

import io
import json
import os
import random
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import pymupdf
import pytest
from conftest import fast_pipeline, make_pdf, png_bytes, text_image
from PIL import Image
from typer.testing import CliRunner

from mmrag import RAG
from mmrag.cli import app
from mmrag.ingest.report import FileFailure, IngestReport

BASELINE_TEXT = "Axolotls regrow their limbs after injury in cold mountain lakes."
GOOD_TEXT = "Zebrafish migrate north along the river delta every spring."


# -- helpers -----------------------------------------------------------------------------


def junk(n: int, seed: int = 7) -> bytes:
    """Deterministic random bytes."""
    return random.Random(seed).randbytes(n)


def jpeg_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that *claims* ``width`` x ``height`` pixels but holds none: no huge allocation."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def pdf_with_image(path: Path) -> Path:
    chart = text_image("CHART", size=(400, 300))
    return make_pdf(path, [f"Lighthouse budget. {GOOD_TEXT}"], images={0: chart})


def failures_for(report: IngestReport, path: Path | str) -> list[FileFailure]:
    name = Path(path).name
    return [f for f in report.failed if Path(f.path).name == name]


def top_hit(rag: RAG, query: str) -> tuple[str, str]:
    hits = rag.search(query)
    assert hits, f"no hits for {query!r}"
    return hits[0].node.source, hits[0].node.text


@pytest.fixture
def seeded(fast_rag: RAG, tmp_path: Path) -> Path:
    """A store that already holds one file, ingested before any bad input shows up."""
    path = tmp_path / "stored" / "baseline.txt"
    path.parent.mkdir()
    path.write_text(BASELINE_TEXT, encoding="utf-8")
    report = fast_rag.ingest([path])
    assert report.ok
    assert report.ingested == 1
    return path.resolve()


def assert_baseline_intact(rag: RAG, baseline: Path) -> None:
    source, text = top_hit(rag, "axolotls regrow limbs")
    assert source == str(baseline)
    assert BASELINE_TEXT in text
    assert str(baseline) in rag.store.sources(user=None)


# -- one bad file next to a good one -----------------------------------------------------

BadMaker = Callable[[Path], Path]


def corrupt_pdf(d: Path) -> Path:
    path = d / "corrupt.pdf"
    path.write_bytes(junk(4096))
    return path


def truncated_pdf(d: Path) -> Path:
    data = pdf_with_image(d / "whole.pdf").read_bytes()
    (d / "whole.pdf").unlink()
    path = d / "truncated.pdf"
    path.write_bytes(data[: len(data) // 2])
    return path


def encrypted_pdf(d: Path) -> Path:
    plain = make_pdf(d / "plain.pdf", [GOOD_TEXT])
    path = d / "encrypted.pdf"
    with pymupdf.open(plain) as doc:
        doc.save(path, encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="secret", owner_pw="o")
    plain.unlink()
    return path


def empty(name: str) -> BadMaker:
    def make(d: Path) -> Path:
        path = d / name
        path.write_bytes(b"")
        return path

    return make


def truncated_png(d: Path) -> Path:
    data = png_bytes(text_image("TRUNCATED", size=(400, 300)))
    path = d / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    return path


def truncated_jpeg(d: Path) -> Path:
    data = jpeg_bytes(text_image("TRUNCATED", size=(400, 300)))
    path = d / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    return path


def text_named_png(d: Path) -> Path:
    path = d / "liar.png"
    path.write_text("I am plain text wearing a .png name.\n", encoding="utf-8")
    return path


def huge_png_header(d: Path) -> Path:
    path = d / "huge.png"
    path.write_bytes(png_header_only(50_000, 50_000))
    return path


def binary_txt(d: Path) -> Path:
    path = d / "program.txt"
    path.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 8)
    return path


def undecodable_txt(d: Path) -> Path:
    path = d / "garbled.txt"
    path.write_bytes(junk(3000, seed=11).replace(b"\x00", b"\x01"))
    return path


def unknown_extension(d: Path) -> Path:
    path = d / "data.xyz"
    path.write_text("some text the toolkit has no loader for", encoding="utf-8")
    return path


def png_named_pdf(d: Path) -> Path:
    path = d / "picture.pdf"
    path.write_bytes(png_bytes(text_image("I AM A PNG", size=(400, 300))))
    return path


def empty_html(d: Path) -> Path:
    path = d / "blank.html"
    path.write_text("<html><head><script>track()</script></head><body> </body></html>", "utf-8")
    return path


BAD_FILES: list[tuple[str, BadMaker, list[str]]] = [
    ("corrupt-pdf", corrupt_pdf, ["pdf"]),
    ("truncated-pdf", truncated_pdf, ["damaged pdf"]),
    ("encrypted-pdf", encrypted_pdf, ["encrypted", "password"]),
    ("empty-pdf", empty("empty.pdf"), ["empty"]),
    ("empty-txt", empty("empty.txt"), ["empty"]),
    ("empty-png", empty("empty.png"), ["empty"]),
    ("truncated-png", truncated_png, ["not a readable image", "truncated"]),
    ("truncated-jpeg", truncated_jpeg, ["not a readable image", "truncated"]),
    ("text-named-png", text_named_png, ["not a readable image"]),
    ("huge-png-header", huge_png_header, ["pixels"]),
    ("binary-txt", binary_txt, ["binary"]),
    ("undecodable-txt", undecodable_txt, ["utf-8", "encoding"]),
    ("unknown-extension", unknown_extension, ["unsupported file type", ".xyz"]),
    ("empty-html", empty_html, ["no visible text"]),
    # Used to count as ingested, with 0 nodes and no line.
    ("png-named-pdf", png_named_pdf, ["png image", "not a pdf", "rename it to .png"]),
]


@pytest.mark.parametrize(
    ("make_bad", "words"), [(m, w) for _, m, w in BAD_FILES], ids=[i for i, _, _ in BAD_FILES]
)
def test_bad_file_fails_alone_and_the_run_goes_on(
    fast_rag: RAG, seeded: Path, tmp_path: Path, make_bad: BadMaker, words: list[str]
) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    good = make_pdf(run_dir / "good.pdf", [GOOD_TEXT]).resolve()
    bad = make_bad(run_dir).resolve()
    nodes_before = fast_rag.store.count(user=None)

    # The bad file goes first so the good one is processed after the failure.
    report = fast_rag.ingest([bad, good])

    assert not report.ok
    assert len(report.failed) == 1
    failure = report.failed[0]
    assert failure.path == str(bad)
    for word in words:
        assert word in failure.reason.lower(), failure.reason
    assert report.ingested == 1
    assert report.interrupted is False
    # The good file is searchable, the bad one left no trace, the old content is intact.
    source, text = top_hit(fast_rag, "zebrafish migrate river delta")
    assert source == str(good)
    assert "Zebrafish" in text
    assert str(bad) not in fast_rag.store.sources(user=None)
    assert str(bad) not in fast_rag.store.files.records("")
    assert_baseline_intact(fast_rag, seeded)
    assert sum(fast_rag.store.count(user=None).values()) > sum(nodes_before.values())


def test_missing_directory_is_reported_and_the_run_goes_on(
    fast_rag: RAG, seeded: Path, tmp_path: Path
) -> None:
    good = tmp_path / "good.txt"
    good.write_text(GOOD_TEXT, encoding="utf-8")
    missing = tmp_path / "no" / "such" / "dir"
    report = fast_rag.ingest([missing, good])
    assert not report.ok
    assert report.failed == [FileFailure(str(missing), "no such file or directory")]
    assert report.ingested == 1
    assert top_hit(fast_rag, "zebrafish migrate river delta")[0] == str(good.resolve())
    assert_baseline_intact(fast_rag, seeded)


def test_every_bad_file_in_one_run_is_listed_once(
    fast_rag: RAG, seeded: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "mixed"
    run_dir.mkdir()
    bad = {make(run_dir).resolve() for _, make, _ in BAD_FILES}
    goods = []
    for i, animal in enumerate(["Wombats", "Pangolins", "Narwhals"]):
        path = run_dir / f"good{i}.txt"
        path.write_text(f"{animal} are the subject of note {i}.", encoding="utf-8")
        goods.append(path.resolve())
    missing = tmp_path / "missing-dir"

    # The directory walk picks up every bad file but data.xyz, which is given explicitly.
    report = fast_rag.ingest([run_dir, run_dir / "data.xyz", missing])

    failed = [f.path for f in report.failed]
    assert sorted(failed) == sorted([*map(str, bad), str(missing)])
    assert len(failed) == len(set(failed))
    assert report.ingested == len(goods)
    assert not report.ok
    for path, animal in zip(goods, ["Wombats", "Pangolins", "Narwhals"], strict=True):
        assert top_hit(fast_rag, animal)[0] == str(path)
    assert_baseline_intact(fast_rag, seeded)


def test_unsupported_file_inside_a_directory_is_counted_not_failed(
    fast_rag: RAG, tmp_path: Path
) -> None:
    root = tmp_path / "dir"
    root.mkdir()
    (root / "notes.txt").write_text(GOOD_TEXT, encoding="utf-8")
    (root / "data.xyz").write_text("no loader", encoding="utf-8")
    (root / "sheet.xlsx").write_bytes(junk(100))
    report = fast_rag.ingest([root])
    assert report.ok
    assert report.failed == []
    assert report.unsupported == 2
    assert sorted(Path(p).name for p in report.unsupported_files) == ["data.xyz", "sheet.xlsx"]
    assert report.ingested == 1


def test_failed_file_is_retried_once_fixed(fast_rag: RAG, tmp_path: Path) -> None:
    path = tmp_path / "later.txt"
    path.write_bytes(b"\x00\x01binary\x00" * 20)
    first = fast_rag.ingest([path])
    assert [f.path for f in first.failed] == [str(path.resolve())]
    assert str(path.resolve()) not in fast_rag.store.files.records("")
    path.write_text(GOOD_TEXT, encoding="utf-8")
    second = fast_rag.ingest([path])
    assert second.ok
    assert second.ingested == 1
    assert second.unchanged == 0
    assert top_hit(fast_rag, "zebrafish delta")[0] == str(path.resolve())


# -- limits ------------------------------------------------------------------------------


def test_image_beyond_max_image_pixels_fails_with_the_setting_named(tmp_path: Path) -> None:
    rag = RAG.open(tmp_path / "store", pipeline=fast_pipeline(ingest={"max_image_pixels": 1000}))
    big = tmp_path / "photo.png"
    text_image("BIG", size=(200, 100)).save(big)
    good = tmp_path / "good.txt"
    good.write_text(GOOD_TEXT, encoding="utf-8")
    report = rag.ingest([big, good])
    assert not report.ok
    assert len(report.failed) == 1
    assert report.failed[0].path == str(big.resolve())
    reason = report.failed[0].reason
    assert "200x100" in reason
    assert "1,000" in reason
    assert "ingest.max_image_pixels" in reason
    assert report.ingested == 1
    assert top_hit(rag, "zebrafish delta")[0] == str(good.resolve())


def test_oversized_image_inside_a_pdf_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    rag = RAG.open(tmp_path / "store", pipeline=fast_pipeline(ingest={"max_image_pixels": 1000}))
    pdf = pdf_with_image(tmp_path / "report.pdf").resolve()
    report = rag.ingest([pdf])
    assert report.ok
    assert report.ingested == 1
    assert report.images == 0
    assert len(report.warnings) == 1
    assert "ingest.max_image_pixels" in report.warnings[0]
    assert str(pdf) in report.warnings[0]
    assert top_hit(rag, "lighthouse budget zebrafish")[0] == str(pdf)


def test_huge_image_reason_names_the_max_image_pixels_setting(
    fast_rag: RAG, tmp_path: Path
) -> None:
    path = huge_png_header(tmp_path)
    report = fast_rag.ingest([path])
    assert len(report.failed) == 1
    reason = report.failed[0].reason
    assert "ingest.max_image_pixels" in reason
    assert "not a readable image" not in reason


def test_raised_max_image_pixels_is_honoured(tmp_path: Path) -> None:
    rag = RAG.open(
        tmp_path / "store", pipeline=fast_pipeline(ingest={"max_image_pixels": 500_000_000})
    )
    path = tmp_path / "panorama.png"
    path.write_bytes(png_header_only(15_000, 15_000))  # 225M px: under the configured limit
    report = rag.ingest([path])
    assert len(report.failed) == 1  # the header has no pixel data: it fails, but not for size
    assert "decompression bomb" not in report.failed[0].reason.lower()


# -- warnings are not failures -----------------------------------------------------------


def test_markdown_with_missing_and_remote_images_is_ingested_with_warnings(
    fast_rag: RAG, tmp_path: Path
) -> None:
    path = tmp_path / "guide.md"
    path.write_text(
        f"# Guide\n\n{GOOD_TEXT}\n\n![gone](img/missing.png)\n\n![logo](https://example.com/l.png)\n",
        encoding="utf-8",
    )
    report = fast_rag.ingest([path])
    assert report.ok
    assert report.failed == []
    assert report.ingested == 1
    assert len(report.warnings) == 2
    assert any("img/missing.png" in w for w in report.warnings)
    assert any("https://example.com/l.png" in w for w in report.warnings)
    assert top_hit(fast_rag, "zebrafish delta")[0] == str(path.resolve())


# -- a stored file that goes bad ---------------------------------------------------------


def _age(path: Path, seconds: float) -> None:
    stat = path.stat()
    os.utime(path, (stat.st_atime + seconds, stat.st_mtime + seconds))


@pytest.mark.parametrize(
    ("name", "write_good", "garbage"),
    [
        ("notes.txt", lambda p: p.write_text(GOOD_TEXT, encoding="utf-8"), b"\x00\xff" * 500),
        ("report.pdf", lambda p: make_pdf(p, [GOOD_TEXT]), junk(5000)),
        ("guide.md", lambda p: p.write_text(f"# Guide\n\n{GOOD_TEXT}\n", "utf-8"), b"\x00" * 64),
    ],
    ids=["txt", "pdf", "md"],
)
def test_file_corrupted_after_ingest_keeps_its_stored_nodes(
    fast_rag: RAG,
    tmp_path: Path,
    name: str,
    write_good: Callable[[Path], object],
    garbage: bytes,
) -> None:
    path = tmp_path / name
    write_good(path)
    path = path.resolve()
    first = fast_rag.ingest([path])
    assert first.ok
    assert first.ingested == 1
    before = fast_rag.store.count(user=None)
    record = fast_rag.store.files.records("")[str(path)]
    assert sum(before.values()) > 0

    path.write_bytes(garbage)
    _age(path, 60)
    second = fast_rag.ingest([path])

    assert not second.ok
    assert [f.path for f in second.failed] == [str(path)]
    assert second.ingested == 0
    assert second.unchanged == 0
    # Nothing already stored is lost: same nodes, same ledger entry (retried next run).
    assert fast_rag.store.count(user=None) == before
    assert fast_rag.store.sources(user=None) == [str(path)]
    assert fast_rag.store.files.records("")[str(path)].sha256 == record.sha256
    source, text = top_hit(fast_rag, "zebrafish migrate river delta")
    assert source == str(path)
    assert "Zebrafish" in text
    # Still failing on the next run, not silently marked as done.
    third = fast_rag.ingest([path])
    assert [f.path for f in third.failed] == [str(path)]


def _truncated_text_pdf(path: Path, fraction: float) -> Path:
    pages = [f"{GOOD_TEXT} Page {n} of the zebrafish survey." for n in ("one", "two", "three")]
    whole = make_pdf(path.with_name("whole-" + path.name), pages)
    data = whole.read_bytes()
    whole.unlink()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path.resolve()


def test_truncated_text_pdf_is_reported(fast_rag: RAG, tmp_path: Path) -> None:
    path = _truncated_text_pdf(tmp_path / "half.pdf", 0.5)
    report = fast_rag.ingest([path])
    reported = failures_for(report, path) or [w for w in report.warnings if str(path) in w]
    assert reported, report.to_dict()


def test_stored_pdf_truncated_later_keeps_its_nodes(fast_rag: RAG, tmp_path: Path) -> None:
    path = tmp_path / "survey.pdf"
    pages = [f"{GOOD_TEXT} Page {n} of the zebrafish survey." for n in ("one", "two", "three")]
    make_pdf(path, pages)
    path = path.resolve()
    assert fast_rag.ingest([path]).ok
    before = fast_rag.store.count(user=None)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.3)])
    _age(path, 60)
    report = fast_rag.ingest([path])
    assert fast_rag.store.count(user=None) == before, report.to_dict()


# -- hostile folders: one line per odd entry, nothing outside the roots ---------------


def test_symlink_loop_costs_one_line_not_the_run(fast_rag: RAG, tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    os.symlink("b.txt", d / "a.txt")
    os.symlink("a.txt", d / "b.txt")
    (d / "ok.txt").write_text(GOOD_TEXT, encoding="utf-8")
    report = fast_rag.ingest([d])  # raised RuntimeError from discovery before
    assert report.ok
    assert report.ingested == 1
    assert sorted(Path(f.path).name for f in report.ignored) == ["a.txt", "b.txt"]
    assert all("symlink loop" in f.reason for f in report.ignored)
    assert top_hit(fast_rag, "zebrafish delta")[0] == str((d / "ok.txt").resolve())


@pytest.mark.timeout(60)
def test_fifo_with_a_known_suffix_does_not_hang(fast_rag: RAG, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.txt")
    (tmp_path / "ok.txt").write_text(GOOD_TEXT, encoding="utf-8")
    report = fast_rag.ingest([tmp_path])  # blocked forever reading the pipe before
    assert report.ingested == 1
    assert [(Path(f.path).name, "named pipe" in f.reason) for f in report.ignored] == [
        ("pipe.txt", True)
    ]


def test_linked_file_outside_the_roots_is_not_stored_unless_allowed(
    fast_rag: RAG, tmp_path: Path
) -> None:
    rag = fast_rag
    docs, outside = tmp_path / "docs", tmp_path / "outside"
    docs.mkdir()
    outside.mkdir()
    text_image("OUTSIDE", size=(300, 200)).save(outside / "secret.png")
    guide = docs / "guide.md"
    guide.write_text(f"# Guide\n\n{GOOD_TEXT}\n\n![s](../outside/secret.png)\n", "utf-8")

    report = rag.ingest([docs])
    assert report.ok and report.ingested == 1 and report.images == 0
    assert len(report.warnings) == 1
    assert "../outside/secret.png" in report.warnings[0]
    assert "outside the folders being ingested" in report.warnings[0]

    guide.write_text(guide.read_text("utf-8") + "\nChanged.\n", "utf-8")
    allowed = rag.ingest([docs], allow_links_outside=[outside])
    assert allowed.ok and allowed.images == 1 and allowed.warnings == []


def test_plain_cli_output_names_warnings_ignored_and_unsupported(
    tmp_path: Path, fast_yaml: Path
) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "guide.md").write_text(f"{GOOD_TEXT}\n\n![l](https://example.com/l.png)\n", "utf-8")
    (d / "data.xyz").write_text("no loader", encoding="utf-8")
    os.symlink("nowhere.txt", d / "dangling.txt")
    args = ["ingest", str(d), "-s", str(tmp_path / "store"), "-p", str(fast_yaml)]

    result = CliRunner().invoke(app, args)

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    # Before, the remote image showed only with --json, the others only as a count.
    assert any("warning:" in x and "remote image not fetched" in x for x in lines)
    assert any("not read:" in x and "dangling.txt" in x and "dangling" in x for x in lines)
    assert any("unsupported:" in x and "data.xyz" in x for x in lines)
    report = json.loads(CliRunner().invoke(app, [*args, "--json"]).stdout)
    assert report["unsupported"] == len(report["unsupported_files"]) == 1


def test_plain_cli_output_caps_warnings_not_json(tmp_path: Path, fast_yaml: Path) -> None:
    links = "".join(f"![x](https://example.com/{i}.png)\n\n" for i in range(130))
    (tmp_path / "page.md").write_text(f"{GOOD_TEXT}\n\n{links}", encoding="utf-8")
    args = [
        "ingest",
        str(tmp_path / "page.md"),
        "-s",
        str(tmp_path / "store"),
        "-p",
        str(fast_yaml),
    ]
    lines = CliRunner().invoke(app, args).output.splitlines()
    assert sum("remote image not fetched" in x for x in lines) == 100
    assert any("… and 30 more (--json lists them all)" in x for x in lines)
    args[args.index("-s") + 1] = str(tmp_path / "store2")
    report = json.loads(CliRunner().invoke(app, [*args, "--json"]).stdout)
    assert len(report["warnings"]) == 130


def test_aingest_passes_allow_links_outside(fast_rag: RAG, tmp_path: Path) -> None:
    import asyncio

    (tmp_path / "docs").mkdir()
    (tmp_path / "shared").mkdir()
    text_image("LOGO", size=(300, 200)).save(tmp_path / "shared" / "logo.png")
    page = tmp_path / "docs" / "page.md"
    page.write_text(f"{GOOD_TEXT}\n\n![logo](../shared/logo.png)\n", encoding="utf-8")
    report = asyncio.run(
        fast_rag.aingest([tmp_path / "docs"], allow_links_outside=[tmp_path / "shared"])
    )
    assert report.ok and report.images == 1 and report.warnings == []
