"""The errors that mean bad input: each carries a message that says what is wrong and what to do."""
from __future__ import annotations


class ConfigError(ValueError):
    """A parameters file with one or more invalid keys; `errors` holds one line per key."""

    def __init__(self, errors: list[str], source: str = "params"):
        self.errors = list(errors)
        self.source = source
        head = f"{source}: {len(errors)} invalid parameter{'s' if len(errors) != 1 else ''}"
        super().__init__(head + "\n" + "\n".join(f"  - {e}" for e in errors))


class DatasetLayoutError(FileNotFoundError):
    """A dataset root or split that is missing or not in a known ImageNet layout."""


class ImageDecodeError(OSError):
    """An image file that cannot be decoded."""


class AnnotationError(ValueError):
    """A box annotation file that cannot be read; the message names the file and the reason."""


class CheckpointError(RuntimeError):
    """A weights file that is unreadable or does not fit the architecture; the message names the file."""


class ModelMissingError(FileNotFoundError):
    """A model folder that holds no model yet (not downloaded or trained)."""


class ModelSourceError(RuntimeError):
    """A model that cannot be fetched, with what to do about it."""


class SiteError(KeyError):
    """A site name or feature index that the model does not have; the message lists the valid ones."""

    def __str__(self) -> str:
        return str(self.args[0])


class DivergedError(RuntimeError):
    """A training that diverged (a loss or gradient not finite); the message names the step and the fix."""


USER_ERRORS = (ConfigError, AnnotationError, CheckpointError, DatasetLayoutError, ImageDecodeError, ModelSourceError,
               SiteError, DivergedError, FileNotFoundError)
