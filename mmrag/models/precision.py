"""Numeric precision for torch backends on CPU.

On CPUs with native bfloat16 (AMX or AVX512-BF16, e.g. Xeon Sapphire Rapids and later)
bf16 autocast runs MiniLM ~2.3x and EfficientNet ~3.7x faster than float32 here, with
embeddings at cosine >= 0.999 to the float32 ones. Elsewhere bf16 is emulated and slower,
so ``auto`` keeps float32.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import cache
from typing import Any, Literal

Precision = Literal["auto", "float32", "bfloat16"]


@cache
def native_bf16() -> bool:
    try:
        import torch
    except ImportError:
        return False
    cpu: Any = torch.cpu
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def use_bf16(precision: Precision, device: str = "cpu") -> bool:
    if precision == "bfloat16":
        return True
    return precision == "auto" and device == "cpu" and native_bf16()


@contextlib.contextmanager
def autocast(precision: Precision, device: str = "cpu") -> Iterator[None]:
    """bf16 autocast when :func:`use_bf16` says so, else nothing."""
    if not use_bf16(precision, device):
        yield
        return
    import torch

    with torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16):
        yield
