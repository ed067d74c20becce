"""The interface every blob store offers: content-addressed put/get, and named entries.

Nodes share only the chain and a store (architecture property 2). Because blobs are named by
their SHA-256 and ``get`` re-checks it, a store need not be trusted: a wrong byte is detected,
never silently used. Named entries are filed under a 32-byte name the caller chooses (on-chain,
a vector is named by its Merkle root); the store cannot know that commitment scheme, so it does
not verify them: callers check what ``get_named`` returns against the root.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["BlobStore"]


@runtime_checkable
class BlobStore(Protocol):
    """A store of immutable blobs, keyed by SHA-256 digest or by a caller-chosen 32-byte name."""

    def put(self, data: bytes) -> bytes:
        """Store ``data`` (idempotent) and return its 32-byte SHA-256 digest."""
        ...

    def get(self, digest: bytes) -> bytes:
        """Return the blob with ``digest``; BlobNotFound if absent, DigestMismatch if corrupt."""
        ...

    def has(self, digest: bytes) -> bool:
        """True when a blob with ``digest`` is present (content not re-verified)."""
        ...

    def put_named(self, name: bytes, data: bytes) -> None:
        """Store ``data`` under the 32-byte ``name``; idempotent. The first write is kept (a
        commitment names one content): StoreError if different bytes are put under ``name``."""
        ...

    def get_named(self, name: bytes) -> bytes:
        """The entry under ``name``, NOT verified (the caller checks it against its commitment);
        BlobNotFound if absent."""
        ...

    def has_named(self, name: bytes) -> bool:
        """True when an entry under ``name`` is present."""
        ...
