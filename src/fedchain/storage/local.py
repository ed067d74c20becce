"""A blob store in a local directory: the default store, shared by the demo's threads.

Files live at ``root/<first 2 hex>/<64 hex>``, named entries at ``root/named/<2 hex>/<64 hex>``.
Writes go to a temporary file in the same directory, are fsynced, then moved into place, so a
reader (another thread or process) sees either no file or the complete blob, never a partial
one. No lock is needed: concurrent puts of the same blob write identical bytes and the last
rename wins; a named entry is hard-linked into place instead, which fails if the name exists,
so the first content under a name is the one kept even when writers race.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from fedchain.storage.errors import BlobNotFound, BlobTooLarge, DigestMismatch, StoreError

__all__ = ["DEFAULT_MAX_BLOB_BYTES", "LocalDirStore"]

DEFAULT_MAX_BLOB_BYTES = 256 * 2**20
_TMP_PREFIX = ".tmp-"
_NAMED_DIR = "named"


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
        self._check_size(len(data))
        digest = hashlib.sha256(data).digest()
        path = self.path_for(digest)
        if self._intact(path, digest):
            return digest
        self._write(path, data, what=f"blob {digest.hex()}", publish=os.replace)
        return digest

    def get(self, digest: bytes) -> bytes:
        """The blob with ``digest``, verified against it (never returns bytes that do not match)."""
        path = self.path_for(digest)
        data = self._read(path, what=f"blob {digest.hex()}")
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

    def named_path_for(self, name: bytes) -> Path:
        """Where the entry named ``name`` is (or would be) stored."""
        hexname = _check_digest(name, what="an entry name")
        return self.root / _NAMED_DIR / hexname[:2] / hexname

    def put_named(self, name: bytes, data: bytes) -> None:
        """Store ``data`` under ``name`` atomically; the first content is kept, so putting the
        same bytes again is a no-op and different bytes raise StoreError."""
        self._check_size(len(data))
        path = self.named_path_for(name)
        what = f"named entry {bytes(name).hex()}"
        if not path.is_file():
            self._write(path, data, what=what, publish=_link_if_absent)
        if self._read(path, what=what) != data:
            raise StoreError(f"{what} already holds different content; a name is never rebound")

    def get_named(self, name: bytes) -> bytes:
        """The entry under ``name`` as stored: not verified (this store cannot know the
        commitment a name stands for), so callers check it against their root."""
        path = self.named_path_for(name)
        return self._read(path, what=f"named entry {bytes(name).hex()}")

    def has_named(self, name: bytes) -> bool:
        """True when an entry under ``name`` exists."""
        return self.named_path_for(name).is_file()

    def _check_size(self, size: int) -> None:
        if size > self.max_blob_bytes:
            raise BlobTooLarge(
                f"blob of {size} bytes exceeds this store's limit of {self.max_blob_bytes}"
            )

    def _write(
        self, path: Path, data: bytes, *, what: str, publish: Callable[[str, Path], None]
    ) -> None:
        """Write ``data`` to a fsynced temporary file beside ``path``, then ``publish`` it."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=path.parent)
            try:
                if hasattr(os, "fchmod"):
                    os.fchmod(fd, 0o644)  # blobs are public; mkstemp's 0600 would hide them
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                publish(tmp, path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            _fsync_dir(path.parent)
        except OSError as exc:
            raise StoreError(f"cannot write {what} to {path}: {exc}") from exc

    def _read(self, path: Path, *, what: str) -> bytes:
        try:
            size = path.stat().st_size
            if size > self.max_blob_bytes:
                raise BlobTooLarge(
                    f"{what} at {path} is {size} bytes, "
                    f"over this store's limit of {self.max_blob_bytes}"
                )
            return path.read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(f"{what} not in store (no file {path})") from None
        except OSError as exc:
            raise StoreError(f"cannot read {what} from {path}: {exc}") from exc

    def _intact(self, path: Path, digest: bytes) -> bool:
        """True when ``path`` already holds the right bytes (a damaged copy gets rewritten)."""
        try:
            return hashlib.sha256(path.read_bytes()).digest() == digest
        except OSError:
            return False


def _check_digest(digest: bytes, *, what: str = "a blob digest") -> str:
    if not isinstance(digest, bytes | bytearray) or len(digest) != 32:
        raise StoreError(f"{what} is 32 bytes, got {digest!r:.80}")
    return bytes(digest).hex()


def _link_if_absent(tmp: str, path: Path) -> None:
    """Publish ``tmp`` at ``path`` unless a file is already there (whose content then wins)."""
    with contextlib.suppress(FileExistsError):
        os.link(tmp, path)


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
