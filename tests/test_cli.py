"""The CLI through typer's CliRunner: exit codes, tables, JSON, and one-line errors."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from mmrag import RAG
from mmrag.cli import app, render
from mmrag.cli.app import handle_errors, os_error_message, out
from mmrag.cli.help_text import reflow
from mmrag.schema import Node, NodeKind, ScoredNode
from mmrag.timing import timed_load
from tests.conftest import fast_pipeline

runner = CliRunner()


def _docs(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Tapirs have short trunks.", encoding="utf-8")
    (docs / "b.md").write_text("# Sloths\n\nSloths move slowly.", encoding="utf-8")
    return docs


def test_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("ingest", "search", "stats", "demo", "pipelines"):
        assert command in result.output


def test_command_help_flows_to_the_terminal_width() -> None:
    # The docstring breaks "the run goes on and" / "exits with status 1"; at a width where
    # the sentence fits, the help must not break it there.
    result = runner.invoke(app, ["ingest", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "the run goes on and exits" in result.output


def test_reflow_keeps_paragraphs_list_items_and_unwrapped_blocks() -> None:
    text = "First line\nsame paragraph.\n\n- item one\n  continued\n- item two\n\n\bkeep\nlines"
    assert reflow(text) == (
        "First line same paragraph.\n\n- item one continued\n- item two\n\n\bkeep\nlines"
    )


def test_ingest_search_stats_json(tmp_path: Path, fast_yaml: Path) -> None:
    store = str(tmp_path / "store")
    docs = _docs(tmp_path)
    result = runner.invoke(app, ["ingest", str(docs), "-s", store, "-p", str(fast_yaml), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ingested"] == 2 and report["ok"] is True

    result = runner.invoke(app, ["search", "tapirs trunks", "-s", store, "-k", "1", "--json"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)
    assert len(hits) == 1 and hits[0]["source"].endswith("a.txt")

    result = runner.invoke(app, ["stats", "-s", store, "--json"])
    stats = json.loads(result.stdout)
    assert stats["files"] == 2 and stats["nodes"]["text"] == 2


def test_search_prints_a_table(tmp_path: Path, fast_yaml: Path) -> None:
    store = str(tmp_path / "store")
    runner.invoke(app, ["ingest", str(_docs(tmp_path)), "-s", store, "-p", str(fast_yaml)])
    result = runner.invoke(app, ["search", "sloths", "-s", store])
    assert result.exit_code == 0
    assert "b.md" in result.output and "Sloths move slowly" in result.output


def test_failed_files_exit_1_with_one_line_each(tmp_path: Path, fast_yaml: Path) -> None:
    docs = _docs(tmp_path)
    (docs / "broken.pdf").write_bytes(b"%PDF-1.7 this is not really a pdf")
    store = str(tmp_path / "store")
    result = runner.invoke(app, ["ingest", str(docs), "-s", store, "-p", str(fast_yaml)])
    assert result.exit_code == 1
    failed = [line for line in result.output.splitlines() if line.startswith("failed:")]
    assert len(failed) == 1 and "broken.pdf" in failed[0]
    assert "2 ingested" in result.output


def test_missing_store_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["search", "x", "-s", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert "no store at" in result.output
    assert "Traceback" not in result.output


def test_bad_pipeline_setting_names_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("retrieval: {k: 5, topk: 3}\n", encoding="utf-8")
    result = runner.invoke(
        app, ["ingest", str(tmp_path), "-s", str(tmp_path / "s"), "-p", str(bad)]
    )
    assert result.exit_code == 1
    assert "retrieval.topk" in result.output


def test_invalid_user_is_refused(tmp_path: Path, fast_yaml: Path) -> None:
    store = str(tmp_path / "store")
    runner.invoke(app, ["ingest", str(_docs(tmp_path)), "-s", store, "-p", str(fast_yaml)])
    result = runner.invoke(app, ["search", "tapirs", "-s", store, "--user", "x' OR '1'='1"])
    assert result.exit_code == 1
    assert "invalid user name" in result.output


def test_search_needs_query_or_image(tmp_path: Path) -> None:
    result = runner.invoke(app, ["search", "-s", str(tmp_path)])
    assert result.exit_code == 2


def test_pipelines_lists_default() -> None:
    result = runner.invoke(app, ["pipelines", "--json"])
    assert result.exit_code == 0
    assert {"default", "text-only"} <= set(json.loads(result.stdout))


def test_ask_streams_an_answer_and_sources(tmp_path: Path, fast_yaml: Path) -> None:
    store = str(tmp_path / "store")
    runner.invoke(app, ["ingest", str(_docs(tmp_path)), "-s", store, "-p", str(fast_yaml)])
    # --show-sources: the table is printed even if SmolLM2 refuses (refusals omit it).
    result = runner.invoke(app, ["ask", "What do tapirs have?", "-s", store, "--show-sources"])
    assert result.exit_code == 0, result.output
    assert "Sources" in result.output and "a.txt" in result.output


def test_ask_json(tmp_path: Path, fast_yaml: Path) -> None:
    store = str(tmp_path / "store")
    runner.invoke(app, ["ingest", str(_docs(tmp_path)), "-s", store, "-p", str(fast_yaml)])
    result = runner.invoke(app, ["ask", "What do tapirs have?", "-s", store, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"answer", "answerable", "citations", "context", "timings"} <= set(data)
    assert data["context"][0]["source"].endswith("a.txt")


def test_doctor_reports_the_offline_default_ready() -> None:
    result = runner.invoke(app, ["doctor", "--pipeline", "default", "--json"])
    data = json.loads(result.stdout)
    assert data["pipelines"]["default"]["ready"] is True, data["pipelines"]
    names = {c["name"]: c["ok"] for c in data["components"]}
    assert names["model: SmolLM2-135M-Instruct"] and names["model: all-MiniLM-L6-v2"]


def test_empty_memory_list_says_so(tmp_path: Path, fast_yaml: Path) -> None:
    store = str(tmp_path / "store")
    runner.invoke(app, ["ingest", str(_docs(tmp_path)), "-s", store, "-p", str(fast_yaml)])
    result = runner.invoke(app, ["memory", "list", "-u", "alice", "-s", store])
    assert result.exit_code == 0, result.output
    assert "alice has no memories" in result.output and "mmrag memory add" in result.output


class _SlowFirstUse:
    """Wraps an embedder so its first use loads a "model" for a measurable while."""

    def __init__(self, inner: Any, seconds: float) -> None:
        self._inner, self._seconds, self._loaded = inner, seconds, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def embed(self, texts: Any, **kwargs: Any) -> Any:
        if not self._loaded:
            self._load()
        return self._inner.embed(texts, **kwargs)

    @timed_load
    def _load(self) -> None:
        time.sleep(self._seconds)
        self._loaded = True


def test_ask_timings_keep_model_loading_out_of_retrieval(tmp_path: Path) -> None:
    """A first question used to report the model's loading as "retrieve 8.44 s"."""
    rag = RAG.open(
        tmp_path / "store", pipeline=fast_pipeline(generation={"answerer": "extractive"})
    )
    rag.ingest(_docs(tmp_path))
    rag.components.__dict__["text_embedder"] = _SlowFirstUse(rag.components.text_embedder, 0.5)
    timings = rag.ask("What do tapirs have?").timings
    assert list(timings) == ["load", "retrieve", "generate", "total"]
    assert timings["load"] >= 0.5 and timings["retrieve"] < 0.5
    assert timings["total"] >= timings["load"] + timings["retrieve"] + timings["generate"] - 0.01
    assert rag.ask("Do sloths move slowly?").timings["load"] == 0.0  # loaded once


