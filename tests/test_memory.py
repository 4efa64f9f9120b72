"""Personal memories: CRUD, isolation between users, undo, RAP import/export, recognition,
and memories in answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from typer.testing import CliRunner, Result

from mmrag import RAG
from mmrag.cli import app
from mmrag.errors import ConfigError, InvalidNameError
from mmrag.memory import MemoryNotFoundError, export_rap, import_rap
from mmrag.memory.names import mentions, normalise
from tests.conftest import SHARED_DATA, fast_pipeline

RAP = SHARED_DATA / "rap" / "database" / "database.json"


def photo(path: Path, colour: tuple[int, int, int], shape: str = "circle") -> Path:
    image = Image.new("RGB", (256, 256), "white")
    draw = ImageDraw.Draw(image)
    if shape == "circle":
        draw.ellipse((40, 40, 216, 216), fill=colour)
    else:
        draw.rectangle((30, 80, 226, 176), fill=colour)
    image.save(path)
    return path


@pytest.fixture
def rag(tmp_path: Path) -> RAG:
    return RAG.open(tmp_path / "store", pipeline=fast_pipeline(image_embedder="efficientnet-lite0"))


def test_names_match_with_and_without_brackets() -> None:
    assert normalise("<Bo>") == "bo" and normalise("  Aunt   May ") == "aunt may"
    assert mentions("What does <bo> eat?", "bo") and mentions("Is Bo's collar black?", "bo")
    assert not mentions("a bonfire", "bo") and not mentions("bo-peep", "bo")
    with pytest.raises(InvalidNameError):
        normalise("<>")


def test_add_edit_remove_list_show(rag: RAG, tmp_path: Path) -> None:
    mine = rag.memories("alice")
    added = mine.add(
        "<bo>",
        photos=[photo(tmp_path / "a.png", (200, 120, 40))],
        info="A shiba inu.",
        category="dog",
    )
    assert added.name == "<bo>" and len(added.photo_ids) == 1
    with pytest.raises(ConfigError, match="already exists"):
        mine.add("bo")
    edited = mine.edit(
        "bo",
        info="A shiba inu with a black collar.",
        add_photos=[photo(tmp_path / "b.png", (190, 110, 30))],
    )
    assert edited.info.endswith("black collar.") and len(edited.photo_ids) == 2
    edited = mine.edit("bo", remove_photos=[edited.photo_ids[0]], rename="bobo")
    assert edited.name == "<bobo>" and len(edited.photo_ids) == 1
    assert [m.name for m in mine.list()] == ["<bobo>"]
    mine.remove("bobo")
    assert mine.list() == []
    with pytest.raises(MemoryNotFoundError):
        mine.show("bobo")


def test_undo_restores_each_step(rag: RAG) -> None:
    mine = rag.memories("alice")
    mine.add("bo", info="first")
    mine.edit("bo", info="second")
    mine.remove("bo")
    assert mine.undo() == "remove <bo>"
    assert mine.show("bo").info == "second"
    assert mine.undo() == "edit <bo>"
    assert mine.show("bo").info == "first"
    assert mine.undo() == "add <bo>"
    assert mine.list() == []
    assert mine.undo() is None


def test_undo_does_not_touch_other_users(rag: RAG) -> None:
    rag.memories("alice").add("bo", info="alice's dog")
    rag.memories("bob").add("rex", info="bob's dog")
    rag.memories("bob").edit("rex", info="bob's old dog")
    assert rag.memories("alice").undo() == "add <bo>"
    assert rag.memories("bob").show("rex").info == "bob's old dog"


def test_users_are_isolated_whatever_the_input(rag: RAG, tmp_path: Path) -> None:
    rag.memories("alice").add(
        "bo", photos=[photo(tmp_path / "a.png", (200, 120, 40))], info="secret dog"
    )
    bob = rag.memories("bob")
    assert bob.list() == [] and bob.named_in("tell me about bo and <bo>") == []
    with pytest.raises(MemoryNotFoundError):
        bob.show("bo")
    assert bob.recognise(tmp_path / "a.png") == []
    with pytest.raises(MemoryNotFoundError):
        bob.edit("bo", info="hijacked")
    for crafted in ["alice' OR '1'='1", "bob') OR (user = 'alice", ""]:
        with pytest.raises(InvalidNameError):
            rag.memories(crafted)
    bob.add("x' OR user = 'alice", info="bob's thing")  # a crafted *concept* name is just a name
    assert [m.info for m in bob.list()] == ["bob's thing"]
    assert [m.info for m in rag.memories("alice").list()] == ["secret dog"]
    answer = rag.ask("What is bo?", user="bob")
    assert answer.memories == []


def test_recognition_finds_the_right_concept_and_refuses_strangers(
    rag: RAG, tmp_path: Path
) -> None:
    mine = rag.memories("alice")
    mine.add("ball", photos=[photo(tmp_path / "ball.png", (220, 30, 30))])
    mine.add("brick", photos=[photo(tmp_path / "brick.png", (30, 30, 220), "bar")])
    found = mine.recognise(photo(tmp_path / "ball2.png", (215, 40, 35)))
    assert found[0].memory.name == "<ball>" and found[0].claimed
    assert found[0].similarity > found[1].similarity
    stranger = Image.new("RGB", (256, 256), (30, 200, 40))
    stranger_draw = ImageDraw.Draw(stranger)
    stranger_draw.polygon([(128, 20), (236, 236), (20, 236)], fill=(250, 250, 0))
    assert not any(r.claimed for r in mine.recognise(stranger))


def test_memories_reach_the_prompt_first(rag: RAG, tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "care.txt").write_text(
        "Shiba Inu dogs need daily walks.", encoding="utf-8"
    )
    rag.ingest([tmp_path / "docs"])
    rag.memories("alice").add("bo", info="bo is a Shiba Inu with a black collar.", category="dog")
    prompt = rag._asker.prepare("How often should bo walk?", user="alice")
    text = prompt.messages[1].as_text()
    assert text.index("Name: <bo>, Info: bo is a Shiba Inu") < text.index("Context:")
    assert [m.name for m in prompt.memories] == ["<bo>"]
    rag.memories("alice").edit("bo", info="bo is a corgi.")
    prompt = rag._asker.prepare("How often should bo walk?", user="alice")
    assert "bo is a corgi." in prompt.messages[1].as_text()  # the edit took effect at once


def test_rap_round_trip(rag: RAG, tmp_path: Path) -> None:
    folder = tmp_path / "rap"
    (folder / "example_database").mkdir(parents=True)
    photo(folder / "example_database" / "bo.png", (200, 120, 40))
    database = {
        "concept_dict": {
            "<bo>": {
                "name": "bo",
                "image": "example_database/bo.png",
                "info": "A dog.",
                "category": "dog",
            }
        },
        "path_to_concept": {"example_database/bo.png": "<bo>"},
    }
    (folder / "database.json").write_text(json.dumps(database), encoding="utf-8")
    mine = rag.memories("alice")
    assert import_rap(mine, folder / "database.json").imported == ["<bo>"]
    again = import_rap(mine, folder / "database.json")
    assert again.imported == [] and again.skipped == ["<bo>"]  # already there
    out = export_rap(mine, tmp_path / "out")
    again = json.loads(out.read_text(encoding="utf-8"))
    assert again["concept_dict"]["<bo>"]["info"] == "A dog."
    exported = again["concept_dict"]["<bo>"]["image"]
    assert (tmp_path / "out" / exported).is_file()
    other = rag.memories("carol")
    assert import_rap(other, out).imported == ["<bo>"]
    assert other.show("bo").category == "dog" and len(other.show("bo").photo_ids) == 1


@pytest.mark.skipif(not RAP.is_file(), reason="needs ../shared/data/rap")
def test_real_rap_database_imports(rag: RAG) -> None:
    names = import_rap(rag.memories("alice"), RAP).imported
    assert len(names) == 10 and "<bo>" in names
    assert rag.memories("alice").show("bo").category == "dog"


def test_memory_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    store = str(tmp_path / "s")
    pic = photo(tmp_path / "mug.png", (250, 250, 250), "bar")
    result = runner.invoke(
        app,
        [
            "memory",
            "add",
            "mug",
            "--user",
            "alice",
            "--photo",
            str(pic),
            "--info",
            "White mug with a cat face.",
            "--category",
            "cup",
            "-s",
            store,
        ],
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["memory", "list", "--user", "alice", "-s", store, "--json"])
    assert json.loads(result.stdout)[0]["name"] == "<mug>"
    result = runner.invoke(app, ["memory", "recognise", str(pic), "--user", "alice", "-s", store])
    assert "This is <mug>." in result.output
    assert (
        runner.invoke(
            app, ["memory", "list", "--user", "bob", "-s", store, "--json"]
        ).stdout.strip()
        == "[]"
    )
    result = runner.invoke(
        app, ["memory", "edit", "nope", "--user", "alice", "--info", "x", "-s", store]
    )
    assert result.exit_code == 1 and "no memory named <nope>" in result.output
    assert (
        "undid: add <mug>"
        in runner.invoke(app, ["memory", "undo", "--user", "alice", "-s", store]).output
    )


def _rap_folder(root: Path, concepts: dict[str, object]) -> Path:
    (root / "example_database").mkdir(parents=True, exist_ok=True)
    photo(root / "example_database" / "bo.png", (200, 120, 40))
    path = root / "database.json"
    path.write_text(json.dumps({"concept_dict": concepts}), encoding="utf-8")
    return path


def test_export_stays_inside_its_folder_whatever_the_names(rag: RAG, tmp_path: Path) -> None:
    mine = rag.memories("alice")
    pic = photo(tmp_path / "p.png", (10, 200, 40))
    for name in ["../../../escaped6", "a/b", "..", "x\\y"]:
        mine.add(name, photos=[pic], info="odd name")
    out = tmp_path / "deep" / "er" / "out"
    export_rap(mine, out)
    store = tmp_path / "store"
    written = {p for p in tmp_path.rglob("*") if p.is_file() and store not in p.parents} - {pic}
    assert written and all(out in p.parents for p in written), sorted(map(str, written))
    again = json.loads((out / "database.json").read_text(encoding="utf-8"))
    assert len({c["image"] for c in again["concept_dict"].values()}) == 4  # no overwrites


@pytest.mark.parametrize("name", ["../../../escaped6", "a/b", "..", "x\\y", "/etc/x", ".hidden"])
def test_import_refuses_names_that_are_not_plain(rag: RAG, tmp_path: Path, name: str) -> None:
    database = _rap_folder(
        tmp_path / "rap",
        {
            "<ok>": {"name": "ok", "image": "example_database/bo.png"},
            f"<{name}>": {"name": name, "image": "example_database/bo.png"},
        },
    )
    with pytest.raises(ConfigError, match=r"database\.json: concept_dict\..*name"):
        import_rap(rag.memories("alice"), database)
    assert rag.memories("alice").list() == []  # checked before anything is added


@pytest.mark.parametrize(
    ("concept", "field"),
    [
        ("x", "concept_dict.<a>"),
        ({"info": "i" * 5_000_000}, "concept_dict.<a>.info"),
        ({"category": "c" * 100_000}, "concept_dict.<a>.category"),
        ({"info": 5}, "concept_dict.<a>.info"),
        ({"image": ["example_database/bo.png"] * 1000}, "concept_dict.<a>.image"),
    ],
)
def test_import_validates_the_schema_with_limits(
    rag: RAG, tmp_path: Path, concept: object, field: str
) -> None:
    database = _rap_folder(tmp_path / "rap", {"<a>": concept})
    with pytest.raises(ConfigError) as raised:
        import_rap(rag.memories("alice"), database)
    message = str(raised.value)
    assert message.startswith(f"{database}: {field}") and "\n" not in message
    assert len(message) < 300


@pytest.mark.parametrize(
    "image", ["/etc/passwd", "../outside.png", "example_database/../../outside.png"]
)
def test_import_refuses_image_paths_outside_the_database(
    rag: RAG, tmp_path: Path, image: str
) -> None:
    photo(tmp_path / "outside.png", (1, 2, 3))
    database = _rap_folder(tmp_path / "a" / "rap", {"<a>": {"image": image}})
    with pytest.raises(ConfigError, match="image path"):
        import_rap(rag.memories("alice"), database)
    assert rag.memories("alice").list() == []


def test_import_cli_gives_one_line(tmp_path: Path) -> None:
    database = _rap_folder(tmp_path / "rap", {"<a>": "x"})
    result = CliRunner().invoke(
        app, ["memory", "import", str(database), "--user", "alice", "-s", str(tmp_path / "s")]
    )
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "concept_dict.<a>" in result.output


def test_memories_open_in_a_store_made_before_keys_were_declared(tmp_path: Path) -> None:
    """Older stores' memory tables have no key declarations; they open as they are."""
    import lancedb
    import pyarrow as pa

    from mmrag.memory.tables import MEMORIES, MEMORY_PHOTOS, memories_schema, photos_schema

    def undeclared(schema: pa.Schema) -> pa.Schema:
        return pa.schema([pa.field(f.name, f.type, f.nullable) for f in schema])

    db = lancedb.connect(tmp_path / "store")
    db.create_table(MEMORIES, schema=undeclared(memories_schema(64)))
    db.create_table(MEMORY_PHOTOS, schema=undeclared(photos_schema(None)))
    rag = RAG.open(tmp_path / "store", pipeline=fast_pipeline())
    rag.memories("alice").add("bo", info="A dog.")
    assert rag.memories("alice").show("bo").info == "A dog."


