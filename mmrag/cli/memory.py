"""``mmrag memory …``: a user's personal concepts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from mmrag.api import RAG
from mmrag.cli.app import DEFAULT_STORE, JsonOpt, StoreOpt, app, handle_errors, out
from mmrag.cli.render import plural
from mmrag.store import summary

if TYPE_CHECKING:
    from mmrag.memory.store import MemoryRecord  # importing it imports LanceDB

memory_app = typer.Typer(
    help="Your own things (RAP-style concepts): a name like <bo>, photos, a category, info.",
    no_args_is_help=True,
)
app.add_typer(memory_app, name="memory")

RequiredUser = Annotated[
    str, typer.Option("--user", "-u", help="Whose memories.", show_default=False)
]
Name = Annotated[
    str, typer.Argument(help="The concept's name, e.g. bo or <bo>.", show_default=False)
]
Photos = Annotated[list[Path] | None, typer.Option("--photo", help="A photo of it (repeatable).")]


@memory_app.command("add")
def add(
    name: Name,
    user: RequiredUser,
    photo: Photos = None,
    info: Annotated[str, typer.Option(help="What it is like: attributes, description.")] = "",
    category: Annotated[str, typer.Option(help="dog, mug, person, …")] = "",
    store: StoreOpt = DEFAULT_STORE,
    json_out: JsonOpt = False,
) -> None:
    """Remember a new concept."""
    with handle_errors():
        record = (
            RAG.open(store)
            .memories(user)
            .add(name, photos=photo or [], info=info, category=category)
        )
    _refresh_rows(store, user)
    _print_records([record], json_out)


@memory_app.command("edit")
def edit(
    name: Name,
    user: RequiredUser,
    info: Annotated[str | None, typer.Option(help="New info text.")] = None,
    category: Annotated[str | None, typer.Option(help="New category.")] = None,
    rename: Annotated[str | None, typer.Option(help="New name.")] = None,
    add_photo: Annotated[
        list[Path] | None, typer.Option("--add-photo", help="Add a photo (repeatable).")
    ] = None,
    remove_photo: Annotated[
        list[str] | None, typer.Option("--remove-photo", help="Remove a photo by id (see show).")
    ] = None,
    store: StoreOpt = DEFAULT_STORE,
    json_out: JsonOpt = False,
) -> None:
    """Change a concept; answers use the change at once."""
    with handle_errors():
        record = (
            RAG.open(store, create=False)
            .memories(user)
            .edit(
                name,
                info=info,
                category=category,
                rename=rename,
                add_photos=add_photo or [],
                remove_photos=remove_photo or [],
            )
        )
    _refresh_rows(store, user)
    _print_records([record], json_out)


@memory_app.command("rm")
def remove(name: Name, user: RequiredUser, store: StoreOpt = DEFAULT_STORE) -> None:
    """Forget a concept (undo brings it back)."""
    with handle_errors():
        RAG.open(store, create=False).memories(user).remove(name)
    _refresh_rows(store, user)
    out.print(f"forgot {name}")


@memory_app.command("list")
def list_(user: RequiredUser, store: StoreOpt = DEFAULT_STORE, json_out: JsonOpt = False) -> None:
    """All of a user's concepts."""
    with handle_errors():
        # Served from the store's saved answer while no table changed (mmrag.store.summary).
        rows = summary.recall_or_compute(store, _list_key(user), _compute_rows(store, user))
    if not rows and not json_out:
        out.print(
            f"{user} has no memories in {store} yet. Add one with: mmrag memory add NAME "
            f"--user {user} --photo PHOTO --info TEXT --store {store}",
            markup=False,
            highlight=False,
        )
        return
    _print_rows(rows, json_out)


@memory_app.command("show")
def show(
    name: Name, user: RequiredUser, store: StoreOpt = DEFAULT_STORE, json_out: JsonOpt = False
) -> None:
    """One concept, with its photo ids."""
    with handle_errors():
        record = RAG.open(store, create=False).memories(user).show(name)
    if json_out:
        out.print_json(data=record.to_dict())
        return
    table = Table(show_header=False, title=record.name)
    table.add_row("category", record.category or "—")
    table.add_row("info", record.info or "—")
    table.add_row("photos", "\n".join(record.photo_ids) or "—")
    table.add_row("updated", str(record.updated_at or ""))
    out.print(table)


