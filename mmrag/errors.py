"""One exception hierarchy for everything mmrag raises on purpose.

Every message is written for the person at the keyboard: it names the file, setting or
backend at fault and says what to do next. The CLI prints ``str(error)`` on one line and
exits non-zero; the Python API lets the exception propagate.
"""

from __future__ import annotations

from pathlib import Path


class MmragError(Exception):
    """Base class of all errors mmrag raises deliberately."""


class ConfigError(MmragError):
    """A pipeline file, setting or argument is invalid."""


def install_hint(extra: str) -> str:
    """How to install an extra. mmrag is not on a package index, so it installs from its
    own checkout (``pip install 'mmrag[x]'`` would find nothing)."""
    target = f".[{extra}]" if extra else "."
    return f"pip install -e '{target}' in the mmrag checkout"


class MissingDependencyError(MmragError):
    """An optional dependency is not installed; the message names the extra to install."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            f"{purpose} needs the Python package '{package}', which is not installed. "
            f"Install it with: {install_hint(extra)}"
        )


class ModelError(MmragError):
    """A model could not be loaded or failed while running."""


class LoaderError(MmragError):
    """A source file cannot be read; carries the file and the reason separately."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class UnsupportedFormatError(LoaderError):
    """No loader handles this file's extension."""


class StoreError(MmragError):
    """The LanceDB store cannot be opened, read or written."""


class ClusterError(MmragError):
    """A compute cluster (Ray) cannot be reached, or failed while working."""


class InvalidNameError(MmragError):
    """A user namespace or other identifier is not allowed (it would be unsafe in a filter)."""
