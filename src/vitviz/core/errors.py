"""The error raised for an invalid parameters file."""
from __future__ import annotations


class ConfigError(ValueError):
    """A parameters file with one or more invalid keys; `errors` holds one line per key."""

    def __init__(self, errors: list[str], source: str = "params"):
        self.errors = list(errors)
        self.source = source
        head = f"{source}: {len(errors)} invalid parameter{'s' if len(errors) != 1 else ''}"
        super().__init__(head + "\n" + "\n".join(f"  - {e}" for e in errors))
