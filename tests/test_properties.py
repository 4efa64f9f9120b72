"""Property-based tests of the filter and name layer: whatever a user types as a user
name, source pattern, document id, page range, concept name or query, they never see
another user's rows, and every input either works or is refused with one line."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mmrag import RAG
from mmrag.errors import InvalidNameError, MmragError
from mmrag.memory.names import mentions, plain_name
from mmrag.retrieve import SearchFilter
from mmrag.store.filters import glob_to_like, read_scope, sql_str, validate_user, write_scope
from tests.conftest import fast_pipeline

OWNERS = ("alice", "bob")
HOSTILE = [
    "",
    "alice",
    "bob",
    "alice' OR '1'='1",
    "bob') OR (user = 'alice",
    "' OR TRUE --",
    "%",
    "_",
    "*",
    "\\",
    "alice\\",
    "'; DROP TABLE nodes; --",
    "a\x00b",
    "Ω≈ç",
    "../../etc/passwd",
    "alice%",
    "bo_",
]
texts = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=40))
users = st.one_of(
    st.sampled_from(HOSTILE), st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.@+-]{0,10}", fullmatch=True)
)
RUNS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _one_line(error: BaseException) -> None:
    message = str(error)
    assert message and "\n" not in message and len(message) < 400, message


@pytest.fixture(scope="module")
def rag(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RAG]:
    """A store with the shared corpus and two users' private files, all about otters."""
    root = tmp_path_factory.mktemp("props")
    opened = RAG.open(root / "store", pipeline=fast_pipeline())
    for owner in (None, *OWNERS):
        folder = root / (owner or "shared")
        folder.mkdir()
        for i in range(3):
            (folder / f"notes_{i}.txt").write_text(
                f"Otters of {owner or 'everyone'} number {i}: they hold hands % _ ' \\ *.",
                encoding="utf-8",
            )
        opened.ingest([folder], user=owner)
        opened.memories(owner or "carol").add("bo", info=f"{owner or 'carol'}'s dog")
    yield opened


@RUNS
@given(user=users, query=texts, pattern=texts, doc=texts)
def test_a_user_never_sees_another_users_rows(
    rag: RAG, user: str, query: str, pattern: str, doc: str
) -> None:
    filters = SearchFilter(sources=(pattern,) if pattern else (), docs=(doc,) if doc else ())
    try:
        hits = rag.search(query or "otters", user=user or None, k=20, filters=filters)
    except MmragError as exc:
        _one_line(exc)
        return
    allowed = {"", validate_user(user or None)}
    assert {h.node.user for h in hits} <= allowed


@RUNS
@given(user=users, pattern=texts)
def test_source_patterns_match_what_the_glob_matches(rag: RAG, user: str, pattern: str) -> None:
    """Inside the user's scope, a pattern finds exactly the files whose path the glob
    matches (as a path tail), or that lie under the folder a plain path names: quotes, %
    and _ in a pattern are just characters."""
    assume(validate_ok(user) and "\x00" not in pattern and pattern.strip())
    table = rag.store._nodes_table()
    stored = table.search().where(read_scope(user or None)).select(["source"]).limit(None)
    sources = set(stored.to_arrow().column("source").to_pylist())
    hits = rag.search("otters", user=user or None, k=50, source=pattern)
    expected = {s for s in sources if _source_matches(pattern, s)}
    assert {h.node.source for h in hits} <= expected


@RUNS
@given(name=texts)
def test_every_user_name_works_or_is_refused_in_one_line(rag: RAG, name: str) -> None:
    try:
        ns = validate_user(name)
    except InvalidNameError as exc:
        _one_line(exc)
        with pytest.raises(InvalidNameError):
            rag.search("otters", user=name)
        return
    # A valid name is usable, and its filters can only ever select that name.
    assert write_scope(name) == f"user = {sql_str(ns)}"
    assert {h.node.user for h in rag.search("otters", user=name or None, k=20)} <= {"", ns}


@settings(RUNS, max_examples=30)
@given(name=texts, owner=st.sampled_from(OWNERS))
def test_concept_names_work_or_are_refused_and_stay_private(
    rag: RAG, name: str, owner: str
) -> None:
    mine = rag.memories(owner)
    other = rag.memories(next(o for o in OWNERS if o != owner))
    try:
        added = mine.add(name, info="secret")
    except MmragError as exc:  # an invalid name, or one that exists already ("bo")
        _one_line(exc)
        return
    try:
        assert mine.show(name).id == added.id
        assert all(m.info != "secret" for m in other.list())
        named = other.named_in(f"What about <{name}> and {name}?")
        assert {m.user for m in named} <= {other.user} and added.id not in {m.id for m in named}
        assert mentions(f"tell me about {name}", added.key) in (True, False)  # never raises
    finally:
        mine.remove(name)


@settings(max_examples=300, deadline=None)
@given(name=texts)
def test_plain_names_are_safe_as_file_names(name: str) -> None:
    try:
        key = plain_name(name)
    except InvalidNameError as exc:
        _one_line(exc)
        return
    assert "/" not in key and "\\" not in key and ".." not in key
    assert not key.startswith((".", "-", " ")) and Path(key).name == key


@settings(max_examples=300, deadline=None)
@given(value=st.text(max_size=30))
def test_sql_strings_cannot_be_broken_out_of(value: str) -> None:
    try:
        literal = sql_str(value)
    except InvalidNameError as exc:
        _one_line(exc)
        assert "\x00" in value
        return
    assert literal.startswith("'") and literal.endswith("'")
    inner = literal[1:-1]
    # Every quote inside is doubled: the literal ends only at its last character.
    assert "'" not in inner.replace("''", "")
    assert inner.replace("''", "'") == value


@settings(max_examples=300, deadline=None)
@given(pattern=st.text(max_size=20))
def test_like_patterns_escape_every_wildcard(pattern: str) -> None:
    like = glob_to_like(pattern)
    unescaped = re.sub(r"\\.", "", like)
    assert unescaped.count("%") == pattern.count("*")
    assert unescaped.count("_") == pattern.count("?")


def validate_ok(user: str) -> bool:
    try:
        validate_user(user or None)
    except InvalidNameError:
        return False
    return True


def _source_matches(pattern: str, source: str) -> bool:
    """What ``--source PATTERN`` promises, written as regular expressions instead of SQL."""
    if pattern in (".", "..") or pattern.startswith(("./", "../")):
        pattern = str(Path(pattern).resolve())
    if len(pattern) > 1:
        pattern = pattern.rstrip("/")
    if _glob_tail(pattern).search(source):
        return True
    plain = not any(ch in pattern for ch in "*?")
    return plain and bool(_glob_tail(pattern.rstrip("/") + "/*").search(source))


def _glob_tail(pattern: str) -> re.Pattern[str]:
    body = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    if not pattern.startswith(("/", "*")) and "://" not in pattern:
        body = ".*/" + body
    return re.compile(body + r"\Z", re.DOTALL)
