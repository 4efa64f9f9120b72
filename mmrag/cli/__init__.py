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
from mmrag.cli.help_text import reflow_commands

# Every command module above has registered its commands: reflow their help once.
reflow_commands(app)

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
