"""A blob store in a local directory: the default store, shared by the demo's threads.

Files live at ``root/<first 2 hex>/<64 hex>``. Writes go to a temporary file in the same
directory, are fsynced, then ``os.replace``d into place, so a reader (another thread or process)
sees either no file or the complete blob, never a partial one. No lock is needed: concurrent
puts of the same blob write identical bytes and the last rename wins.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

from fedchain.storage.errors import BlobNotFound, BlobTooLarge, DigestMismatch, StoreError

__all__ = ["DEFAULT_MAX_BLOB_BYTES", "LocalDirStore"]

DEFAULT_MAX_BLOB_BYTES = 256 * 2**20
_TMP_PREFIX = ".tmp-"


class LocalDirStore:
    """Content-addressed blobs in a directory tree; safe for concurrent threads and processes."""

    def __init__(self, root: Path, *, max_blob_bytes: int = DEFAULT_MAX_BLOB_BYTES) -> None:
        if max_blob_bytes <= 0:
            raise StoreError(f"max_blob_bytes must be positive, got {max_blob_bytes}")
        self.root = Path(root)
        self.max_blob_bytes = max_blob_bytes
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create blob store directory {self.root}: {exc}") from exc

    def __repr__(self) -> str:
        return f"LocalDirStore({str(self.root)!r})"

    def path_for(self, digest: bytes) -> Path:
        """Where the blob with ``digest`` is (or would be) stored."""
        name = _check_digest(digest)
        return self.root / name[:2] / name

    def put(self, data: bytes) -> bytes:
        """Store ``data`` atomically and return its SHA-256; storing it again is a no-op."""
        if len(data) > self.max_blob_bytes:
            raise BlobTooLarge(
                f"blob of {len(data)} bytes exceeds this store's limit of {self.max_blob_bytes}"
            )
        digest = hashlib.sha256(data).digest()
        path = self.path_for(digest)
        if self._intact(path, digest):
            return digest
        try:
            path.parent.mkdir(exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=path.parent)
            try:
                if hasattr(os, "fchmod"):
                    os.fchmod(fd, 0o644)  # blobs are public; mkstemp's 0600 would hide them
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
            _fsync_dir(path.parent)
        except OSError as exc:
            raise StoreError(f"cannot write blob {digest.hex()} to {path}: {exc}") from exc
        return digest

    def get(self, digest: bytes) -> bytes:
        """The blob with ``digest``, verified against it (never returns bytes that do not match)."""
        path = self.path_for(digest)
        try:
            size = path.stat().st_size
            if size > self.max_blob_bytes:
                raise BlobTooLarge(
                    f"blob {digest.hex()} at {path} is {size} bytes, "
                    f"over this store's limit of {self.max_blob_bytes}"
                )
            data = path.read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(f"blob {digest.hex()} not in store (no file {path})") from None
        except OSError as exc:
            raise StoreError(f"cannot read blob {digest.hex()} from {path}: {exc}") from exc
        actual = hashlib.sha256(data).digest()
        if actual != digest:
            raise DigestMismatch(
                f"blob {digest.hex()} at {path} is corrupt or tampered: "
                f"its content hashes to {actual.hex()}"
            )
        return data

    def has(self, digest: bytes) -> bool:
        """True when a file for ``digest`` exists (use ``get`` to verify its content)."""
        return self.path_for(digest).is_file()

    def _intact(self, path: Path, digest: bytes) -> bool:
        """True when ``path`` already holds the right bytes (a damaged copy gets rewritten)."""
        try:
            return hashlib.sha256(path.read_bytes()).digest() == digest
        except OSError:
            return False


def _check_digest(digest: bytes) -> str:
    if not isinstance(digest, bytes | bytearray) or len(digest) != 32:
        raise StoreError(f"a blob digest is 32 bytes of SHA-256, got {digest!r:.80}")
    return bytes(digest).hex()


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable (POSIX); silently skipped where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
