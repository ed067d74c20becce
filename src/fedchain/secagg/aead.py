"""Encryption of the share bundles a participant sends each neighbour (ChaCha20-Poly1305).

The ciphertexts travel through the public store, so they must be confidential (only the
recipient may read its shares) and authenticated (a tampered or replayed bundle is detected,
not silently turned into a wrong share). The associated data binds task, round, sender and
recipient, so a bundle cannot be moved to another round or presented as coming from someone
else. Sealed form: ``nonce (12 B, fresh random) ‖ ciphertext ‖ tag (16 B)``.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from fedchain.secagg.addresses import address_bytes, check_address
from fedchain.secagg.errors import SecAggError, ShareAuthenticationError
from fedchain.secagg.keys import KEY_BYTES, check_round, check_task_id

__all__ = ["NONCE_BYTES", "OVERHEAD", "TAG_BYTES", "decrypt", "encrypt", "share_aad"]

NONCE_BYTES = 12
TAG_BYTES = 16
OVERHEAD = NONCE_BYTES + TAG_BYTES
_AAD_TAG = b"fedchain/secagg/v1/share-bundle\x00"


def share_aad(task_id: int, round: int, sender: str, recipient: str) -> bytes:
    """The associated data of a share bundle: a tag, task, round, sender, recipient."""
    return (
        _AAD_TAG
        + check_task_id(task_id).to_bytes(32, "big")
        + check_round(round).to_bytes(8, "big")
        + address_bytes(check_address(sender, "sender"))
        + address_bytes(check_address(recipient, "recipient"))
    )


def _cipher(key: bytes) -> ChaCha20Poly1305:
    if len(key) != KEY_BYTES:
        raise SecAggError(f"AEAD key must be {KEY_BYTES} bytes, got {len(key)}")
    return ChaCha20Poly1305(bytes(key))


def encrypt(
    key: bytes,
    plaintext: bytes,
    *,
    task_id: int,
    round: int,
    sender: str,
    recipient: str,
    nonce: bytes | None = None,
) -> bytes:
    """``nonce ‖ ChaCha20-Poly1305(key, nonce, plaintext, aad)``; the nonce is random unless given.

    A random 96-bit nonce is safe here: each key (one direction of one pair in one round)
    encrypts a single bundle. ``nonce`` exists for deterministic tests only.
    """
    aad = share_aad(task_id, round, sender, recipient)
    n = os.urandom(NONCE_BYTES) if nonce is None else bytes(nonce)
    if len(n) != NONCE_BYTES:
        raise SecAggError(f"nonce must be {NONCE_BYTES} bytes, got {len(n)}")
    return n + _cipher(key).encrypt(n, bytes(plaintext), aad)


def decrypt(
    key: bytes, sealed: bytes, *, task_id: int, round: int, sender: str, recipient: str
) -> bytes:
    """The plaintext of a sealed bundle, or :class:`ShareAuthenticationError` naming both ends."""
    aad = share_aad(task_id, round, sender, recipient)
    cipher = _cipher(key)
    if len(sealed) < OVERHEAD:
        raise ShareAuthenticationError(
            f"share bundle from {sender} to {recipient} is {len(sealed)} bytes, "
            f"shorter than nonce + tag ({OVERHEAD})",
            sender=sender,
            recipient=recipient,
        )
    try:
        return cipher.decrypt(bytes(sealed[:NONCE_BYTES]), bytes(sealed[NONCE_BYTES:]), aad)
    except InvalidTag:
        raise ShareAuthenticationError(
            f"share bundle from {sender} to {recipient} failed authentication "
            f"(task {task_id}, round {round}): tampered, replayed or encrypted under another key",
            sender=sender,
            recipient=recipient,
        ) from None
