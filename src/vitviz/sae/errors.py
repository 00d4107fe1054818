"""The errors of SAE training and storage that mean bad input: one line that says what is wrong and what to do."""
from __future__ import annotations

from vitviz.core.errors import DivergedError


class SAETrainingError(DivergedError):
    """A training step whose loss or gradient is not finite; the message names the step and the fix."""
