"""How a text chunk's token vectors are stored (``late_interaction`` pipelines).

Each token as 8-bit integers with one float16 scale (``dim + 2`` bytes): on
MMLongBench-Doc dev, 8 bits keep all of late interaction's gain, the signs alone (1 bit
a dimension) lose most of it (``benchmarks/late_interaction.py``).
"""

from __future__ import annotations

import numpy as np

_SCALE = np.dtype(np.float16)


def pack(tokens: np.ndarray) -> bytes:
    """``tokens`` (n x dim, float) as bytes: n float16 scales, then n x dim int8."""
    tokens = np.asarray(tokens, dtype=np.float32)
    scale = np.abs(tokens).max(axis=1, keepdims=True) / 127.0
    scale[scale == 0] = 1.0
    # The integers are computed against the float16 scales, so unpack gives them back.
    scale = scale.astype(_SCALE)
    quantised = np.clip(np.round(tokens / scale.astype(np.float32)), -127, 127).astype(np.int8)
    packed: bytes = scale.tobytes() + quantised.tobytes()
    return packed


def unpack(blob: bytes, dim: int) -> np.ndarray:
    """The n x ``dim`` float32 token vectors :func:`pack` stored."""
    count, rest = divmod(len(blob), dim + _SCALE.itemsize)
    if rest:
        raise ValueError(f"{len(blob)} bytes are not whole tokens of dimension {dim}")
    split = count * _SCALE.itemsize
    scale = np.frombuffer(blob[:split], dtype=_SCALE).astype(np.float32)
    quantised = np.frombuffer(blob[split:], dtype=np.int8).reshape(count, dim)
    out: np.ndarray = quantised.astype(np.float32) * scale[:, None]
    return out
