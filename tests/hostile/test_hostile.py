"""One ingest of a hostile folder next to good files, through the plain CLI.

It must end (bounded time) without a traceback; name every bad entry on one line with
its reason; store every good file; never open a file outside the folder (an audit hook
on ``open`` proves it); and leave what the store already held untouched.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from corpus import build
from typer.testing import CliRunner

from mmrag import RAG
from mmrag.cli import app

FAST_YAML = (
    "text_embedder: {type: hashing, dim: 64, max_tokens: 64}\n"
    "image_embedder: null\nocr: null\nsummarizer: null\n"
)


def lines_naming(output: str, path: str) -> list[str]:
    return [line for line in output.splitlines() if f"{path}: " in line]


@pytest.mark.timeout(300)
def test_hostile_folder_is_ingested_safely(tmp_path: Path, opened: list[str]) -> None:
    h = build(tmp_path / "corpus", huge_line_bytes=500_000)
    fast = tmp_path / "fast.yaml"
    fast.write_text(FAST_YAML, encoding="utf-8")
    store = tmp_path / "store"
    baseline = tmp_path / "stored" / "baseline.txt"
    baseline.parent.mkdir()
    baseline.write_text("Axolotls regrow their limbs in cold lakes.", encoding="utf-8")
    runner = CliRunner()
    seeded = runner.invoke(app, ["ingest", str(baseline), "-s", str(store), "-p", str(fast)])
    assert seeded.exit_code == 0, seeded.output
    rag = RAG.open(store, create=False)
    before = rag.store.files.records("")[str(baseline.resolve())]
    nodes_before = rag.search("axolotls regrow limbs", k=5, source=str(baseline.resolve()))

    opened.clear()
    started = time.monotonic()
    result = runner.invoke(app, ["ingest", str(h.root), "-s", str(store), "-p", str(fast)])
    reads = list(opened)
    print(f"hostile ingest: {time.monotonic() - started:.1f}s, {h.cases} cases")

    output = result.output
    assert "Traceback" not in output
    assert result.exception is None or isinstance(result.exception, SystemExit), output
    assert result.exit_code == 1  # bad files failed: the run says so, after finishing
    # One line per bad entry, naming it and the reason.
    for bad in h.bad:
        named = lines_naming(output, str(h.root / bad.rel))
        assert len(named) == 1, (bad.name, named)
        assert all(word in named[0].lower() for word in bad.words), (bad.name, named[0])
    for quiet in h.quiet:
        assert not lines_naming(output, str(h.root / quiet))
    # One warning per refused link, naming the document and the link.
    for link in h.links:
        named = [
            x
            for x in lines_naming(output, str(h.root / link.doc))
            if f": {link.src} (" in x or x.endswith(f": {link.src}")
        ]
        assert len(named) == 1, (link.name, named)
        assert all(word in named[0].lower() for word in link.words), (link.name, named[0])
    # Every good file stored; nothing from outside the root stored or even opened.
    rag = RAG.open(store, create=False)
    records = rag.store.files.records("")
    for good in h.good:
        assert str(h.root / good.rel) in records, good.name
        assert records[str(h.root / good.rel)].nodes > 0, good.name
    # Besides those, only the image the Markdown links to (a file the pipeline skips).
    expected = {str(baseline.resolve()), str(h.root / "img" / "inside.png")}
    assert set(records) == expected | {str(h.root / g.rel) for g in h.good}
    forbidden = [str(p) for p in [*h.forbidden, h.outside]]
    forbidden += [os.path.realpath(p) for p in forbidden]  # /proc/self is /proc/<pid>
    assert not [p for p in reads if p.startswith(tuple(forbidden))]
    assert not rag.search("quetzal feathers outside secret", k=3, source=f"{h.outside}/*")
    # What was stored before is untouched.
    assert rag.store.files.records("")[str(baseline.resolve())] == before
    assert [n.node.id for n in rag.search("axolotls", k=5, source=str(baseline.resolve()))] == [
        n.node.id for n in nodes_before
    ]
