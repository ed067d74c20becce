"""LocalDirStore: content addressing, atomic idempotent writes, tamper detection, threads."""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fedchain.errors import FedchainError
from fedchain.storage import (
    BlobNotFound,
    BlobStore,
    BlobTooLarge,
    DigestMismatch,
    LocalDirStore,
    StoreError,
)


def _all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_put_get_round_trip_and_layout(tmp_path: Path) -> None:
    # Prepare
    store = LocalDirStore(tmp_path / "blobs")
    data = b"hello blob"

    # Execute
    digest = store.put(data)

    # Assert
    hexd = hashlib.sha256(data).hexdigest()
    assert digest == hashlib.sha256(data).digest()
    assert (tmp_path / "blobs" / hexd[:2] / hexd).read_bytes() == data
    assert store.get(digest) == data
    assert store.has(digest)
    assert isinstance(store, BlobStore)


def test_put_is_idempotent(tmp_path: Path) -> None:
    # Prepare
    store = LocalDirStore(tmp_path)

    # Execute
    d1 = store.put(b"same")
    d2 = store.put(b"same")

    # Assert
    assert d1 == d2
    assert len(_all_files(tmp_path)) == 1


def test_empty_blob_is_storable(tmp_path: Path) -> None:
    # Prepare
    store = LocalDirStore(tmp_path)

    # Execute
    digest = store.put(b"")

    # Assert
    assert store.get(digest) == b""


def test_missing_blob(tmp_path: Path) -> None:
    # Prepare
    store = LocalDirStore(tmp_path)
    digest = hashlib.sha256(b"never stored").digest()

    # Execute / Assert
    assert not store.has(digest)
    with pytest.raises(BlobNotFound, match=digest.hex()):
        store.get(digest)


def test_tampered_file_is_detected_and_put_repairs_it(tmp_path: Path) -> None:
    # Prepare
    store = LocalDirStore(tmp_path)
    digest = store.put(b"original content")
    path = store.path_for(digest)
    path.write_bytes(b"original c0ntent")

    # Execute / Assert
    with pytest.raises(DigestMismatch) as info:
        store.get(digest)
    assert digest.hex() in str(info.value) and str(path) in str(info.value)
    assert store.put(b"original content") == digest
    assert store.get(digest) == b"original content"


def test_oversized_blob_refused(tmp_path: Path) -> None:
    # Prepare
    store = LocalDirStore(tmp_path, max_blob_bytes=10)

    # Execute / Assert
    assert store.get(store.put(b"x" * 10)) == b"x" * 10
    with pytest.raises(BlobTooLarge, match="11 bytes exceeds .* limit of 10"):
        store.put(b"x" * 11)
    assert len(_all_files(tmp_path)) == 1


def test_oversized_file_on_disk_refused_on_get(tmp_path: Path) -> None:
    # Prepare
    data = b"y" * 100
    digest = LocalDirStore(tmp_path).put(data)
    small = LocalDirStore(tmp_path, max_blob_bytes=50)

    # Execute / Assert
    with pytest.raises(BlobTooLarge):
        small.get(digest)


@pytest.mark.parametrize("bad", [b"", b"\x00" * 31, "00" * 32])
def test_bad_digest_refused(tmp_path: Path, bad: bytes) -> None:
    # Prepare
    store = LocalDirStore(tmp_path)

    # Execute / Assert
    with pytest.raises(StoreError, match="32 bytes"):
        store.get(bad)


def test_errors_are_fedchain_errors() -> None:
    # Assert
    for cls in (BlobNotFound, DigestMismatch, BlobTooLarge):
        assert issubclass(cls, StoreError) and issubclass(cls, FedchainError)


