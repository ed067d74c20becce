"""Reading and writing a task's blobs: every read is checked against its on-chain commitment."""

from __future__ import annotations

import numpy as np

from fedchain.codec.blob import (
    BlobKind,
    MalformedBlob,
    VectorBlob,
    decode_vector_blob,
    encode_vector_blob,
)
from fedchain.codec.digest import blob_digest
from fedchain.codec.merkle import blob_root
from fedchain.errors import FedchainError
from fedchain.node.task_config import TaskConfig
from fedchain.storage import BlobStore

__all__ = ["CommitmentMismatch", "TaskBlobs"]


class CommitmentMismatch(FedchainError):
    """A blob does not match the Merkle root committed on-chain."""


class TaskBlobs:
    """A task's view of the store: typed puts and verified gets of vector blobs."""

    def __init__(self, store: BlobStore, config: TaskConfig) -> None:
        self.store = store
        self.config = config

    def put_vector(self, kind: BlobKind, values: np.ndarray) -> tuple[bytes, bytes]:
        """Store a vector blob; returns (merkle_root, digest) for the chain."""
        data = encode_vector_blob(kind, values, frac_bits=self.config.frac_bits)
        root = blob_root(data, chunk_elems=self.config.chunk_elems)
        return root, self.store.put(data)  # the store hashes the bytes once, for their address

    def get_vector(self, kind: BlobKind, digest: bytes, *, root: bytes | None = None) -> VectorBlob:
        """Fetch, check digest (store), shape and kind (decoder) and Merkle root (if given)."""
        data = self.store.get(digest)
        blob = decode_vector_blob(
            data, expected_kind=kind, expected_length=self.config.num_parameters
        )
        if blob.frac_bits != self.config.frac_bits:
            raise MalformedBlob(
                f"blob {digest.hex()[:16]}… uses {blob.frac_bits} fractional bits, the task {self.config.frac_bits}"
            )
        if root is not None:
            got = blob_root(data, chunk_elems=self.config.chunk_elems)
            if got != root:
                raise CommitmentMismatch(
                    f"blob {digest.hex()[:16]}… has Merkle root {got.hex()[:16]}…, committed {root.hex()[:16]}…"
                )
        return blob

    def model_digest(self, values: np.ndarray) -> bytes:
        """The digest a model vector's blob has (without storing it)."""
        return blob_digest(
            encode_vector_blob(BlobKind.MODEL, values, frac_bits=self.config.frac_bits)
        )
