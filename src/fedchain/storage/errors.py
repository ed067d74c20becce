"""Errors of the blob stores."""

from __future__ import annotations

from fedchain.errors import FedchainError

__all__ = ["BlobNotFound", "BlobTooLarge", "DigestMismatch", "StoreError"]


class StoreError(FedchainError):
    """A blob store could not do what was asked."""


class BlobNotFound(StoreError):
    """No blob with the requested digest is in the store."""


class DigestMismatch(StoreError):
    """The stored bytes do not hash to the digest they are filed under (corrupt or tampered)."""


class BlobTooLarge(StoreError):
    """A blob exceeds the store's size limit."""