def _memory_cli(*args: str) -> Result:
    return CliRunner().invoke(app, ["memory", *args])


def test_export_refuses_to_overwrite_an_earlier_export(rag: RAG, tmp_path: Path) -> None:
    rag.memories("carol").add("bo", photos=[photo(tmp_path / "bo.png", (200, 120, 40))])
    store, folder = str(tmp_path / "store"), tmp_path / "export"
    database = folder / "database.json"
    exported = _memory_cli("export", str(folder), "-u", "carol", "-s", store)
    assert exported.exit_code == 0 and ": 1 concept" in exported.output
    carols = database.read_text(encoding="utf-8")

    result = _memory_cli("export", str(folder), "-u", "zed", "-s", store)
    assert result.exit_code == 1
    assert str(database) in result.output and "--replace" in result.output
    assert database.read_text(encoding="utf-8") == carols  # carol's export is kept

    result = _memory_cli("export", str(folder), "-u", "zed", "-s", store, "--replace")
    assert result.exit_code == 0 and ": 0 concepts" in result.output, result.output
    assert json.loads(database.read_text(encoding="utf-8"))["concept_dict"] == {}
    with pytest.raises(ConfigError, match="already holds an export"):
        export_rap(rag.memories("zed"), folder)


def test_export_into_a_file_is_one_line_naming_it(rag: RAG, tmp_path: Path) -> None:
    rag.memories("carol").add("bo", info="A dog.")
    regular_file = tmp_path / "regfile"
    regular_file.write_text("not a folder", encoding="utf-8")
    result = _memory_cli("export", str(regular_file), "-u", "carol", "-s", str(tmp_path / "store"))
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert f"error: cannot use {regular_file / 'example_database'}: Not a directory" in (
        result.output
    )


def test_a_second_import_names_what_it_skipped(rag: RAG, tmp_path: Path) -> None:
    database = _rap_folder(tmp_path / "rap", {"<bo>": {"image": "example_database/bo.png"}})
    command = ("import", str(database), "-u", "bob", "-s", str(tmp_path / "store"))
    assert "imported 1 concept: <bo>" in _memory_cli(*command).output
    result = _memory_cli(*command)
    assert result.exit_code == 0, result.output
    assert "imported 0 concepts; skipped 1 that bob already has (<bo>)" in result.output
    assert "--replace overwrites it" in result.output
    assert "imported 1 concept: <bo>" in _memory_cli(*command, "--replace").output
