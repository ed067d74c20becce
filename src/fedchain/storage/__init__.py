"""Content-addressed blob stores: where updates and models live, named by their SHA-256."""

from __future__ import annotations

from fedchain.storage.base import BlobStore
from fedchain.storage.errors import BlobNotFound, BlobTooLarge, DigestMismatch, StoreError
from fedchain.storage.local import LocalDirStore

__all__ = [
    "BlobNotFound",
    "BlobStore",
    "BlobTooLarge",
    "DigestMismatch",
    "LocalDirStore",
    "StoreError",
]
