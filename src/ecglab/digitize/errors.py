"""Errors of the classical digitizer: each one line naming the image and what is wrong."""

from __future__ import annotations

from ecglab.errors import EcglabError


class DigitizeError(EcglabError, ValueError):
    """An ECG image cannot be digitized."""


class ImageError(DigitizeError):
    """The file is missing, unreadable, not an image, or of an unusable size."""


class GridError(DigitizeError):
    """No ECG paper grid (or usable scale) could be found."""


class LayoutError(DigitizeError):
    """The lead rows do not match a known 12-lead layout, or no trace was found."""
