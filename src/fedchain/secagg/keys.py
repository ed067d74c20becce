"""Per-round ephemeral X25519 key pairs and the keys two participants agree on.

Each participant makes two fresh key pairs per round: ``enc`` (encrypts the Shamir shares it
sends its neighbours) and ``mask`` (derives the pairwise mask seeds; its private key is what
gets Shamir-shared, so that the masks of a participant who drops out can be removed). Separate
keys mean that revealing a dropped participant's mask key reveals nothing about the shares it
exchanged, and fresh keys each round mean one round's reveal never touches another round.

:func:`agree` is HKDF-SHA256 over the X25519 shared secret with ``info = purpose ‖ 0x00 ‖
context``. ``context`` (see :func:`pair_context`) binds the task id, the round and an ordered
pair of addresses, so no derived key serves two roles, two rounds, two tasks or two pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from fedchain.secagg.addresses import address_bytes, check_address
from fedchain.secagg.errors import SecAggError

__all__ = [
    "KEY_BYTES",
    "PURPOSE_PAIRWISE_MASK",
    "PURPOSE_SHARE_ENCRYPTION",
    "RoundKeyPairs",
    "agree",
    "check_round",
    "check_task_id",
    "pair_context",
    "private_bytes",
    "private_from_bytes",
    "public_bytes",
    "public_matches",
]

KEY_BYTES = 32
PURPOSE_SHARE_ENCRYPTION = "fedchain/secagg/v1/share-encryption"
"""Key for the AEAD that carries shares from sender to recipient (pair in that order)."""
PURPOSE_PAIRWISE_MASK = "fedchain/secagg/v1/pairwise-mask"
"""Seed of the mask two neighbours add with opposite signs (pair in canonical order)."""


def check_task_id(task_id: object) -> int:
    """``task_id`` if it is an int that fits uint256 (the contract's task ids)."""
    if isinstance(task_id, bool) or not isinstance(task_id, int) or not 0 <= task_id < 2**256:
        raise SecAggError(f"task id must be an int in [0, 2**256), got {task_id!r}")
    return task_id


def check_round(round: object) -> int:
    """``round`` if it is an int that fits uint64."""
    if isinstance(round, bool) or not isinstance(round, int) or not 0 <= round < 2**64:
        raise SecAggError(f"round must be an int in [0, 2**64), got {round!r}")
    return round


def public_bytes(private: X25519PrivateKey) -> bytes:
    """The 32-byte raw public key of ``private``."""
    return private.public_key().public_bytes_raw()


def private_bytes(private: X25519PrivateKey) -> bytes:
    """The 32-byte raw private key (what gets Shamir-shared for the mask key)."""
    return private.private_bytes_raw()


def private_from_bytes(raw: bytes) -> X25519PrivateKey:
    """An X25519 private key from its 32 raw bytes."""
    if len(raw) != KEY_BYTES:
        raise SecAggError(f"X25519 private key must be {KEY_BYTES} bytes, got {len(raw)}")
    return X25519PrivateKey.from_private_bytes(bytes(raw))


def public_matches(private_raw: bytes, public_raw: bytes) -> bool:
    """Whether ``private_raw`` is the private key of ``public_raw`` (checks a reconstruction)."""
    if len(private_raw) != KEY_BYTES or len(public_raw) != KEY_BYTES:
        return False
    return public_bytes(private_from_bytes(private_raw)) == bytes(public_raw)


@dataclass(frozen=True, repr=False)
class RoundKeyPairs:
    """One participant's two ephemeral key pairs for one round (never reused)."""

    enc: X25519PrivateKey
    mask: X25519PrivateKey

    @classmethod
    def generate(cls) -> RoundKeyPairs:
        """Two fresh key pairs from the OS's CSPRNG."""
        return cls(enc=X25519PrivateKey.generate(), mask=X25519PrivateKey.generate())

    @property
    def enc_public(self) -> bytes:
        return public_bytes(self.enc)

    @property
    def mask_public(self) -> bytes:
        return public_bytes(self.mask)

    def __repr__(self) -> str:  # never print private keys
        return f"RoundKeyPairs(enc_public={self.enc_public.hex()}, mask_public={self.mask_public.hex()})"


def pair_context(task_id: int, round: int, first: str, second: str) -> bytes:
    """``task_id (32 B) ‖ round (8 B) ‖ first (20 B) ‖ second (20 B)``, fixed-length, big-endian.

    The caller decides the order of the pair: (sender, recipient) for share encryption, so
    each direction has its own key; canonical order for pairwise masks, so both ends agree.
    """
    return (
        check_task_id(task_id).to_bytes(32, "big")
        + check_round(round).to_bytes(8, "big")
        + address_bytes(check_address(first))
        + address_bytes(check_address(second))
    )


def agree(
    private: X25519PrivateKey, peer_public_bytes: bytes, *, purpose: str, context: bytes
) -> bytes:
    """A 32-byte key both ends derive: HKDF-SHA256(X25519(private, peer), info=purpose‖0‖context).

    Raises :class:`SecAggError` if the peer's key is malformed or of small order (X25519 then
    yields the all-zero secret, which ``cryptography`` refuses).
    """
    if not purpose or not purpose.isascii() or "\x00" in purpose:
        raise SecAggError(f"purpose must be a non-empty ASCII string without NUL, got {purpose!r}")
    if len(peer_public_bytes) != KEY_BYTES:
        raise SecAggError(
            f"X25519 public key must be {KEY_BYTES} bytes, got {len(peer_public_bytes)}"
        )
    try:
        peer = X25519PublicKey.from_public_bytes(bytes(peer_public_bytes))
        shared = private.exchange(peer)
    except ValueError as exc:
        raise SecAggError(f"key agreement failed: peer public key is invalid ({exc})") from exc
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=KEY_BYTES,
        salt=None,
        info=purpose.encode("ascii") + b"\x00" + bytes(context),
    )
    return hkdf.derive(shared)