def test_concurrent_puts_from_threads(tmp_path: Path) -> None:
    # Prepare: 8 threads put 20 distinct blobs each, plus one blob all of them share
    store = LocalDirStore(tmp_path)
    shared = b"shared" * 10_000
    start = threading.Barrier(8)

    def worker(t: int) -> list[tuple[bytes, bytes]]:
        start.wait()
        out = [(store.put(shared), shared)]
        for i in range(20):
            data = f"thread {t} blob {i}".encode() * 500
            out.append((store.put(data), data))
        return out

    # Execute
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = [pair for batch in pool.map(worker, range(8)) for pair in batch]

    # Assert
    for digest, data in results:
        assert store.get(digest) == data
    files = _all_files(tmp_path)
    assert len(files) == 8 * 20 + 1
    assert not [f for f in files if f.name.startswith(".tmp-")]


def test_failed_write_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare
    store = LocalDirStore(tmp_path)

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr("fedchain.storage.local.os.replace", broken_replace)

    # Execute / Assert
    with pytest.raises(StoreError, match="disk on fire"):
        store.put(b"doomed")
    assert _all_files(tmp_path) == []


# --- named (root-addressed) entries ------------------------------------------------------------


def test_named_round_trip_and_layout(tmp_path: Path) -> None:
    # Prepare
    store = LocalDirStore(tmp_path)
    name = bytes(range(32))

    # Execute
    store.put_named(name, b"committed vector")

    # Assert
    path = tmp_path / "named" / name.hex()[:2] / name.hex()
    assert store.named_path_for(name) == path and path.read_bytes() == b"committed vector"
    assert store.get_named(name) == b"committed vector"
    assert store.has_named(name) and not store.has(name)
    assert isinstance(store, BlobStore)


def test_named_put_is_idempotent_and_keeps_the_first_content(tmp_path: Path) -> None:
    # Prepare
    store = LocalDirStore(tmp_path)
    name = b"\x07" * 32
    store.put_named(name, b"first")

    # Execute / Assert
    store.put_named(name, b"first")
    with pytest.raises(StoreError, match="different content"):
        store.put_named(name, b"second")
    assert store.get_named(name) == b"first"
    assert len(_all_files(tmp_path)) == 1


def test_named_entry_is_not_verified_and_can_vanish(tmp_path: Path) -> None:
    # Prepare: the store cannot know a name's commitment, so it returns what it holds
    store = LocalDirStore(tmp_path)
    name = b"\x09" * 32
    store.put_named(name, b"original")
    store.named_path_for(name).write_bytes(b"tampered")

    # Execute / Assert
    assert store.get_named(name) == b"tampered"
    store.named_path_for(name).unlink()
    assert not store.has_named(name)
    with pytest.raises(BlobNotFound, match=name.hex()):
        store.get_named(name)


def test_named_refusals(tmp_path: Path) -> None:
    # Prepare
    store = LocalDirStore(tmp_path, max_blob_bytes=4)

    # Execute / Assert
    with pytest.raises(StoreError, match="32 bytes"):
        store.put_named(b"short", b"x")
    with pytest.raises(BlobTooLarge):
        store.put_named(b"\x01" * 32, b"12345")
    assert _all_files(tmp_path) == []


def test_concurrent_named_puts_keep_exactly_one_content(tmp_path: Path) -> None:
    # Prepare: 8 threads race to put different bytes under one name
    store = LocalDirStore(tmp_path)
    name = b"\x0a" * 32
    start = threading.Barrier(8)

    def worker(t: int) -> bool:
        start.wait()
        try:
            store.put_named(name, f"content {t}".encode() * 1000)
        except StoreError:
            return False
        return True

    # Execute
    with ThreadPoolExecutor(max_workers=8) as pool:
        won = list(pool.map(worker, range(8)))

    # Assert: one writer's bytes are kept, that writer (alone) succeeded, no temp files remain
    assert won.count(True) == 1
    kept = store.get_named(name)
    assert kept == f"content {won.index(True)}".encode() * 1000
    assert [p.name for p in _all_files(tmp_path)] == [name.hex()]
