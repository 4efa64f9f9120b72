"""Late interaction (ColBERT's MaxSim) with the text embedder's own token vectors.

A pipeline with ``late_interaction: true`` stores, for each text chunk, the unit vectors
of its tokens as the embedder's last layer gives them before pooling
(:mod:`mmrag.store.token_vectors`). A query's similarity to a chunk is then, for each
query token, its best cosine among the chunk's tokens, averaged over the query's tokens:
one pooled vector per chunk blurs which of the question's words a passage matches, token
vectors keep it. It enters the relevancy score as two features (``late_maxsim`` and its
value relative to the question's best candidate). On MMLongBench-Doc dev, cross-validated
grouped by document, adaptive k then keeps 95% of fixed k's hits with 47% of its items
instead of 51% (``benchmarks/late_interaction.py``).
"""

from __future__ import annotations

import numpy as np


def maxsim(query_tokens: np.ndarray, doc_tokens: np.ndarray) -> float:
    """Mean over the query's token vectors of the best cosine with any of the
    document's (both unit length; 0 when either has none)."""
    if len(query_tokens) == 0 or len(doc_tokens) == 0:
        return 0.0
    return float((query_tokens @ doc_tokens.T).max(axis=1).mean())
