"""ecglab: from an ECG wherever it lives to a clinically meaningful answer."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ecglab")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
