"""Errors of the perception pipeline's input: each message names the file, key or line."""

from __future__ import annotations


class PerceptionError(ValueError):
    """Input the pipeline cannot use (a recording, a calibration, a feed's config)."""


class RecordingError(PerceptionError):
    """A recording folder that is missing a file or holds a malformed one."""


class CalibrationError(PerceptionError):
    """A camera calibration that cannot map the image to the floor."""
