"""The ``mmrag`` command line. It only parses arguments, calls :mod:`mmrag.api` and prints."""

from mmrag.cli import (
    align,
    answers,
    corpus,
    doctor,
    evaluation,
    maintenance,
    memory,
    serve,
    tuning,
)
from mmrag.cli.app import app

__all__ = [
    "align",
    "answers",
    "app",
    "corpus",
    "doctor",
    "evaluation",
    "maintenance",
    "memory",
    "serve",
    "tuning",
]
