"""Stores in object storage, end to end, against a real S3-protocol server on 127.0.0.1.

``moto_server`` (package ``moto[server]``) speaks S3 over real HTTP; LanceDB talks to it
exactly as it would to AWS, configured by the usual AWS environment variables or by
settings on the store URI. Nothing here is mocked inside the process.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from mmrag import RAG
from mmrag.cli import app
from mmrag.errors import ConfigError, StoreError
from mmrag.schema import NodeKind
from mmrag.store import Store, indexing
from mmrag.store.hits import RowHits, read_hits
from tests.conftest import fast_pipeline
from tests.test_ann_search import DIM, LIMIT, _exact, _nodes, _write

boto3 = pytest.importorskip("boto3")
pytest.importorskip("moto")

# About 30 s of CPU (most of it the end-to-end test's image model): more than the default
# suite should spend on one feature, so `.ci/run` runs this module explicitly.
pytestmark = pytest.mark.network

BUCKET = "mmrag-test"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on a free loopback port, with the test bucket made."""
    port = _free_port()
    server = Path(sys.executable).with_name("moto_server")
    command = [str(server)] if server.exists() else [sys.executable, "-m", "moto.server"]
    process = subprocess.Popen(
        [*command, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, "moto_server exited"
                assert time.monotonic() < deadline, "moto_server did not start in 30 s"
                time.sleep(0.1)
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            region_name="us-east-1",
        )
        client.create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def s3_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The AWS settings a user would export for this server."""
    for name, value in {
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
    }.items():
        monkeypatch.setenv(name, value)
    return s3_endpoint


def _pipeline() -> object:
    # Images get features (so they are stored and searchable); answers are extractive,
    # so no language model is loaded. The bar is fitted for MiniLM's similarities, not the
    # hashing embedder's: at 0 the best passage is quoted, which is what these tests need
    # to see stored text come back through ask.
    return fast_pipeline(
        image_embedder="efficientnet-lite0",
        generator=None,
        generation={"answerer": "extractive", "extractive": {"bar": 0.0}},
    )


def _uri(name: str) -> str:
    return f"s3://{BUCKET}/{name}-{time.time_ns()}"


def _photo(path: Path, colour: tuple[int, int, int]) -> Path:
    Image.new("RGB", (200, 160), colour).save(path)
    return path


def test_end_to_end_on_object_storage(
    s3_env: str, make_corpus: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mmrag.evaluate.dataset import Evidence, Example
    from mmrag.evaluate.datasets import DatasetSpec
    from mmrag.evaluate.runner import EvalSettings, evaluate_example

    monkeypatch.chdir(tmp_path)  # anything written locally by mistake would land here
    root = make_corpus()
    uri = _uri("e2e")
    rag = RAG.open(uri, pipeline=_pipeline())
    report = rag.ingest([root])
    assert report.ok and report.ingested == 5, report.to_dict()

    hits = rag.search("Where does the quokka live?", k=3)
    assert hits[0].node.source.endswith("guide.md")
    answer = rag.ask("Where does the quokka live?")
    assert answer.answerable and "Rottnest" in answer.text

    # The image's bytes are inside the store: readable after the file is gone.
    harbour = root / "img" / "harbour.png"
    picture = Image.open(harbour).convert("RGB")
    harbour.unlink()
    found = rag.search(image=picture, k=1)[0].node
    assert found.image_id and found.metadata.get("width") == picture.width
    stored = rag.image(found.image_id)
    assert stored is not None and stored.size == picture.size

    mine = rag.memories("alice")
    mine.add("bo", photos=[_photo(tmp_path / "bo.png", (200, 120, 40))], info="A dog.")
    mine.edit("bo", info="A shiba inu.")
    assert mine.show("bo").info == "A shiba inu."
    assert mine.undo() == "edit <bo>"
    assert mine.show("bo").info == "A dog." and len(mine.show("bo").photo_ids) == 1

    stats = rag.stats().to_dict()
    assert stats["files"] == 5 and stats["total_nodes"] > 0 and "FTS(text)" in stats["indexes"]
    assert stats["live_bytes"] > 0 and stats["size_bytes"] is None  # no folder to sum

    spec = DatasetSpec(name="s3", examples=[], level="file")
    example = Example(
        id="q1",
        question="Which animal lives on Rottnest Island?",
        answer="The quokka",
        evidence=[Evidence(source="guide.md")],
    )
    record = evaluate_example(rag, spec, example, EvalSettings(use_judge=False), None)
    assert record["retrieval"]["hit@5"] == 1.0, record

    # A second process's view: the store is complete and self-contained.
    again = RAG.open(uri)
    assert again.ingest([root]).ingested == 0  # the unlinked image is simply gone now
    assert again.search("walrus tusks", k=1)[0].node.source.endswith("page.html")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bo.png", "corpus"]


def test_cli_on_object_storage(s3_env: str, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Axolotls regrow their limbs.", encoding="utf-8")
    pipeline = tmp_path / "fast.yaml"
    pipeline.write_text(yaml.safe_dump(fast_pipeline().model_dump(mode="json")), encoding="utf-8")
    uri = _uri("cli")
    runner = CliRunner()
    result = runner.invoke(app, ["ingest", str(docs), "--store", uri, "-p", str(pipeline)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["search", "axolotl", "--store", uri, "--json"])
    assert result.exit_code == 0 and "Axolotls regrow" in result.output
    assert runner.invoke(app, ["stats", "--store", uri]).exit_code == 0
    result = runner.invoke(app, ["check", "--store", uri])
    assert result.exit_code == 0 and "store is consistent" in result.output


def test_reading_where_no_store_is_refused_and_writes_nothing(s3_env: str) -> None:
    uri = _uri("absent")
    for command in (["search", "x"], ["stats"], ["check"]):
        result = CliRunner().invoke(app, [*command, "--store", uri])
        assert result.exit_code == 1, result.output
        assert f"no store at {uri}" in result.output.replace("\n", "")
    with pytest.raises(StoreError, match="no store at"):
        RAG.open(uri, create=False)
    client = boto3.client("s3", endpoint_url=s3_env)
    prefix = uri.removeprefix(f"s3://{BUCKET}/")
    assert client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["KeyCount"] == 0


def test_settings_on_the_store_uri(s3_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_ALLOW_HTTP", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name)
    uri = f"{_uri('q')}?endpoint={s3_env}&allow_http=true&region=us-east-1"
    rag = RAG.open(uri, pipeline=fast_pipeline())
    rag.memories("alice").add("bo", info="A dog.")
    assert [m.name for m in RAG.open(uri).memories("alice").list()] == ["<bo>"]
    with pytest.raises(ConfigError, match="unknown setting 'secret'"):
        RAG.open(f"{_uri('q')}?secret=x")


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"AWS_ALLOW_HTTP": None}, "set AWS_ALLOW_HTTP=true"),
        ({"AWS_ENDPOINT_URL": "http://127.0.0.1:{closed}"}, "cannot reach http://127.0.0.1:"),
        ({"bucket": "no-such-bucket"}, "bucket does not exist"),
    ],
)
def test_a_store_that_cannot_be_used_is_one_clear_line(
    s3_env: str, monkeypatch: pytest.MonkeyPatch, change: dict[str, str | None], says: str
) -> None:
    bucket = change.pop("bucket", None) or BUCKET
    for name, value in change.items():
        if value is None:
            monkeypatch.delenv(name)
        else:
            monkeypatch.setenv(name, value.format(closed=_free_port()))
    uri = f"s3://{bucket}/broken"
    with pytest.raises(StoreError, match=says) as raised:
        RAG.open(uri, pipeline=fast_pipeline())
    assert "\n" not in str(raised.value) and len(str(raised.value)) < 300
    result = CliRunner().invoke(app, ["stats", "--store", uri])
    assert result.exit_code == 1 and says in result.output.replace("\n", "")
    assert "Traceback" not in result.output and "RetryError" not in result.output


@pytest.mark.slow
def test_concurrent_writers_on_object_storage(s3_env: str, tmp_path: Path) -> None:
    """No file lock can work here: the retries and key declarations are the guarantee."""
    from tests.test_concurrency import _child, _finish, _folder, _sequential

    a, b = (_folder(tmp_path / "data", name, 6) for name in ("alpha", "beta"))
    uri = _uri("race")
    writers = [_child("ingest", uri, str(x), str(y)) for x, y in ((a, b), (b, a), (a, b))]
    assert all(_finish(w)["ok"] for w in writers)
    clean_ids, clean_ledger, _ = _sequential(tmp_path, [a, b])
    rag = RAG.open(uri, pipeline=fast_pipeline())
    ids = rag.store._nodes_table().search().select(["id"]).limit(None).to_arrow()
    assert sorted(ids.column("id").to_pylist()) == clean_ids
    assert rag.store.files.table.count_rows() == len(clean_ledger)


def test_indexed_search_on_object_storage(s3_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The paths a large store takes, on S3: the ANN index, the scope applied after its
    walk (row ids, then the survivors' vectors and rows read by id), and one read of a
    vector and a BM25 list — each giving what exact search over the scope gives."""
    monkeypatch.setattr(indexing, "VECTOR_INDEX_MIN_ROWS", 300)
    store = Store.open(_uri("indexed"))
    store.create_nodes_table(DIM, None)
    rng = np.random.default_rng(4)
    rows = {}
    for user, prefix, n in (("", "s", 400), ("alice", "a", 30)):
        vectors = rng.standard_normal((n, DIM)).astype(np.float32)
        _write(store, _nodes(vectors, user, prefix), user)
        rows[user] = (vectors, [f"{prefix}{i}" for i in range(n)])
    # Old versions pruned on S3 too (what `mmrag optimize --prune-older-than 0` runs).
    versions = store.versions()
    store.refresh_indexes(prune_older_than=timedelta(0))
    assert store.versions() < versions
    store.exact.max_rows = 0  # searched through the index, as a large table is
    for query in rng.standard_normal((3, DIM)).astype(np.float32):
        hits = store.vector_search(
            "text_vector", query, user="alice", kinds=[NodeKind.TEXT], limit=LIMIT
        )
        assert [h.node.id for h in hits] == _exact(rows, ["", "alice"], query)
    found = [
        store.find_vector("text_vector", rows[""][0][7], user=None, kinds=[NodeKind.TEXT], limit=5),
        store.find_full_text("row 7", user=None, kinds=[NodeKind.TEXT], limit=5),
    ]
    assert all(isinstance(f, RowHits) for f in found)
    read = read_hits(found)
    assert read is not None and read[0][0].node.id == "s7" == read[1][0].node.id
