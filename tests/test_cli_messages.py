"""Small things the CLI says: counts in the singular when there is one, and a note when an
ingest found nothing it could read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mmrag.cli import app
from mmrag.cli.render import plural
from mmrag.retrieve import SearchFilter
from mmrag.schema import NodeKind
from tests.conftest import birds_rag

runner = CliRunner()


def _ingest(tmp_path: Path, folder: Path, pipeline: Path) -> str:
    store = str(tmp_path / "store")
    result = runner.invoke(app, ["ingest", str(folder), "-s", store, "-p", str(pipeline)])
    assert result.exit_code == 0, result.output
    return result.output


def test_plural() -> None:
    assert plural(1, "result") == "1 result"
    assert plural(0, "result") == "0 results" and plural(2, "result") == "2 results"
    assert plural(2, "labelled search", "labelled searches") == "2 labelled searches"


def test_ingest_summary_counts_one_page_in_the_singular(tmp_path: Path, fast_yaml: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Tapirs have short trunks.", encoding="utf-8")
    output = _ingest(tmp_path, docs, fast_yaml)
    assert "· 1 page, 0 images, 1 node written in" in output
    assert "nothing to ingest" not in output


@pytest.mark.parametrize("files", [[], ["notes.xyz", "data.zzz"]])
def test_ingest_of_nothing_readable_says_so(
    tmp_path: Path, fast_yaml: Path, files: list[str]
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in files:
        (folder / name).write_text("?", encoding="utf-8")
    output = _ingest(tmp_path, folder, fast_yaml)
    assert "0 ingested" in output and ".pdf" in output
    # Compared without white space: the console wraps a long path wherever it must.
    expected = f"note: nothing to ingest in {folder} (no supported files: "
    assert "".join(expected.split()) in "".join(output.split())


def test_the_note_names_the_paths_given(capsys: pytest.CaptureFixture[str]) -> None:
    from mmrag.cli import render
    from mmrag.ingest import IngestReport

    render.ingest_report(IngestReport(), paths=["docs", "scans"])
    assert "note: nothing to ingest in docs, scans (no supported files: " in capsys.readouterr().err


def test_search_says_when_nothing_is_close(tmp_path: Path, fast_yaml: Path) -> None:
    """With the pipeline's ask bar on, an off-topic search is told its hits are only the
    nearest; an on-topic one is not."""
    pipeline = tmp_path / "bar.yaml"
    pipeline.write_text(
        fast_yaml.read_text(encoding="utf-8") + "generation: {min_similarity: 0.3}\n",
        encoding="utf-8",
    )
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Tapirs have short trunks.", encoding="utf-8")
    _ingest(tmp_path, docs, pipeline)
    store = str(tmp_path / "store")
    far = runner.invoke(app, ["search", "quantum chromodynamics lattice", "-s", store])
    assert far.exit_code == 0 and "note: nothing is close to" in far.output
    near = runner.invoke(app, ["search", "tapirs have short trunks", "-s", store])
    assert near.exit_code == 0 and "nothing is close" not in near.output


def test_ask_reads_only_the_pages_and_kinds_asked_for(tmp_path: Path, fast_yaml: Path) -> None:
    """ask takes search's --pages and --kind; the API's ask and prompt take filters."""
    rag = birds_rag(tmp_path, generation={"answerer": "extractive"})
    prompt = rag.prompt("Which bird sings at dawn?", filters=SearchFilter(pages=(3, 3)))
    assert prompt.context and {c.node.page for c in prompt.context} == {3}
    assert not rag.prompt("wren", filters=SearchFilter(kinds=(NodeKind.IMAGE,))).context

    pipeline = tmp_path / "quoting.yaml"
    pipeline.write_text(
        fast_yaml.read_text(encoding="utf-8") + "generation: {answerer: extractive}\n",
        encoding="utf-8",
    )
    ask = ["ask", "Which bird sings at dawn?", "-s", str(tmp_path / "store"), "-p", str(pipeline)]
    answer = json.loads(runner.invoke(app, [*ask, "--pages", "2", "--json"]).stdout)
    assert {c["page"] for c in answer["context"]} == {2}
    bad = runner.invoke(app, [*ask, "--pages", "x-y"])
    assert bad.exit_code == 2 and "--pages" in bad.output
