"""The root of every error fedchain raises on purpose.

Each layer subclasses :class:`FedchainError` so that a caller (the CLI above all) can tell a
refused input, which deserves a clear one-line message, from a bug, which deserves a traceback.
"""

from __future__ import annotations

__all__ = ["FedchainError"]


class FedchainError(Exception):
    """Something fedchain refused, with a message that says what was wrong."""
