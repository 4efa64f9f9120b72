"""File discovery: which files a folder walk takes, and what it names and leaves out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mmrag.config import IngestConfig
from mmrag.errors import UnsupportedFormatError
from mmrag.ingest.discover import Discovery, discover
from mmrag.ingest.loading import load_file

# -- discover ----------------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    files = [
        "a.pdf",
        "b.txt",
        "c.md",
        "notes.odt",  # unsupported
        ".hidden.txt",
        ".git/config.txt",
        "sub/d.png",
        "sub/deep/e.html",
        "sub/deep/f.xyz",  # unsupported
        "sub/.secret/g.txt",
        "drafts/h.txt",
    ]
    for rel in files:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rel, encoding="utf-8")
    return root


def rels(root: Path, files: list[Path]) -> set[str]:
    return {f.relative_to(root.resolve()).as_posix() for f in files}


def test_discover_walks_recursively_and_skips_hidden(tree: Path) -> None:
    found = discover([tree])
    assert rels(tree, found.files) == {
        "a.pdf",
        "b.txt",
        "c.md",
        "sub/d.png",
        "sub/deep/e.html",
        "drafts/h.txt",
    }
    assert all(f.is_absolute() for f in found.files)
    # Named, not failed.
    assert rels(tree, found.unsupported) == {"notes.odt", "sub/deep/f.xyz"}
    assert found.skipped == []
    assert found.missing == []


def test_discover_leaves_a_store_inside_the_folder_out(tree: Path, tmp_path: Path) -> None:
    # Like a hidden folder: a store's tables are data, not documents, and their files
    # would otherwise be listed one by one as unsupported.
    from mmrag import RAG
    from tests.conftest import fast_pipeline

    RAG.open(tree / "store", pipeline=fast_pipeline()).ingest([tmp_path / "docs" / "b.txt"])
    (tree / "other" / "vectors.lance" / "data").mkdir(parents=True)
    (tree / "other" / "vectors.lance" / "data" / "0.lance").write_bytes(b"\0")
    (tree / "other" / "kept.txt").write_text("a document beside a table", encoding="utf-8")
    found = discover([tree])
    assert rels(tree, found.files) >= {"b.txt", "other/kept.txt"}
    assert not any("store" in f.parts or "vectors.lance" in f.parts for f in found.files)
    assert rels(tree, found.unsupported) == {"notes.odt", "sub/deep/f.xyz"}
    assert found.skipped == []


def test_discover_include_globs(tree: Path) -> None:
    assert rels(tree, discover([tree], include=["*.txt"]).files) == {"b.txt", "drafts/h.txt"}
    assert rels(tree, discover([tree], include=["sub/**"]).files) == {
        "sub/d.png",
        "sub/deep/e.html",
    }


def test_discover_exclude_globs(tree: Path) -> None:
    found = discover([tree], exclude=["drafts/*", "*.pdf"])
    assert rels(tree, found.files) == {"b.txt", "c.md", "sub/d.png", "sub/deep/e.html"}
    found = discover([tree], include=["*.txt"], exclude=["drafts/**"])
    assert rels(tree, found.files) == {"b.txt"}


def test_discover_does_not_repeat_files(tree: Path) -> None:
    found = discover([tree, tree / "b.txt", tree / "sub"])
    assert len(found.files) == len(set(found.files)) == 6


def test_discover_takes_explicit_unsupported_file(tree: Path) -> None:
    found = discover([tree / "notes.odt"])
    assert found.files == [(tree / "notes.odt").resolve()]
    assert found.unsupported == []
    with pytest.raises(UnsupportedFormatError, match=r"\.odt"):
        load_file(found.files[0], IngestConfig())


def test_discover_takes_explicit_hidden_file(tree: Path) -> None:
    assert discover([tree / ".hidden.txt"]).files == [(tree / ".hidden.txt").resolve()]


def test_discover_reports_missing_paths(tree: Path, tmp_path: Path) -> None:
    gone = tmp_path / "nope"
    found = discover([gone, tree / "b.txt", "also/missing.pdf"])
    assert found.missing == [str(gone), "also/missing.pdf"]
    assert rels(tree, found.files) == {"b.txt"}


# -- hostile folders: discovery looks, never opens, and names what it leaves out -------


def skipped(found: Discovery) -> dict[str, str]:
    return {Path(s.path).name: s.reason for s in found.skipped}


def test_discover_names_a_symlink_loop_and_takes_the_rest(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    os.symlink("b.txt", d / "a.txt")
    os.symlink("a.txt", d / "b.txt")
    (d / "ok.txt").write_text("hi", encoding="utf-8")
    found = discover([d])  # used to raise RuntimeError("Symlink loop …")
    assert rels(d, found.files) == {"ok.txt"}
    assert set(skipped(found)) == {"a.txt", "b.txt"}
    assert all("symlink loop" in reason for reason in skipped(found).values())


def test_discover_names_a_dangling_symlink(tmp_path: Path) -> None:
    os.symlink("gone.txt", tmp_path / "dangling.txt")
    (tmp_path / "ok.txt").write_text("hi", encoding="utf-8")
    found = discover([tmp_path])
    assert rels(tmp_path, found.files) == {"ok.txt"}
    assert "dangling symlink" in skipped(found)["dangling.txt"]
    assert "gone.txt" in skipped(found)["dangling.txt"]


def test_discover_follows_symlinks_only_inside_the_roots(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "real").mkdir(parents=True)
    outside.mkdir()
    (root / "real" / "in.txt").write_text("inside", encoding="utf-8")
    (outside / "secret.txt").write_text("outside", encoding="utf-8")
    os.symlink(root / "real" / "in.txt", root / "alias.txt")
    os.symlink(outside / "secret.txt", root / "leak.txt")
    os.symlink(outside, root / "leakdir")
    os.symlink(root / "real", root / "mirror")  # a folder reached twice is walked once
    os.symlink(root, root / "real" / "up")  # a folder loop ends

    found = discover([root])
    assert found.files == [(root / "real" / "in.txt").resolve()]
    reasons = skipped(found)
    assert set(reasons) == {"leak.txt", "leakdir"}
    assert all("outside the folders being ingested" in r for r in reasons.values())
    assert str(outside / "secret.txt") in reasons["leak.txt"]

    allowed = discover([root], allow_outside=[outside])
    assert (outside / "secret.txt").resolve() in allowed.files
    assert allowed.skipped == []


@pytest.mark.timeout(20)
def test_discover_never_takes_a_fifo_or_a_device(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.txt")
    os.symlink("/dev/zero", tmp_path / "zero.txt")
    (tmp_path / "ok.txt").write_text("hi", encoding="utf-8")
    found = discover([tmp_path], allow_outside=["/dev"])
    assert rels(tmp_path, found.files) == {"ok.txt"}
    reasons = skipped(found)
    assert "named pipe" in reasons["pipe.txt"]
    assert "character device" in reasons["zero.txt"]
    assert "outside" in skipped(discover([tmp_path]))["zero.txt"]
    explicit = discover([tmp_path / "pipe.txt"])
    assert explicit.files == []
    assert "named pipe" in explicit.skipped[0].reason
