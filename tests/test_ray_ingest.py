"""Distributed ingest on a real local Ray cluster gives the store a local ingest gives.

The slow tests start a head and one worker node on 127.0.0.1 (``ray start --block`` as
separate processes, one CPU each; about 20 s) and stop exactly those processes after.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mmrag import RAG
from mmrag.config import PipelineConfig
from mmrag.errors import ClusterError, MissingDependencyError
from mmrag.ingest import IngestReport, NullProgress
from tests.conftest import fast_pipeline, text_image

ANIMALS = [
    "otter", "heron", "walrus", "quokka", "axolotl", "lynx", "puffin", "ibex", "gecko",
    "marmot", "narwhal", "tapir", "okapi", "dingo", "kiwi", "wombat", "bison", "gibbon",
    "lemur", "manatee", "pangolin", "serval",
]  # fmt: skip
#: Made-up words, a few per file, so that every file scores differently for a query (a
#: template repeated across files gives ties, ranked in whatever order rows were written).
WORDS = [a + b + c for a in "bdfgklmnprstvz" for b in "aeiou" for c in ("n", "r", "sk", "lt")]


Hit = tuple[str, int | None, str]


def _words(i: int, n: int = 12) -> list[str]:
    return random.Random(i).sample(WORDS, n)


QUERIES = [" ".join([ANIMALS[i], *_words(i)[:2]]) for i in range(18)] + [
    "harbour map",
    "delta chart",
]


def _pipeline() -> PipelineConfig:
    # OCR makes the images count: image and summary nodes come back from the workers too,
    # and so do the text nodes' token vectors.
    return fast_pipeline(ocr={"type": "rapidocr"}, late_interaction=True)


def _token_vectors(rag: RAG) -> dict[str, list[float]]:
    ids = [r["id"] for r in rag.store._nodes_table().search().select(["id"]).limit(None).to_list()]
    return {k: v.round(4).tolist() for k, v in rag.store.token_vectors(ids, 64).items()}


def _corpus(root: Path) -> Path:
    """22 text and Markdown files, two guides linking an image each, two more PNG images
    and one corrupt PDF: 28 files to ingest (six images) and one to fail."""
    (root / "img").mkdir(parents=True)
    for i, animal in enumerate(ANIMALS):
        words = _words(i)
        facts = f"The {animal} eats {' '.join(words[:6])}. It lives near {' '.join(words[6:])}."
        if i % 2:
            (root / f"{animal}.txt").write_text(facts, encoding="utf-8")
        else:
            body = f"# The {animal}\n\n{facts}\n\n## Habitat\n\n{' '.join(words[3:9])}.\n"
            (root / f"{animal}.md").write_text(body, encoding="utf-8")
    for word in ("HARBOUR MAP", "DELTA CHART"):
        name = word.split()[0].lower()
        text_image(word).save(root / "img" / f"{name}.png")
        (root / f"{name}_guide.md").write_text(
            f"# {word.title()}\n\nSee the {name}.\n\n![{word}](img/{name}.png)\n", encoding="utf-8"
        )
    text_image("LIGHTHOUSE").save(root / "lighthouse.png")
    text_image("FERRY TIMES").save(root / "ferry.png")
    (root / "broken.pdf").write_bytes(b"%PDF-1.7\nnot really a pdf\n")
    return root


def _top(rag: RAG) -> list[tuple[Hit, frozenset[Hit]]]:
    """Per query: the best hit, and the best five as a set.

    Their order is not compared: scores far down the list (~0.01 against ~0.7 for the
    best) move by ~1e-4 with how the rows were split into commits (Ray commits a slice
    at a time), enough to swap two near-equal neighbours.
    """
    found = []
    for query in QUERIES:
        hits = [(h.node.source, h.node.page, h.node.text) for h in rag.search(query, k=5)]
        found.append((hits[0], frozenset(hits)))
    return found


def _failed(report: IngestReport) -> list[str]:
    return sorted(Path(f.path).name for f in report.failed)


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    pytest.importorskip("ray")
    from mmrag.ingest.ray_cluster import LocalRayCluster

    with LocalRayCluster(workers=1, cpus_per_node=1) as address:
        yield address


class _StopAfterFirstWrite(NullProgress):
    """Interrupts the run (as Ctrl-C would) once the first group has been written."""

    def advance(self, *, files: int = 0, pages: int = 0, images: int = 0) -> None:
        if pages or images or files > 1:
            raise KeyboardInterrupt


@pytest.mark.slow
def test_ray_ingest_matches_local(tmp_path: Path, ray_address: str) -> None:
    docs = _corpus(tmp_path / "docs")
    local = RAG.open(tmp_path / "local", pipeline=_pipeline())
    local_report = local.ingest([docs])
    remote = RAG.open(tmp_path / "ray", pipeline=_pipeline())
    remote_report = remote.ingest([docs], cluster=ray_address)

    assert remote_report.counts == local_report.counts
    assert remote_report.counts["ingested"] == 28
    assert _failed(remote_report) == _failed(local_report) == ["broken.pdf"]
    assert remote_report.images == local_report.images == 6
    assert remote.stats().nodes == local.stats().nodes
    assert _top(remote) == _top(local)
    assert _token_vectors(remote) == _token_vectors(local) != {}

    again = remote.ingest([docs], cluster=ray_address)
    assert (again.ingested, again.unchanged, again.nodes_written) == (0, 28, 0)

    (docs / "otter.md").write_text("# The otter\n\nOtters now eat sea urchins.\n")
    changed = remote.ingest([docs], cluster=ray_address)
    assert (changed.ingested, changed.unchanged) == (1, 27)
    assert remote.search("sea urchins", k=1)[0].node.source.endswith("otter.md")


@pytest.mark.slow
def test_interrupted_ray_ingest_resumes(tmp_path: Path, ray_address: str) -> None:
    docs = _corpus(tmp_path / "docs")
    rag = RAG.open(tmp_path / "store", pipeline=_pipeline())
    with pytest.raises(KeyboardInterrupt):
        rag.ingest([docs], cluster=ray_address, progress=_StopAfterFirstWrite())
    written = rag.stats().files
    assert 0 < written < 28

    resumed = rag.ingest([docs], cluster=ray_address)
    assert (resumed.ingested, resumed.unchanged) == (28 - written, written)
    full = RAG.open(tmp_path / "local", pipeline=_pipeline())
    full.ingest([docs])
    assert rag.stats().nodes == full.stats().nodes


def test_unreachable_cluster_is_one_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    (tmp_path / "a.txt").write_text("hello", encoding="utf-8")
    address = "127.0.0.1:9"  # discard: nothing listens there
    rag = RAG.open(tmp_path / "store", pipeline=fast_pipeline())
    with pytest.raises(ClusterError, match=r"cannot reach the Ray cluster at 127\.0\.0\.1:9"):
        rag.ingest([tmp_path / "a.txt"], cluster=address)

    from mmrag.cli import app

    result = CliRunner().invoke(
        app, ["ingest", str(tmp_path / "a.txt"), "-s", str(tmp_path / "store"), "--ray", address]
    )
    assert result.exit_code != 0
    assert "127.0.0.1:9" in result.output
    assert "Traceback" not in result.output


def test_missing_ray_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    (tmp_path / "a.txt").write_text("hello", encoding="utf-8")
    rag = RAG.open(tmp_path / "store", pipeline=fast_pipeline())
    with pytest.raises(MissingDependencyError, match=r"\[ray\]"):
        rag.ingest([tmp_path / "a.txt"], cluster="auto")
