"""A small generated corpus for ``mmrag demo``: see :mod:`mmrag.demo.corpus`."""

from __future__ import annotations

from mmrag.demo.corpus import DemoQuery, build_demo_corpus, demo_queries

__all__ = ["DemoQuery", "build_demo_corpus", "demo_queries"]
