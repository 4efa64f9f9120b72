"""``mmrag serve``: the real server on 127.0.0.1 (uvicorn in a thread), driven with httpx.

The store holds a shared corpus plus private files of two users, alice and bob; keys map
to alice, bob, and an admin without a user.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from mmrag import RAG
from tests import colour_embedder  # noqa: F401  (registers the "test-colour" image embedder)
from tests.conftest import fast_pipeline, make_pdf, png_bytes
from tests.live_server import LiveServer
from tests.test_generate import Scripted

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")

from mmrag.client import AsyncClient, Client  # noqa: E402
from mmrag.serve import KeyRing, create_app  # noqa: E402

ALICE, BOB, ADMIN = "alice-key-0123456789", "bob-key-0123456789ab", "admin-key-0123456789"
KEYS = f"""
keys:
  - {{key: {ALICE}, user: alice}}
  - {{key: {BOB}, user: bob}}
  - {{key: {ADMIN}, admin: true}}
"""


def _photo(colour: tuple[int, int, int], stripe: tuple[int, int, int]) -> Image.Image:
    image = Image.new("RGB", (128, 128), colour)  # ingest skips images under 100 px
    image.paste(stripe, (0, 0, 128, 40))
    return image


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, RAG]]:
    root = tmp_path_factory.mktemp("serve")
    shared, alice, bob = root / "shared", root / "alice", root / "bob"
    for folder in (shared, alice, bob):
        folder.mkdir()
    make_pdf(shared / "report.pdf", ["Zebrafish migrate through the northern delta."])
    (shared / "notes.txt").write_text("Axolotls regrow their limbs.", encoding="utf-8")
    _photo((200, 40, 40), (250, 250, 0)).save(shared / "red_flag.png")
    (alice / "diary.txt").write_text("Alice keeps her spare key under the blue pot.")
    (bob / "diary.txt").write_text("Bob buried the treasure under the old oak tree.")
    _photo((20, 60, 200), (0, 200, 90)).save(bob / "blue_flag.png")
    pipeline = fast_pipeline(image_embedder={"type": "test-colour"})
    rag = RAG.open(root / "store", pipeline=pipeline)
    rag.ingest([shared])
    rag.ingest([alice], user="alice")
    rag.ingest([bob], user="bob")
    rag.components.generator = Scripted("Axolotls regrow their limbs [1].")  # type: ignore[misc]
    app = create_app(rag, KeyRing.parse(KEYS, origin="test keys"), uploads=root / "uploads")
    with LiveServer(app) as url:
        yield url, rag


def _client(url: str, key: str | None) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=url, headers=headers, timeout=30)


def _sources(items: list[dict[str, Any]]) -> set[str]:
    return {Path(i["source"]).parent.name + "/" + Path(i["source"]).name for i in items}


def test_no_key_no_access_except_health(server: tuple[str, RAG]) -> None:
    url, _ = server
    with _client(url, None) as anonymous:
        assert anonymous.get("/health").json()["status"] == "ok"
        for method, path in [("POST", "/v1/search"), ("GET", "/v1/stats"), ("GET", "/v1/memories")]:
            response = anonymous.request(method, path, json={"query": "x"})
            assert response.status_code == 401, path
            assert response.headers["www-authenticate"] == "Bearer"
        paths = anonymous.get("/openapi.json").json()["paths"]
        assert {"/v1/search", "/v1/ask/stream", "/v1/ingest", "/v1/memories"} <= set(paths)
        assert anonymous.get("/docs").status_code == 200
    with _client(url, "not-a-key-at-all-0000") as wrong:
        assert wrong.post("/v1/search", json={"query": "axolotl"}).status_code == 401
    # The other header works as well as Bearer.
    found = httpx.post(f"{url}/v1/search", json={"query": "axolotl"}, headers={"X-API-Key": BOB})
    assert found.status_code == 200


def test_each_key_reads_the_shared_corpus_and_its_own_user_only(server: tuple[str, RAG]) -> None:
    url, _ = server
    with _client(url, ALICE) as alice, _client(url, BOB) as bob, _client(url, ADMIN) as admin:
        query = {"query": "diary spare key treasure buried", "k": 50}
        seen_by_alice = _sources(alice.post("/v1/search", json=query).json()["items"])
        seen_by_bob = _sources(bob.post("/v1/search", json=query).json()["items"])
        seen_by_admin = _sources(admin.post("/v1/search", json=query).json()["items"])
        assert "alice/diary.txt" in seen_by_alice and "bob/diary.txt" not in seen_by_alice
        assert "bob/diary.txt" in seen_by_bob and "alice/diary.txt" not in seen_by_bob
        assert "shared/notes.txt" in seen_by_alice & seen_by_bob & seen_by_admin
        assert not {"alice/diary.txt", "bob/diary.txt"} & seen_by_admin
        assert alice.get("/v1/stats").json()["files"] == 4  # 3 shared + her diary
        assert bob.get("/v1/stats").json()["files"] == 5  # 3 shared + diary + photo


def test_image_upload_search_and_image_scope(server: tuple[str, RAG]) -> None:
    url, _ = server
    query = _photo((20, 60, 200), (0, 200, 90))  # bob's blue flag
    with _client(url, BOB) as bob, _client(url, ALICE) as alice:
        files = {"image": ("q.png", png_bytes(query), "image/png")}
        best = bob.post("/v1/search/image", files=files, data={"k": "1"}).json()["items"][0]
        assert best["source"].endswith("bob/blue_flag.png") and best["image_id"]
        stored = bob.get(f"/v1/images/{best['image_id']}")
        assert stored.status_code == 200 and stored.headers["content-type"].startswith("image/")
        assert Image.open(io.BytesIO(stored.content)).size == (128, 128)
        assert alice.get(f"/v1/images/{best['image_id']}").status_code == 404
        hits = alice.post("/v1/search/image", files=files, data={"k": "3"}).json()["items"]
        assert hits and not any("bob" in h["source"] for h in hits)
        # The same image as base64 in JSON.
        body = {"image_base64": base64.b64encode(png_bytes(query)).decode(), "k": 1}
        assert bob.post("/v1/search", json=body).json()["items"][0]["id"] == best["id"]
        assert bob.post("/v1/search", json={"image_base64": "%%%"}).status_code == 422


def _events(response: Any) -> list[tuple[str, dict[str, Any]]]:
    events, name = [], ""
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            events.append((name, json.loads(line.removeprefix("data: "))))
    return events


def test_ask_streams_drafts_and_ends_with_the_verdict(server: tuple[str, RAG]) -> None:
    url, _ = server
    question = {"question": "What do axolotls regrow?"}
    with _client(url, ALICE) as alice, alice.stream("POST", "/v1/ask/stream", json=question) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = _events(r)
    names = [name for name, _ in events]
    assert names[-1] == "answer" and set(names[:-1]) == {"draft"} and len(names) > 2
    verdict = events[-1][1]
    assert verdict["answerable"] and verdict["answer"] == "Axolotls regrow their limbs [1]."
    assert verdict["citations"][0]["source"].endswith("notes.txt")
    assert verdict["draft_rejected"] is False


def test_a_rejected_draft_is_never_the_answer(tmp_path: Path) -> None:
    # Support check on: a number the context does not hold turns the draft into a refusal.
    rag = RAG.open(tmp_path / "store", pipeline=fast_pipeline(generation={"require_support": True}))
    (tmp_path / "notes.txt").write_text("Axolotls regrow their limbs.", encoding="utf-8")
    rag.ingest([tmp_path / "notes.txt"])
    rag.components.generator = Scripted("Axolotls regrow 9999 limbs a day [1].")  # type: ignore[misc]
    app = create_app(rag, KeyRing.parse(KEYS, origin="test keys"), uploads=tmp_path / "up")
    with LiveServer(app) as url, _client(url, ALICE) as alice:
        with alice.stream(
            "POST", "/v1/ask/stream", json={"question": "What do axolotls regrow?"}
        ) as r:
            events = _events(r)
        plain = alice.post("/v1/ask", json={"question": "What do axolotls regrow?"}).json()
        body = {"question": "What do axolotls regrow?", "drafts": False}
        with alice.stream("POST", "/v1/ask/stream", json=body) as r:
            verdict_only = _events(r)
    assert "9999" in "".join(e["text"] for n, e in events if n == "draft")
    name, verdict = events[-1]
    assert name == "answer" and not verdict["answerable"] and verdict["draft_rejected"]
    assert "9999" not in verdict["answer"] and verdict["citations"] == []
    assert [n for n, _ in events].count("answer") == 1
    assert not plain["answerable"] and "9999" not in plain["answer"]
    assert [n for n, _ in verdict_only] == ["answer"] and "9999" not in str(
        verdict_only[0][1]["answer"]
    )


def test_retrieval_only_ask_does_not_generate(server: tuple[str, RAG]) -> None:
    url, rag = server
    generator = Scripted("unused")
    old, rag.components.generator = rag.components.generator, generator  # type: ignore[misc]
    try:
        with _client(url, ALICE) as alice:
            body = {"question": "What do axolotls regrow?", "generate": False}
            result = alice.post("/v1/ask", json=body).json()
            assert alice.post("/v1/ask/stream", json=body).status_code == 422
    finally:
        rag.components.generator = old  # type: ignore[misc]
    assert any(c["source"].endswith("notes.txt") for c in result["context"])
    assert "retrieve" in result["timings"] and generator.seen == []


def test_ingest_job_with_progress_and_write_scopes(server: tuple[str, RAG], tmp_path: Path) -> None:
    url, _ = server
    doc = tmp_path / "recipe.txt"
    doc.write_text("Carol's lemon tart needs four eggs and a pinch of cardamom.")
    files = {"files": ("recipe.txt", doc.read_bytes(), "text/plain")}
    with _client(url, ALICE) as alice, _client(url, BOB) as bob, _client(url, ADMIN) as admin:
        assert alice.post("/v1/ingest", files=files, data={"shared": "true"}).status_code == 403
        assert admin.post("/v1/ingest", files=files).status_code == 403  # no user of its own
        accepted = alice.post("/v1/ingest", files=files)
        assert accepted.status_code == 202
        job = accepted.json()
        assert job["state"] in ("queued", "running", "done") and job["files"] == ["recipe.txt"]
        assert bob.get(f"/v1/ingest/{job['id']}").status_code == 404  # not bob's job
        for _ in range(200):
            job = alice.get(f"/v1/ingest/{job['id']}").json()
            if job["state"] in ("done", "failed"):
                break
            time.sleep(0.05)
        assert job["state"] == "done", job
        assert job["report"]["ingested"] == 1 and job["progress"]["files_done"] == 1
        query = {"query": "lemon tart cardamom", "k": 3}
        assert alice.post("/v1/search", json=query).json()["items"][0]["user"] == "alice"
        assert not any(
            "recipe" in h["source"] for h in bob.post("/v1/search", json=query).json()["items"]
        )
        # An admin writes the shared corpus; then everyone reads it.
        shared_doc = {"files": ("bulletin.txt", b"The library reopens on Monday.", "text/plain")}
        job = admin.post("/v1/ingest", files=shared_doc, data={"shared": "true"}).json()
        assert Client(url, ADMIN).wait(job["id"], poll=0.05)["state"] == "done"
        hit = bob.post("/v1/search", json={"query": "library reopens", "k": 1}).json()["items"][0]
        assert hit["source"].endswith("bulletin.txt") and hit["user"] is None


def test_memories_belong_to_the_key(server: tuple[str, RAG]) -> None:
    url, _ = server
    photo = base64.b64encode(png_bytes(_photo((120, 80, 20), (255, 255, 255)))).decode()
    with _client(url, ALICE) as alice, _client(url, BOB) as bob, _client(url, ADMIN) as admin:
        added = alice.post(
            "/v1/memories",
            json={
                "name": "bo",
                "info": "My Shiba Inu.",
                "category": "dog",
                "photos_base64": [photo],
            },
        )
        assert added.status_code == 201 and added.json()["photos"] == 1
        assert [m["name"] for m in alice.get("/v1/memories").json()] == ["<bo>"]
        assert bob.get("/v1/memories").json() == []
        assert bob.get("/v1/memories/bo").status_code == 404
        assert admin.get("/v1/memories").status_code == 403
        edited = alice.patch("/v1/memories/bo", json={"info": "Cinnamon coat."}).json()
        assert edited["info"] == "Cinnamon coat."
        assert alice.post("/v1/memories/undo").json()["undone"] == "edit <bo>"
        assert alice.get("/v1/memories/bo").json()["info"] == "My Shiba Inu."
        files = {"image": ("bo.png", base64.b64decode(photo), "image/png")}
        found = alice.post("/v1/memories/recognise", files=files).json()
        assert found[0]["name"] == "<bo>" and found[0]["claimed"]
        assert bob.post("/v1/memories/recognise", files=files).json() == []
        # The memory reaches answers at once.
        answer = alice.post("/v1/ask", json={"question": "What breed is bo?"}).json()
        assert answer["memories"][0]["name"] == "<bo>"
        assert alice.delete("/v1/memories/bo").status_code == 204
        assert alice.get("/v1/memories").json() == []


def test_busy_models_do_not_block_the_loop(
    server: tuple[str, RAG], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, rag = server
    retrieve = rag.retriever.retrieve
    lock = threading.Lock()

    def slow(*args: Any, **kwargs: Any) -> Any:
        with lock:  # one at a time, like a model behind a lock
            time.sleep(0.3)
        return retrieve(*args, **kwargs)

    monkeypatch.setattr(rag.retriever, "retrieve", slow)

    async def run() -> tuple[list[int], float]:
        async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": ALICE}) as http:
            searches = [
                asyncio.create_task(http.post("/v1/search", json={"query": f"axolotl {i}", "k": 2}))
                for i in range(6)
            ]
            await asyncio.sleep(0.1)
            started = time.perf_counter()
            assert (await http.get("/health")).status_code == 200
            health = time.perf_counter() - started
            codes = [r.status_code for r in await asyncio.gather(*searches)]
            return codes, health

    codes, health = asyncio.run(run())
    assert codes == [200] * 6
    assert health < 0.5  # the searches take 1.8 s in all


def test_python_clients(server: tuple[str, RAG]) -> None:
    url, _ = server
    with Client(url, ALICE) as client:
        assert client.search("axolotl limbs", k=1)[0]["source"].endswith("notes.txt")
        assert client.add_memory("kit", category="cat")["name"] == "<kit>"
        assert [m["name"] for m in client.memories()] == ["<kit>"]
        client.remove_memory("kit")
        events = list(client.ask_stream("What do axolotls regrow?"))
        assert events[-1].name == "answer" and events[-1].data["answerable"]

    async def run() -> dict[str, Any]:
        async with AsyncClient(url, BOB) as client:
            hits = await client.search(image=png_bytes(_photo((20, 60, 200), (0, 200, 90))), k=1)
            assert hits[0]["source"].endswith("blue_flag.png")
            names = [e.name async for e in client.ask_stream("What do axolotls regrow?")]
            assert names[-1] == "answer"
            photo = png_bytes(_photo((90, 30, 160), (10, 10, 10)))
            added = await client.add_memory("rex", info="A greyhound.", photos=[photo])
            assert added["photos"] == 1
            assert (await client.recognise(photo))[0]["name"] == "<rex>"
            assert (await client.edit_memory("rex", info="A fast greyhound."))["info"] == (
                "A fast greyhound."
            )
            assert await client.undo() == "edit <rex>"
            await client.remove_memory("rex")
            assert await client.memories() == []
            return await client.ask("What do axolotls regrow?", generate=False)

    assert asyncio.run(run())["context"]
    with Client(url, "wrong-key-000000000000") as client, pytest.raises(Exception, match="401"):
        client.stats()


def test_key_file_formats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    from mmrag.errors import ConfigError

    digest = hashlib.sha256(b"carol-secret-key-42").hexdigest()
    ring = KeyRing.parse(
        json.dumps({"keys": [{"key_sha256": digest, "user": "carol"}]}), origin="k.json"
    )
    found = ring.principal("carol-secret-key-42")
    assert found is not None and found.user == "carol" and not found.admin
    assert ring.principal("carol-secret-key-43") is None
    for bad, message in [
        ("keys: [{key: short, user: a}]", "at least 16"),
        ("keys: [{key: aaaaaaaaaaaaaaaaaaaa}]", "needs a 'user'"),
        ("keys: [{key: aaaaaaaaaaaaaaaaaaaa, user: 'no spaces'}]", "invalid user name"),
        (
            "keys: [{key: aaaaaaaaaaaaaaaaaaaa, user: a}, {key: aaaaaaaaaaaaaaaaaaaa, user: b}]",
            "twice",
        ),
        ("keys: [{key: aaaaaaaaaaaaaaaaaaaa, user: a, role: x}]", "role"),
    ]:
        with pytest.raises(ConfigError, match=message):
            KeyRing.parse(bad, origin="keys.yaml")
    monkeypatch.delenv("MMRAG_API_KEYS", raising=False)
    with pytest.raises(ConfigError, match="--keys FILE"):
        KeyRing.load(None)
    monkeypatch.setenv("MMRAG_API_KEYS", KEYS)
    assert len(KeyRing.load(None)) == 3
    with pytest.raises(ConfigError, match=r"missing\.yaml"):
        KeyRing.load(tmp_path / "missing.yaml")


def test_cli_serve_refuses_to_start_without_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from mmrag.cli import app

    monkeypatch.delenv("MMRAG_API_KEYS", raising=False)
    result = CliRunner().invoke(app, ["serve", "--store", str(tmp_path / "s"), "--no-warm"])
    assert result.exit_code == 1 and "no API keys" in result.output


def test_mmrag_serve_command_end_to_end(tmp_path: Path) -> None:
    """The real command: keys from the environment, a store, a port; ends on SIGTERM."""
    import os
    import signal
    import subprocess
    import sys

    from tests.http_stub import free_port

    (tmp_path / "notes.txt").write_text("Axolotls regrow their limbs.", encoding="utf-8")
    RAG.open(tmp_path / "store", pipeline=fast_pipeline()).ingest([tmp_path / "notes.txt"])
    port = free_port()
    command = [sys.executable, "-c", "from mmrag.cli import app; app()", "serve"]
    command += ["--store", str(tmp_path / "store"), "--port", str(port), "--no-warm"]
    env = {**os.environ, "MMRAG_API_KEYS": KEYS}
    server = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                time.sleep(0.1)
        with _client(url, BOB) as bob:
            hits = bob.post("/v1/search", json={"query": "axolotl limbs", "k": 1}).json()
            assert hits["items"][0]["source"].endswith("notes.txt")
        assert httpx.get(f"{url}/v1/stats").status_code == 401
    finally:
        server.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal: exit status -15.
        assert server.wait(timeout=30) in (0, -signal.SIGTERM)
