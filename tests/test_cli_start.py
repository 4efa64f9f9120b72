"""Quick commands start fast because they import only what they use.

Not a timing test (timings depend on the machine's load): each command runs in a fresh
interpreter, and the test checks which heavy libraries it imported (``sys.modules``).
`benchmarks/cli_start.py` measures the times.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mmrag import RAG
from mmrag.config import load_pipeline

#: Seconds to import, each, on the project's 2-core machine: none is needed to list
#: commands or pipelines, or to read a store's statistics or a user's memories.
MODEL_LIBRARIES = ["torch", "sentence_transformers", "llama_index.core", "llama_cpp"]
LOADERS = ["pymupdf", "bs4", "sklearn"]

_PROBE = """
import json, sys
from mmrag.cli import app
try:
    app(sys.argv[1:], prog_name="mmrag")
except SystemExit as exc:
    code = exc.code or 0
else:
    code = 0
sys.stderr.write("\\n" + json.dumps({"code": code, "modules": sorted(sys.modules)}) + "\\n")
"""


def _imported(*args: str) -> set[str]:
    """The modules a fresh ``mmrag ARGS`` process had imported when it finished."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, timeout=300
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] == 0, done.stdout + done.stderr
    return set(report["modules"])


class _FakeEmbedder:
    """Stands in for a real embedder when creating the store: only name and size."""

    def __init__(self, name: str, dim: int) -> None:
        self.name, self.dim = name, dim


@pytest.fixture(scope="module")
def default_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store created for the default pipeline (MiniLM + EfficientNet), with no models
    loaded to create it, so that commands run on it see what real users' stores hold."""
    path = tmp_path_factory.mktemp("cli-start") / "store"
    rag = RAG.open(path, pipeline=load_pipeline("default"))
    rag.components.__dict__["text_embedder"] = _FakeEmbedder(
        "sentence-transformers:all-MiniLM-L6-v2", 384
    )
    rag.components.__dict__["image_embedder"] = _FakeEmbedder("efficientnet-lite0", 1280)
    rag._prepare_store()
    return path


@pytest.mark.parametrize("args", [["--help"], ["pipelines"], ["memory", "--help"]])
def test_help_and_pipelines_import_no_store_and_no_models(args: list[str]) -> None:
    modules = _imported(*args)
    heavy = {"lancedb", *MODEL_LIBRARIES, *LOADERS} & modules
    assert not heavy, f"mmrag {' '.join(args)} imported {sorted(heavy)}"


@pytest.mark.parametrize("args", [["stats"], ["memory", "list", "-u", "alice"]])
def test_store_reads_load_no_models(args: list[str], default_store: Path) -> None:
    modules = _imported(*args, "--store", str(default_store))
    assert "lancedb" in modules  # the probe really ran the command on the store
    heavy = {*MODEL_LIBRARIES, *LOADERS} & modules
    assert not heavy, f"mmrag {' '.join(args)} imported {sorted(heavy)}"


def test_top_level_cli_py_is_the_mmrag_command(tmp_path: Path, fast_yaml: Path) -> None:
    """`python cli.py ingest …` from any folder behaves as `mmrag ingest …`."""
    cli = Path(__file__).resolve().parents[1] / "cli.py"
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Tapirs have short trunks.", encoding="utf-8")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(cli), *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )

    ingested = run("ingest", "docs", "--store", "store", "--pipeline", str(fast_yaml), "--json")
    assert ingested.returncode == 0, ingested.stderr
    assert json.loads(ingested.stdout)["ingested"] == 1
    stats = run("stats", "--store", "store", "--json")
    assert json.loads(stats.stdout)["files"] == 1
    missing = run("search", "tapirs", "--store", "nowhere")
    assert missing.returncode == 1 and "no store at nowhere" in missing.stderr


@pytest.mark.parametrize("args", [["stats", "--json"], ["memory", "list", "-u", "alice", "--json"]])
def test_store_reads_repeated_on_an_unchanged_store_import_no_lancedb(
    args: list[str], default_store: Path
) -> None:
    """The answer is saved with the table versions it came from (mmrag.store.summary), so
    the second run on an unchanged store lists a few folders instead of opening LanceDB."""
    first = _run(*args, "--store", str(default_store))
    modules = _imported(*args, "--store", str(default_store))
    assert "lancedb" not in modules
    assert _run(*args, "--store", str(default_store)) == first


def _run(*args: str) -> object:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "mmrag"), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
