"""Reading and writing a task's vectors: every read is checked against its on-chain root.

A vector is named in the store by its Merkle-sum root (the one commitment the chain holds), so
"the blob does not match its commitment" cannot be a separate state: whatever is stored under a
root either opens to it (with the owner's address and its declared chunk sums) or it is as good
as missing. An UPDATE's stored object carries its declared chunk sums, so a false squared norm
is found here and can be proven on-chain from the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedchain.codec.blob import (
    BlobKind,
    MalformedBlob,
    VectorBlob,
    decode_vector_blob,
    encode_vector_blob,
)
from fedchain.codec.committed import decode_committed, encode_committed
from fedchain.codec.merkle import ZERO_OWNER, MerkleSumTree, Owner, chunk_sums
from fedchain.errors import FedchainError
from fedchain.node.task_config import TaskConfig
from fedchain.storage import BlobStore

__all__ = [
    "CommitmentMismatch",
    "CommittedVector",
    "NormLie",
    "OpenedVector",
    "TaskBlobs",
    "ZERO_OWNER",
]


class CommitmentMismatch(FedchainError):
    """What is stored under a root does not open to it (for this owner)."""


class NormLie(FedchainError):
    """An update's declared chunk sums (or their total) are not its true squared norm."""

    def __init__(self, message: str, chunk: int, tree: MerkleSumTree) -> None:
        super().__init__(message)
        self.chunk = chunk
        self.tree = tree  # the liar's own tree: what the on-chain proof opens


@dataclass(frozen=True)
class CommittedVector:
    """A vector ready to commit: its root and squared norm, and the bytes to store."""

    root: bytes
    sum_sq: int
    data: bytes
    tree: MerkleSumTree


@dataclass(frozen=True)
class OpenedVector:
    """A vector fetched by its root and checked: the decoded blob and its owner's tree."""

    blob: VectorBlob
    tree: MerkleSumTree

    @property
    def values(self) -> np.ndarray:
        return self.blob.values


def _check_ring_arg(kind: BlobKind, ring_bits: int | None) -> None:
    """A MASKED vector lives in the round's ring, which the caller must name; no other kind has
    one. A TypeError (a caller's bug), not a FedchainError a node would pin on a participant."""
    if BlobKind(kind) == BlobKind.MASKED and ring_bits is None:
        raise TypeError("a MASKED vector needs ring_bits=, the round's ring width b")
    if BlobKind(kind) != BlobKind.MASKED and ring_bits is not None:
        raise TypeError(f"ring_bits is only for MASKED vectors, not {BlobKind(kind).name}")


class TaskBlobs:
    """A task's view of the store: typed commits and verified opens of vectors."""

    def __init__(self, store: BlobStore, config: TaskConfig) -> None:
        self.store = store
        self.config = config

    def commit_vector(
        self,
        kind: BlobKind,
        values: np.ndarray,
        *,
        owner: Owner = ZERO_OWNER,
        ring_bits: int | None = None,
        sums: list[int] | None = None,
    ) -> CommittedVector:
        """Encode and commit to a vector without storing it (a trainer publishes its update
        only once the commit window closed: the root hides it until then).

        ``sums`` overrides the honest chunk sums (only fault injection lies about them).
        """
        _check_ring_arg(kind, ring_bits)
        data = encode_vector_blob(
            kind, values, frac_bits=self.config.frac_bits, ring_bits=ring_bits
        )
        if sums is None:
            sums = chunk_sums(
                kind, values, chunk_elems=self.config.chunk_elems, ring_bits=ring_bits
            )
        tree = MerkleSumTree(data, chunk_elems=self.config.chunk_elems, owner=owner, sums=sums)
        return CommittedVector(tree.root, tree.top_sum, encode_committed(data, sums), tree)

    def publish(self, vector: CommittedVector) -> None:
        """Store a committed vector under its root."""
        self.store.put_named(vector.root, vector.data)

    def put_vector(
        self,
        kind: BlobKind,
        values: np.ndarray,
        *,
        owner: Owner = ZERO_OWNER,
        ring_bits: int | None = None,
    ) -> CommittedVector:
        """Commit to a vector and store it at once (aggregates, models, masked inputs)."""
        vector = self.commit_vector(kind, values, owner=owner, ring_bits=ring_bits)
        self.publish(vector)
        return vector

    def open_vector(
        self,
        kind: BlobKind,
        root: bytes,
        *,
        owner: Owner = ZERO_OWNER,
        ring_bits: int | None = None,
        sum_sq: int | None = None,
    ) -> OpenedVector:
        """Fetch the vector stored under ``root`` and check it opens to it.

        Raises BlobNotFound (nothing stored), MalformedBlob (not a well-formed ``kind`` vector of
        the task), CommitmentMismatch (does not open to ``root`` as ``owner``'s), NormLie (an
        UPDATE whose declared chunk sums, or their total against the committed ``sum_sq``, are
        false: provable on-chain from the same bytes).
        """
        _check_ring_arg(kind, ring_bits)
        cfg = self.config
        data = self.store.get_named(root)
        blob_bytes, declared = decode_committed(
            data, kind=kind, chunk_elems=cfg.chunk_elems, expected_length=cfg.num_parameters
        )
        blob = decode_vector_blob(
            blob_bytes,
            expected_kind=kind,
            expected_length=cfg.num_parameters,
            expected_ring_bits=ring_bits,
        )
        if blob.frac_bits != cfg.frac_bits:
            raise MalformedBlob(
                f"vector {root.hex()[:16]}… uses {blob.frac_bits} fractional bits, the task {cfg.frac_bits}"
            )
        tree = MerkleSumTree(blob_bytes, chunk_elems=cfg.chunk_elems, owner=owner, sums=declared)
        if tree.root != bytes(root):
            raise CommitmentMismatch(
                f"the vector stored under {root.hex()[:16]}… does not open to it as {_show(owner)}'s"
            )
        if BlobKind(kind) == BlobKind.UPDATE:
            honest = chunk_sums(kind, blob.values, chunk_elems=cfg.chunk_elems)
            for i, (d, h) in enumerate(zip(declared, honest, strict=True)):
                if d != h:
                    raise NormLie(f"chunk {i} declares sum of squares {d}, it is {h}", i, tree)
            if sum_sq is not None and tree.top_sum != sum_sq:
                raise NormLie(
                    f"committed squared norm {sum_sq}, the chunks add up to {tree.top_sum}", 0, tree
                )
        return OpenedVector(blob, tree)

    def get_vector(
        self,
        kind: BlobKind,
        root: bytes,
        *,
        owner: Owner = ZERO_OWNER,
        ring_bits: int | None = None,
    ) -> VectorBlob:
        """The checked vector under ``root`` (see :meth:`open_vector`)."""
        return self.open_vector(kind, root, owner=owner, ring_bits=ring_bits).blob

    def model_root(self, values: np.ndarray) -> bytes:
        """The root a model vector commits to (without storing it)."""
        return self.commit_vector(BlobKind.MODEL, values).root


def _show(owner: Owner) -> str:
    if isinstance(owner, str):
        return owner
    return "0x" + bytes(owner).hex()
