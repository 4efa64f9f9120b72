"""User namespaces: the shared corpus plus one's own rows, nothing else, whatever the input."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmrag import RAG
from mmrag.errors import InvalidNameError
from mmrag.store.filters import read_scope, sql_str, validate_user


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def scoped(fast_rag: RAG, tmp_path: Path) -> RAG:
    _write(tmp_path / "shared" / "handbook.txt", "The cafeteria opens at eight.")
    _write(tmp_path / "alice" / "diary.txt", "Alice keeps a pet tortoise named Sheldon.")
    _write(tmp_path / "bob" / "diary.txt", "Bob hides the spare key under the flowerpot.")
    assert fast_rag.ingest([tmp_path / "shared"]).ok
    assert fast_rag.ingest([tmp_path / "alice"], user="alice").ok
    assert fast_rag.ingest([tmp_path / "bob"], user="bob").ok
    return fast_rag


def _sources(rag: RAG, query: str, user: str | None) -> set[str]:
    return {Path(h.node.source).parent.name for h in rag.search(query, user=user, k=20)}


def test_each_user_sees_shared_plus_own(scoped: RAG) -> None:
    assert _sources(scoped, "tortoise key cafeteria", "alice") == {"shared", "alice"}
    assert _sources(scoped, "tortoise key cafeteria", "bob") == {"shared", "bob"}
    assert _sources(scoped, "tortoise key cafeteria", None) == {"shared"}


def test_counts_are_scoped(scoped: RAG) -> None:
    assert scoped.stats(user="alice").files == 2
    assert scoped.stats(user=None).files == 1
    assert sum(scoped.stats(user="bob").nodes.values()) == 2


@pytest.mark.parametrize(
    "crafted",
    [
        "alice' OR '1'='1",
        "x') OR (user = 'bob",
        "bob\x00",
        "../bob",
        "",  # empty is the shared corpus, allowed: see test_each_user_sees_shared_plus_own
        "a" * 65,
        "al ice",
        "ålice",
    ],
)
def test_crafted_user_names_are_refused(scoped: RAG, crafted: str) -> None:
    if crafted == "":
        assert _sources(scoped, "tortoise key", crafted) == {"shared"}
        return
    with pytest.raises(InvalidNameError):
        scoped.search("tortoise key", user=crafted)


def test_query_text_cannot_break_out_of_the_filter(scoped: RAG) -> None:
    for query in ["') OR user = 'bob' --", "key' OR 1=1 --", "flowerpot\\' OR TRUE"]:
        assert "bob" not in _sources(scoped, query, "alice")


def test_filter_literals_are_escaped() -> None:
    assert sql_str("it's") == "'it''s'"
    assert read_scope("alice") == "user IN ('', 'alice')"
    assert validate_user(None) == ""
    with pytest.raises(InvalidNameError):
        sql_str("a\x00b")


def test_source_paths_with_quotes_are_stored_and_replaced(fast_rag: RAG, tmp_path: Path) -> None:
    odd = _write(tmp_path / 'it\'s a "test" (1).txt', "Narwhals have one long tooth.")
    assert fast_rag.ingest([odd]).ok
    odd.write_text("Narwhals live in the Arctic.", encoding="utf-8")
    report = fast_rag.ingest([odd])
    assert report.ingested == 1
    texts = [h.node.text for h in fast_rag.search("narwhals", k=10)]
    assert texts == ["Narwhals live in the Arctic."]


def test_user_ingest_does_not_touch_shared_file_of_same_path(fast_rag: RAG, tmp_path: Path) -> None:
    doc = _write(tmp_path / "same.txt", "Shared version about otters.")
    assert fast_rag.ingest([doc]).ok
    assert fast_rag.ingest([doc], user="carol").ok
    doc.unlink()
    assert fast_rag.ingest([tmp_path], user="carol", prune=True).pruned == 1
    # carol's copy is gone, the shared copy stays for everyone.
    hits = fast_rag.search("otters", user="dave")
    assert [h.node.user for h in hits] == [""]


def test_source_filter_matches_tails_and_globs(scoped: RAG) -> None:
    assert _sources(scoped, "tortoise", "alice") == {"shared", "alice"}
    only = {Path(h.node.source).name for h in scoped.search("x", user="alice", source="diary.txt")}
    assert only == {"diary.txt"}
    assert _dirs(scoped.search("x", user="alice", source="shared/*.txt")) == {"shared"}
    # bob's diary matches the pattern but is not alice's to see.
    assert _dirs(scoped.search("x", user="alice", source=["*/diary.txt"])) == {"alice"}
    assert scoped.search("x", user="alice", source="%") == []
    assert scoped.search("x", user="alice", source="diary_txt") == []


def test_source_filter_matches_the_files_under_a_folder(
    scoped: RAG, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def under(folder: str) -> set[str]:
        return _dirs(scoped.search("x", user="alice", k=20, source=folder))

    assert under("alice") == {"alice"}  # a folder tail, like a file name
    assert under(str(tmp_path / "alice")) == under(f"{tmp_path}/alice/") == {"alice"}
    assert under(tmp_path.name) == {"shared", "alice"}  # bob's folder is not alice's
    monkeypatch.chdir(tmp_path / "bob")
    assert under("../shared") == {"shared"}  # relative to the working directory
    assert under("alic") == set()  # only whole folder names


def _dirs(hits: list) -> set[str]:  # type: ignore[type-arg]
    return {Path(h.node.source).parent.name for h in hits}
