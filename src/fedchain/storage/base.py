"""The interface every blob store offers: content-addressed put/get.

Nodes share only the chain and a store (architecture property 2). Because blobs are named by
their SHA-256 and ``get`` re-checks it, a store need not be trusted: a wrong byte is detected,
never silently used.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["BlobStore"]


@runtime_checkable
class BlobStore(Protocol):
    """A content-addressed store of immutable blobs, keyed by SHA-256 digest."""

    def put(self, data: bytes) -> bytes:
        """Store ``data`` (idempotent) and return its 32-byte SHA-256 digest."""
        ...

    def get(self, digest: bytes) -> bytes:
        """Return the blob with ``digest``; BlobNotFound if absent, DigestMismatch if corrupt."""
        ...

    def has(self, digest: bytes) -> bool:
        """True when a blob with ``digest`` is present (content not re-verified)."""
        ...
