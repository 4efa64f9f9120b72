"""The mmrag command line from a checkout: ``python cli.py ingest docs/`` is ``mmrag ingest docs/``.

A thin entry point for running mmrag without installing its ``mmrag`` script (its
dependencies must be installed, e.g. by ``make install``); everything lives in
:mod:`mmrag.cli`.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run from anywhere: this checkout's mmrag package comes first.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from mmrag.cli import app

if __name__ == "__main__":
    app(prog_name="mmrag")