@memory_app.command("undo")
def undo(user: RequiredUser, store: StoreOpt = DEFAULT_STORE) -> None:
    """Undo the user's last change to their memories."""
    with handle_errors():
        done = RAG.open(store, create=False).memories(user).undo()
    _refresh_rows(store, user)
    out.print(f"undid: {done}" if done else "nothing to undo")


@memory_app.command("recognise")
def recognise(
    photo: Annotated[Path, typer.Argument(help="A photo to recognise.", show_default=False)],
    user: RequiredUser,
    store: StoreOpt = DEFAULT_STORE,
    json_out: JsonOpt = False,
) -> None:
    """Which of the user's concepts a photo shows (if any clears the threshold)."""
    with handle_errors():
        found = RAG.open(store, create=False).memories(user).recognise(photo)
    if json_out:
        out.print_json(
            data=[
                {
                    "name": r.memory.name,
                    "similarity": r.similarity,
                    "claimed": r.claimed,
                    "margin": r.margin,
                    "needed": r.needed,
                }
                for r in found
            ]
        )
        return
    claimed = [r for r in found if r.claimed]
    out.print(f"This is {claimed[0].memory.name}." if claimed else "I don't recognise this one.")
    # The margin to the next concept says how sure the ranking is; "needed" is the
    # concept's own claim floor, so a near miss is visible rather than a bare "no".
    table = Table("name", "similarity", "margin to next", "needed", "claimed")
    for r in found:
        table.add_row(
            r.memory.name,
            f"{r.similarity:.3f}",
            "—" if r.margin is None else f"{r.margin:+.3f}",
            f"{r.needed:.3f}",
            "yes" if r.claimed else "",
        )
    out.print(table)


@memory_app.command("import")
def import_(
    database: Annotated[Path, typer.Argument(help="RAP's database.json.", show_default=False)],
    user: RequiredUser,
    replace: Annotated[bool, typer.Option(help="Overwrite concepts that already exist.")] = False,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Import a RAP concept database (database.json and its photos)."""
    from mmrag.memory import import_rap

    with handle_errors():
        result = import_rap(RAG.open(store).memories(user), database, replace=replace)
    line = f"imported {plural(len(result.imported), 'concept')}"
    if result.imported:
        line += f": {', '.join(result.imported)}"
    if result.skipped:
        # A second import of the same file adds nothing: say why, and how to overwrite.
        them = "it" if len(result.skipped) == 1 else "them"
        line += (
            f"; skipped {len(result.skipped)} that {user} already has "
            f"({', '.join(result.skipped)}): --replace overwrites {them}"
        )
    out.print(line, markup=False, highlight=False, soft_wrap=True)


@memory_app.command("export")
def export(
    folder: Annotated[Path, typer.Argument(help="Folder to write database.json and photos to.")],
    user: RequiredUser,
    replace: Annotated[
        bool, typer.Option(help="Overwrite an export already in the folder.")
    ] = False,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Export the user's concepts in RAP's database.json format.

    A folder that already holds a database.json is refused unless --replace.
    """
    from mmrag.memory import export_rap

    with handle_errors():
        memories = RAG.open(store, create=False).memories(user)
        path = export_rap(memories, folder, replace=replace)
        count = len(memories.list())
    # The count makes an export of the wrong user (or of none) obvious at once.
    out.print(f"wrote {path}: {plural(count, 'concept')}", markup=False, highlight=False)


def _list_key(user: str) -> str:
    return f"memory list:{user}"


def _compute_rows(store: str, user: str) -> Callable[[], list[dict[str, Any]]]:
    return lambda: [r.to_dict() for r in RAG.open(store, create=False).memories(user).list()]


def _refresh_rows(store: str, user: str) -> None:
    """After a change: save the list ``memory list`` will show (mmrag.store.summary)."""
    summary.refresh(store, _list_key(user), _compute_rows(store, user))


def _print_records(records: list[MemoryRecord], json_out: bool) -> None:
    _print_rows([r.to_dict() for r in records], json_out)


def _print_rows(rows: list[dict[str, Any]], json_out: bool) -> None:
    """Concepts as :meth:`MemoryRecord.to_dict` gives them: JSON, or a table."""
    if json_out:
        out.print_json(data=rows)
        return
    table = Table("name", "category", "photos", "info")
    for row in rows:
        table.add_row(row["name"], row["category"], str(row["photos"]), row["info"][:80])
    out.print(table)
