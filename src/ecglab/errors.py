"""Exceptions of ecglab.

Every error that bad input can cause is an :class:`EcglabError`: its message is one line saying
what is wrong and where (file, line, key). The CLI prints that line and exits non-zero; the
traceback appears only with ``--debug``.
"""

from __future__ import annotations


class EcglabError(Exception):
    """Base class of every error ecglab raises on bad input or a failed operation."""

    exit_code: int = 1


class RecordError(EcglabError, ValueError):
    """A record (header, signal file, CSV, annotation) cannot be read or is invalid."""


class RecordNotFoundError(RecordError, FileNotFoundError):
    """A record or one of its files does not exist."""


class UnitsError(RecordError):
    """A physical unit is unknown or missing, so values cannot be converted to millivolts."""


class LeadError(RecordError):
    """A lead name is unknown, duplicated, or a requested lead is absent."""


class ConfigError(EcglabError, ValueError):
    """A configuration file or override is invalid (unknown key, wrong type, bad value)."""

    exit_code = 2


class DataNotFoundError(EcglabError, FileNotFoundError):
    """A dataset is not where the data-location settings say it should be."""


class DownloadError(EcglabError):
    """A download failed: offline, HTTP error, or a checksum mismatch."""
