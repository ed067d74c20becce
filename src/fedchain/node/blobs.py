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


def _check_ring_arg(kind: BlobKind, ring_bits: int | None) -> None:
    """A MASKED vector lives in the round's ring, which the caller must name; no other kind has
    one. A TypeError (a caller's bug), not a FedchainError a node would pin on a participant."""
    if BlobKind(kind) == BlobKind.MASKED and ring_bits is None:
        raise TypeError("a MASKED vector needs ring_bits=, the round's ring width b")
    if BlobKind(kind) != BlobKind.MASKED and ring_bits is not None:
        raise TypeError(f"ring_bits is only for MASKED vectors, not {BlobKind(kind).name}")


class TaskBlobs:
    """A task's view of the store: typed puts and verified gets of vector blobs."""

    def __init__(self, store: BlobStore, config: TaskConfig) -> None:
        self.store = store
        self.config = config

    def put_vector(
        self, kind: BlobKind, values: np.ndarray, *, ring_bits: int | None = None
    ) -> tuple[bytes, bytes]:
        """Store a vector blob; returns (merkle_root, digest) for the chain.

        ``ring_bits`` is the round's ring width b for a MASKED input (required), and must be
        left out for every other kind.
        """
        _check_ring_arg(kind, ring_bits)
        data = encode_vector_blob(
            kind, values, frac_bits=self.config.frac_bits, ring_bits=ring_bits
        )
        root = blob_root(data, chunk_elems=self.config.chunk_elems)
        return root, self.store.put(data)  # the store hashes the bytes once, for their address

    def get_vector(
        self,
        kind: BlobKind,
        digest: bytes,
        *,
        root: bytes | None = None,
        ring_bits: int | None = None,
    ) -> VectorBlob:
        """Fetch, check digest (store), shape and kind (decoder) and Merkle root (if given).

        For a MASKED input the caller passes the round's ring width b as ``ring_bits``
        (required); a blob packed in another ring is refused (MalformedBlob).
        """
        _check_ring_arg(kind, ring_bits)
        data = self.store.get(digest)
        blob = decode_vector_blob(
            data,
            expected_kind=kind,
            expected_length=self.config.num_parameters,
            expected_ring_bits=ring_bits,
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
