"""A hostile folder to ingest: every bad input an attack run found, next to good files.

``build(base)`` writes ``base/root`` (what is ingested) and ``base/outside`` (what must
never be read: a sentinel image, a secret text file), and returns what a correct ingest
must do with each entry: good files stored; bad entries named on one line with words of
the reason; linked files outside the root never opened. Self-contained (PyMuPDF and
Pillow only), so ``measure.py`` can run it against any checkout of mmrag.
"""

from __future__ import annotations

import io
import os
import random
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pymupdf
from PIL import Image, ImageDraw


@dataclass(frozen=True, slots=True)
class Bad:
    """An entry that must not be ingested and must be named with these reason words."""

    name: str
    rel: str
    words: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Good:
    """A file that must be stored; ``phrase`` finds it."""

    name: str
    rel: str
    phrase: str


@dataclass(frozen=True, slots=True)
class Link:
    """A link in a good document that must be refused with a warning naming it."""

    name: str
    doc: str
    src: str
    words: tuple[str, ...]


@dataclass(slots=True)
class Hostile:
    root: Path
    outside: Path
    bad: list[Bad] = field(default_factory=list)
    good: list[Good] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    #: Entries that must neither hang nor be named (a folder symlink back into the root).
    quiet: list[str] = field(default_factory=list)
    #: Files no ingest of ``root`` may open.
    forbidden: list[Path] = field(default_factory=list)

    @property
    def cases(self) -> int:
        return len(self.bad) + len(self.good) + len(self.links) + len(self.quiet)


def png(text: str, size: tuple[int, int] = (320, 200)) -> bytes:
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).text((10, 10), text, fill="black")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A PNG header claiming ``width`` x ``height`` pixels, with a zlib bomb of zeros."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    rows = zlib.compress(b"\x00" * (width + 1) * 64, 9)  # first rows only: small on disk
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def pdf(pages: list[str]) -> bytes:
    doc = pymupdf.open()
    for text in pages:
        page = doc.new_page(width=595, height=842)
        page.insert_textbox(pymupdf.Rect(50, 50, 545, 700), text, fontsize=11)
    data = doc.tobytes()
    doc.close()
    return bytes(data)


def encrypted_pdf(text: str) -> bytes:
    doc = pymupdf.open("pdf", pdf([text]))
    data = doc.tobytes(encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="secret", owner_pw="o")
    doc.close()
    return bytes(data)


