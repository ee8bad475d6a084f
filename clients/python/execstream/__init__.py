"""execstream: typed clients, the CLI, and the generated ``execstream.v1`` protocol code."""

from ._version import __version__

__all__ = ["__version__"]
