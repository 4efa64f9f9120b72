"""A small generated corpus for ``mmrag demo``: see :mod:`mmrag.demo.corpus`."""

from __future__ import annotations

from mmrag.demo.corpus import (
    DEMO_QUESTION,
    DEMO_UNANSWERABLE,
    DemoQuery,
    build_demo_corpus,
    demo_queries,
)

__all__ = ["DEMO_QUESTION", "DEMO_UNANSWERABLE", "DemoQuery", "build_demo_corpus", "demo_queries"]
