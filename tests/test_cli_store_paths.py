"""Where --store and PATHS point: commands that only read a store never make one, and a
wrong path is refused before anything is written or any model loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mmrag import RAG
from mmrag.cli import app
from mmrag.errors import StoreError

runner = CliRunner()

READERS = [
    ["search", "x"],
    ["ask", "what?"],
    ["stats"],
    ["check"],
    ["optimize"],
]


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("command", READERS, ids=lambda c: c[0])
@pytest.mark.parametrize("contents", ["documents", "empty"])
def test_a_folder_without_a_store_is_refused_and_left_alone(
    tmp_path: Path, command: list[str], contents: str
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    if contents == "documents":
        (folder / "notes.txt").write_text("Tapirs have short trunks.", encoding="utf-8")
    before = _listing(folder)
    result = runner.invoke(app, [*command, "--store", str(folder)])
    assert result.exit_code == 1, result.output
    advice = f"no store at {folder}; create one with: mmrag ingest PATH --store {folder}"
    assert advice in result.output.replace("\n", "")
    assert _listing(folder) == before


def test_open_for_reading_writes_nothing_into_a_folder_without_a_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no store at"):
        RAG.open(tmp_path, create=False)
    assert list(tmp_path.iterdir()) == []


def test_an_empty_store_opens_for_reading(tmp_path: Path, fast_yaml: Path) -> None:
    empty, store = tmp_path / "empty", str(tmp_path / "store")
    empty.mkdir()
    result = runner.invoke(app, ["ingest", str(empty), "--store", store, "-p", str(fast_yaml)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["stats", "--store", store, "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["files"] == 0
    assert runner.invoke(app, ["search", "x", "--store", store]).exit_code == 0
    assert runner.invoke(app, ["check", "--store", store]).exit_code == 0


@pytest.mark.parametrize("command", [*READERS, ["ingest", "."]], ids=lambda c: c[0])
def test_a_file_given_as_store_is_named_as_such(
    tmp_path: Path, command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "regfile").write_text("not a store", encoding="utf-8")
    result = runner.invoke(app, [*command, "--store", "regfile"])
    assert result.exit_code == 1, result.output
    assert "regfile is a file, not a store folder" in result.output.replace("\n", "")
    assert (tmp_path / "regfile").read_text(encoding="utf-8") == "not a store"


def test_ingest_of_missing_paths_names_them_all_and_creates_no_store(tmp_path: Path) -> None:
    present = tmp_path / "present.txt"
    present.write_text("Sloths move slowly.", encoding="utf-8")
    gone, also_gone = tmp_path / "gone.pdf", tmp_path / "nowhere" / "x.md"
    store = tmp_path / "newstore"
    # One present path does not start the work: the mistake is reported before anything.
    result = runner.invoke(
        app, ["ingest", str(gone), str(present), str(also_gone), "--store", str(store)]
    )
    assert result.exit_code == 2, result.output
    output = result.output.replace("\n", "").replace("│", "")
    assert f"no such file or folder: {gone}, {also_gone}" in " ".join(output.split())
    assert not store.exists()


def test_ingest_prune_may_name_a_folder_that_is_gone(tmp_path: Path, fast_yaml: Path) -> None:
    folder, store = tmp_path / "old", str(tmp_path / "store")
    folder.mkdir()
    (folder / "a.txt").write_text("Okapis live in the Ituri forest.", encoding="utf-8")
    assert (
        runner.invoke(app, ["ingest", str(folder), "-s", store, "-p", str(fast_yaml)]).exit_code
        == 0
    )
    (folder / "a.txt").unlink()
    folder.rmdir()
    result = runner.invoke(app, ["ingest", str(folder), "-s", store, "--prune", "--json"])
    report = json.loads(result.stdout)
    # Gone on purpose: forgetting its files is what the run is for, not a failure.
    assert report["pruned"] == 1 and report["failed"] == [] and result.exit_code == 0


def test_search_source_folder_finds_the_files_under_it(tmp_path: Path, fast_yaml: Path) -> None:
    docs, store = tmp_path / "docs", str(tmp_path / "store")
    (docs / "sub").mkdir(parents=True)
    (docs / "sub" / "a.txt").write_text("Revenue grew in the north.", encoding="utf-8")
    (tmp_path / "b.txt").write_text("Revenue fell in the south.", encoding="utf-8")
    ingest = ["ingest", str(docs), str(tmp_path / "b.txt"), "-s", store, "-p", str(fast_yaml)]
    assert runner.invoke(app, ingest).exit_code == 0
    for folder in (str(docs), f"{tmp_path.name}/docs", "docs/sub/"):
        result = runner.invoke(
            app, ["search", "revenue", "-s", store, "--source", folder, "--json"]
        )
        assert result.exit_code == 0, result.output
        assert [Path(h["source"]).name for h in json.loads(result.stdout)] == ["a.txt"], folder
