"""Content addresses for blobs.

Every blob (update, aggregate, model) is named by the SHA-256 of its bytes: the store files it
under that name and the contract records the same 32 bytes, so a reader can check that what it
fetched is exactly what was committed.
"""

from __future__ import annotations

import hashlib

__all__ = ["DIGEST_SIZE", "blob_digest", "digest_hex"]

DIGEST_SIZE = 32
"""Bytes in a digest (SHA-256), also the width of the ``bytes32`` put on-chain."""


def blob_digest(data: bytes) -> bytes:
    """The 32-byte SHA-256 of ``data``: the blob's content address and on-chain ``bytes32``."""
    return hashlib.sha256(data).digest()


def digest_hex(d: bytes) -> str:
    """Lowercase hex of a digest without ``0x``, as used in file names and messages."""
    return bytes(d).hex()