def test_search_footer_separates_loading(tmp_path: Path, fast_yaml: Path) -> None:
    store = str(tmp_path / "store")
    runner.invoke(app, ["ingest", str(_docs(tmp_path)), "-s", store, "-p", str(fast_yaml)])
    result = runner.invoke(app, ["search", "sloths", "-s", store, "-k", "1"])
    footer = result.output.strip().splitlines()[-1]
    assert footer.startswith("1 result · load ") and " retrieve " in footer


def test_image_search_shows_image_similarity() -> None:
    node = Node(id="n1", kind=NodeKind.IMAGE, doc_id="d1", source="photos/dog.jpg", image_id="i1")
    hit = ScoredNode(node, 0.0328, scores={"image_vector": {"rank": 1.0, "score": 0.9312}})
    with out.capture() as captured:
        render.hits([hit], "Results for the query image", text_query=False, image_query=True)
    table = captured.get()
    assert "image similarity" in table and "0.931" in table
    assert "0.0328" not in table  # the fusion score says nothing to the reader


def test_demo_ends_with_the_next_commands_on_its_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's store is not the default one: the commands it suggests must say so."""
    from mmrag.demo import DemoQuery

    real_open = RAG.open
    fast = fast_pipeline(generation={"answerer": "extractive"})
    monkeypatch.setattr(
        RAG, "open", classmethod(lambda cls, store, **kw: real_open(store, pipeline=fast))
    )
    monkeypatch.setattr(
        "mmrag.demo.demo_queries", lambda docs: [DemoQuery(text="Who is the CEO of Northwind?")]
    )
    result = runner.invoke(app, ["demo", "--dir", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    tail = result.stdout.strip().splitlines()[-7:]
    store = f"--store {tmp_path / 'demo' / 'store'}"
    assert sum(store in line for line in tail) == 4, tail
    assert any(line.strip().startswith("mmrag ask ") for line in tail)


def test_ingest_counts_agree_with_the_lists_and_the_summary(
    tmp_path: Path, fast_yaml: Path
) -> None:
    docs = _docs(tmp_path)
    (docs / "broken.pdf").write_bytes(b"%PDF-1.7 not really")
    (docs / "empty.txt").write_bytes(b"")
    (docs / "data.xyz").write_text("?", encoding="utf-8")
    store = str(tmp_path / "store")
    # (A missing path is refused before any work: tests/test_cli_store_paths.py.)
    args = ["ingest", str(docs), "-s", store, "-p", str(fast_yaml)]
    data = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    counts = data["counts"]
    assert all(isinstance(n, int) for n in counts.values()), counts
    assert counts["failed"] == len(data["failed"]) == 2  # broken, empty
    assert counts["unsupported"] == len(data["unsupported_files"]) == 1
    assert counts["ignored"] == len(data["ignored"]) == 0
    # Every supported file found had one outcome.
    assert counts["seen"] == counts["ingested"] + counts["unchanged"] + counts["failed"]
    # Paths are comparable across lists: all absolute.
    assert all(Path(p).is_absolute() for p in data["unsupported_files"])

    again = runner.invoke(app, args)
    summary = next(line for line in again.output.splitlines() if " unchanged, " in line)
    assert summary.startswith("0 ingested, 2 unchanged, 2 failed, 1 unsupported")


def test_html_text_keeps_inline_elements_in_their_sentence(tmp_path: Path) -> None:
    """It used to come out one token per line: "The", "Kaldfonna", "glacier", …"""
    from mmrag.config import IngestConfig
    from mmrag.ingest.loaders.html import HtmlLoader

    page = tmp_path / "news.html"
    page.write_text(
        "<html><head><title>Glacier news</title></head><body><h1>Glacier <i>news</i></h1>"
        "<p>The <b>Kaldfonna</b> glacier\n   has <a href='x'>retreated</a> 38 m.</p>"
        "<ul><li>Measured in <em>August</em></li></ul>"
        "<table><tr><th>Year</th><th>Metres</th></tr><tr><td>2025</td><td>38</td></tr></table>"
        "</body></html>",
        encoding="utf-8",
    )
    text = HtmlLoader().load(page, IngestConfig()).blocks[0].text
    assert text.splitlines() == [
        "Glacier news",
        "The Kaldfonna glacier has retreated 38 m.",
        "Measured in August",
        "Year Metres",
        "2025 38",
    ]


def test_os_errors_are_one_line_naming_the_file(tmp_path: Path) -> None:
    regular_file = tmp_path / "regfile"
    regular_file.write_text("not a folder", encoding="utf-8")
    result = runner.invoke(app, ["demo", "--dir", str(regular_file)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert f"error: cannot use {regular_file / 'docs'}: Not a directory" in result.output


def test_handled_errors_log_their_traceback_for_debugging(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG), pytest.raises(typer.Exit) as exited, handle_errors():
        raise PermissionError(13, "Permission denied", "/srv/x", None, "/srv/y")
    assert exited.value.exit_code == 1
    assert caplog.records[-1].exc_info is not None


def test_bugs_keep_their_traceback() -> None:
    with pytest.raises(ValueError, match="a bug"), handle_errors():
        raise ValueError("a bug")


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (NotADirectoryError(20, "Not a directory", "x/y"), "cannot use x/y: Not a directory"),
        (
            PermissionError(13, "Permission denied", "a", None, "b"),
            "cannot use a -> b: Permission denied",
        ),
        (ConnectionResetError(104, "Connection reset by peer"), "Connection reset by peer"),
        (OSError("no errno"), "no errno"),
    ],
)
def test_os_error_messages(error: OSError, message: str) -> None:
    assert os_error_message(error) == message


def test_ask_with_an_image_and_no_question_asks_about_the_image(tmp_path: Path) -> None:
    from PIL import Image

    from mmrag.generate.asker import IMAGE_QUESTION

    docs = _docs(tmp_path)
    for name, colour in (("red.png", (220, 30, 30)), ("green.png", (30, 200, 40))):
        Image.new("RGB", (160, 160), colour).save(docs / name)
    store = str(tmp_path / "store")
    rag = RAG.open(store, pipeline=fast_pipeline(image_embedder="efficientnet-lite0"))
    assert rag.ingest([docs]).ok
    for blank in ("", "   "):
        result = runner.invoke(
            app, ["ask", blank, "--image", str(docs / "red.png"), "-s", store, "--json"]
        )
        assert result.exit_code == 0, result.output
        answer = json.loads(result.stdout)
        assert answer["question"] == IMAGE_QUESTION  # the stand-in is shown, not hidden
        # Found by the image alone: the same photo leads the context.
        assert answer["context"][0]["source"].endswith("red.png")

    result = runner.invoke(app, ["ask", "   ", "-s", store])
    assert result.exit_code == 1
    assert "error: ask needs a question, or an image to ask about" in result.output
