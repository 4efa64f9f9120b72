"""A synthetic corpus for the scale benchmark: clustered 384-d vectors and topical text.

Vectors are *clustered synthetic* unit vectors, not model embeddings: each cluster has a
centre and a 16-dimensional subspace of its own, and a row is ``centre + a * B_c z + t *
noise``, normalised. Sentence embeddings behave like this (a low local intrinsic
dimension around topics); isotropic noise in all 384 dimensions would be much harder
for any ANN index than real text, and pure cluster centres much easier. Two rows of one
cluster have a cosine of about 0.7; a query's nearest neighbours are its cluster-mates.

Text is drawn from the cluster's own vocabulary (30 topic words) and a shared one, so
BM25 has term statistics to work with and agrees only in part with the vectors.

Rows: half belong to the shared corpus, the rest spread evenly over ``users``
namespaces; 5% are image rows (an image vector of their own and a 2 KB stand-in blob,
no text vector). Every source (file) holds 20 nodes over 4 pages.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from mmrag.schema import SHARED_USER, Node, NodeKind

DIM = 384
IMAGE_DIM = 1280  # EfficientNet-lite0's features, the default pipeline's image embedder
SUBSPACE = 16
SPREAD = 0.15
NOISE = 0.01
NODES_PER_SOURCE = 20
IMAGE_EVERY = 20  # one row in 20 is an image
SHARED_FRACTION = 0.5

_SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "qu", "dor", "len", "mar"]


def word(i: int) -> str:
    """A pronounceable made-up word, distinct for every ``i``."""
    parts = []
    i += 1
    while i:
        i, r = divmod(i, len(_SYLLABLES))
        parts.append(_SYLLABLES[r])
    return "".join(parts)


@dataclass(slots=True)
class Row:
    """One generated node with its arrays, and where it sits in the numpy mirrors."""

    node: Node
    image: tuple[bytes, str] | None


class Corpus:
    """Generates rows deterministically and keeps numpy mirrors for exact search."""

    def __init__(self, nodes: int, users: int, seed: int = 0) -> None:
        self.nodes = nodes
        self.users = users
        self.clusters = max(50, nodes // 500)
        rng = np.random.default_rng(seed)
        self.centres = _unit(rng.standard_normal((self.clusters, DIM), dtype=np.float32))
        bases = rng.standard_normal((self.clusters, DIM, SUBSPACE), dtype=np.float32)
        self.bases = np.linalg.qr(bases)[0].astype(np.float32)
        self.image_centres = _unit(
            rng.standard_normal((self.clusters, IMAGE_DIM), dtype=np.float32)
        )
        self.topic_words = rng.integers(0, 50_000, size=(self.clusters, 30))
        self.seed = seed
        # Mirrors filled as rows are generated: what exact search runs over.
        self.text_vectors = np.zeros((nodes, DIM), dtype=np.float32)
        self.image_vectors: dict[int, np.ndarray] = {}
        self.user_of = np.zeros(nodes, dtype=np.int32)  # 0 = shared, u + 1 = user u
        self.is_image = np.zeros(nodes, dtype=bool)
        self.cluster_of = np.zeros(nodes, dtype=np.int32)
        self.ids: list[str] = [""] * nodes
        self.texts: list[str] = [""] * nodes

    def user_name(self, code: int) -> str:
        return SHARED_USER if code == 0 else f"user{code - 1:05d}"

    def batches(self, batch_nodes: int) -> Iterator[tuple[str, list[str], list[Row]]]:
        """``(user, sources, rows)`` batches, each a complete set of sources of one user."""
        assert batch_nodes % NODES_PER_SOURCE == 0, "a batch must hold whole sources"
        step = NODES_PER_SOURCE
        shared = int(self.nodes * SHARED_FRACTION) // step * step
        per_user = max(step, (self.nodes - shared) // max(self.users, 1) // step * step)
        spans: list[tuple[int, int, int]] = []  # (user code, start, stop)
        for start in range(0, shared, batch_nodes):
            spans.append((0, start, min(start + batch_nodes, shared)))
        start, u = shared, 0
        while start < self.nodes and u < self.users:
            stop = self.nodes if u == self.users - 1 else min(start + per_user, self.nodes)
            for chunk in range(start, stop, batch_nodes):
                spans.append((u + 1, chunk, min(chunk + batch_nodes, stop)))
            start, u = stop, u + 1
        for code, start, stop in spans:
            rows = self._rows(code, start, stop)
            sources = sorted({r.node.source for r in rows})
            yield self.user_name(code), sources, rows

    def _rows(self, code: int, start: int, stop: int) -> list[Row]:
        rng = np.random.default_rng([self.seed, start])
        n = stop - start
        clusters = rng.integers(0, self.clusters, size=n)
        # One source mostly keeps to one topic, as a real document does.
        by_source = rng.integers(0, self.clusters, size=n // NODES_PER_SOURCE + 2)
        same = rng.random(n) < 0.7
        first = start // NODES_PER_SOURCE
        src_index = np.arange(start, stop) // NODES_PER_SOURCE - first
        clusters = np.where(same, by_source[src_index], clusters)
        vectors = self.sample(clusters, rng)
        rows = []
        user = self.user_name(code)
        for i in range(n):
            g = start + i
            c = int(clusters[i])
            source = f"/corpus/{user or 'shared'}/doc{g // NODES_PER_SOURCE:07d}.pdf"
            page = (g % NODES_PER_SOURCE) // 5 + 1
            node_id = hashlib.sha1(f"{g}".encode()).hexdigest()
            image = g % IMAGE_EVERY == IMAGE_EVERY - 1
            self.user_of[g], self.cluster_of[g], self.is_image[g] = code, c, image
            self.ids[g] = node_id
            if image:
                vec = self.image_centres[c] + 0.6 * rng.standard_normal(IMAGE_DIM).astype(
                    np.float32
                ) / np.sqrt(IMAGE_DIM)
                vec /= np.linalg.norm(vec)
                self.image_vectors[g] = vec
                node = Node(
                    id=node_id,
                    kind=NodeKind.IMAGE,
                    doc_id=source,
                    source=source,
                    page=page,
                    image_id=node_id,
                    user=user,
                    image_vector=vec,
                )
                rows.append(Row(node, (rng.bytes(2048), "png")))
                continue
            self.text_vectors[g] = vectors[i]
            text = self.text(c, rng, length=int(rng.integers(30, 70)))
            self.texts[g] = text
            node = Node(
                id=node_id,
                kind=NodeKind.TEXT,
                doc_id=source,
                source=source,
                page=page,
                text=text,
                user=user,
                text_vector=vectors[i],
            )
            rows.append(Row(node, None))
        return rows

    def sample(self, clusters: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Unit vectors around the centres of ``clusters``."""
        z = rng.standard_normal((len(clusters), SUBSPACE), dtype=np.float32)
        local = np.einsum("ndk,nk->nd", self.bases[clusters], z)
        noise = rng.standard_normal((len(clusters), DIM), dtype=np.float32)
        return _unit(self.centres[clusters] + SPREAD * local + NOISE * noise)

    def text(self, cluster: int, rng: np.random.Generator, length: int) -> str:
        topical = rng.random(length) < 0.35
        topic = self.topic_words[cluster][rng.integers(0, 30, size=length)]
        common = rng.zipf(1.3, size=length) % 50_000
        return " ".join(
            word(int(t if p else w)) for p, t, w in zip(topical, topic, common, strict=True)
        )


def _unit(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)
    return out