def build(base: Path, *, huge_line_bytes: int = 1_000_000, html_depth: int = 20_000) -> Hostile:
    """Write the hostile corpus under ``base`` (resolved); see the module docstring."""
    base = base.resolve()
    root, outside = base / "root", base / "outside"
    root.mkdir(parents=True)
    outside.mkdir()
    h = Hostile(root=root, outside=outside)
    sentinel = outside / "sentinel.png"
    sentinel.write_bytes(png("SENTINEL OUTSIDE THE ROOT"))
    secret = outside / "secret.txt"
    secret.write_text("Outside secret: quetzal feathers are never ingested.", encoding="utf-8")
    h.forbidden += [sentinel, secret, Path("/etc/passwd"), Path("/proc/self/environ")]

    def write(rel: str, data: bytes | str) -> Path:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        else:
            path.write_bytes(data)
        return path

    def good(name: str, rel: str, phrase: str, data: bytes | str | None = None) -> None:
        write(rel, data if data is not None else f"{phrase}.\n")
        h.good.append(Good(name, rel, phrase))

    def bad(name: str, rel: str, data: bytes | str | None, *words: str) -> None:
        if data is not None:
            write(rel, data)
        h.bad.append(Bad(name, rel, words))

    # -- good files, some with odd names -------------------------------------------------
    good("plain", "good/plain.txt", "Capybaras graze beside the slow river")
    good(
        "pdf",
        "good/report.pdf",
        "Lighthouse keepers log the fog",
        pdf(["Lighthouse keepers log the fog."]),
    )
    good(
        "html",
        "good/page.html",
        "Walruses haul out on the ice",
        "<html><body><p>Walruses haul out on the ice.</p></body></html>",
    )
    good("unicode-name", "good/ünïcødé 文件.txt", "Okapis hide in the Ituri forest")
    good("spaces-name", "good/name with  spaces.md", "Pangolins roll into armoured balls")
    good("newline-name", "good/new\nline.txt", "Narwhals sing under the Arctic ice")
    good("long-name", "good/" + "l" * 240 + ".txt", "Axolotls keep their gills for life")
    good(
        "cp1252",
        "good/legacy.txt",
        "Café crème for the jaguar keeper",
        "Café crème for the jaguar keeper — naïve façade.\n".encode("cp1252"),
    )
    write("img/inside.png", png("INSIDE THE ROOT"))
    good(
        "huge-line",
        "good/one-line.md",
        "Quokkas smile on Rottnest",
        "Quokkas smile on Rottnest. " + "word " * (huge_line_bytes // 5),
    )
    good(
        "deep-html",
        "good/deep.html",
        "Tardigrades survive the vacuum",
        "<html><body>"
        + "<div>" * html_depth
        + "Tardigrades survive the vacuum."
        + "</div>" * html_depth
        + "</body></html>",
    )

    # -- documents with hostile links: their text is stored, each link refused ----------
    (root / ".private").mkdir()
    os.mkfifo(root / ".private" / "pipe.png")
    md_links = {
        "abs-outside": (str(sentinel), ("outside",)),
        "relative-outside": ("../../outside/sentinel.png", ("outside",)),
        "file-url-outside": (sentinel.as_uri(), ("outside",)),
        "etc-passwd": ("/etc/passwd", ("outside",)),
        "proc-environ": ("file:///proc/self/environ", ("outside",)),
        "remote": ("https://example.com/tracker.png", ("not fetched",)),
        "fifo-link": (".private/pipe.png", ("named pipe",)),
    }
    body = "".join(f"![{n}]({src})\n\n" for n, (src, _) in md_links.items())
    good(
        "links-md",
        "links.md",
        "Kakapos boom at night",
        f"# Links\n\nKakapos boom at night.\n\n{body}![ok](img/inside.png)\n",
    )
    h.links += [Link(n, "links.md", src, words) for n, (src, words) in md_links.items()]
    good(
        "links-html",
        "links.html",
        "Cassowaries guard the rainforest",
        f'<html><body><p>Cassowaries guard the rainforest.</p><img src="{sentinel}">'
        '<img src="../outside/sentinel.png"><img src="file:///proc/self/environ">'
        '<img src="/etc/passwd"></body></html>',
    )
    h.links += [
        Link("html-abs", "links.html", str(sentinel), ("outside",)),
        Link("html-relative", "links.html", "../outside/sentinel.png", ("outside",)),
        Link("html-proc-environ", "links.html", "file:///proc/self/environ", ("outside",)),
        Link("html-etc-passwd", "links.html", "/etc/passwd", ("outside",)),
    ]

    # -- symlinks ---------------------------------------------------------------------------
    os.symlink("loop_b.txt", root / "loop_a.txt")
    os.symlink("loop_a.txt", root / "loop_b.txt")
    bad("symlink-loop-a", "loop_a.txt", None, "symlink loop")
    bad("symlink-loop-b", "loop_b.txt", None, "symlink loop")
    os.symlink("nowhere.txt", root / "dangling.txt")
    bad("dangling-symlink", "dangling.txt", None, "dangling")
    os.symlink(secret, root / "outside_link.txt")
    bad("symlink-outside", "outside_link.txt", None, "outside")
    os.symlink(outside, root / "outside_dir")
    bad("dir-symlink-outside", "outside_dir", None, "outside")
    os.symlink("/dev/zero", root / "zero.txt")
    bad("device-symlink", "zero.txt", None, "outside")
    (root / "sub").mkdir()
    os.symlink("..", root / "sub" / "up")
    h.quiet.append("sub/up")
    os.symlink("../good/plain.txt", root / "sub" / "alias.txt")  # inside: same file, once

    # -- special files ------------------------------------------------------------------------
    os.mkfifo(root / "pipe.txt")
    bad("fifo", "pipe.txt", None, "named pipe")

    # -- bad content ----------------------------------------------------------------------------
    bad("png-named-pdf", "bad/image.pdf", png("I AM A PNG"), "png", "not a pdf")
    bad("pdf-named-txt", "bad/document.txt", pdf(["hidden pdf"]), "pdf", "not text")
    bad(
        "elf-named-md",
        "bad/program.md",
        b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4,
        "program",
    )
    bad("text-named-png", "bad/liar.png", "plain text wearing a png name\n", "not a readable image")
    bad("corrupt-pdf", "bad/corrupt.pdf", random.Random(7).randbytes(4096), "pdf")
    whole = pdf(["Truncated survey page one.", "Page two.", "Page three."])
    bad("truncated-pdf", "bad/truncated.pdf", whole[: len(whole) // 2], "damaged pdf")
    bad("encrypted-pdf", "bad/encrypted.pdf", encrypted_pdf("locked"), "encrypted")
    for ext in ("pdf", "txt", "md", "html", "png"):
        bad(f"empty-{ext}", f"bad/empty.{ext}", b"", "empty")
    bad("bomb-png", "bad/bomb.png", png_claiming(30_000, 30_000), "pixels")
    bad(
        "undecodable-txt",
        "bad/garbled.txt",
        random.Random(11).randbytes(3000).replace(b"\x00", b"\x01"),
        "encoding",
    )
    bad("binary-txt", "bad/nul.txt", b"abc\x00def" * 100, "binary")
    return h
