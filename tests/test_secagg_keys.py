"""Key agreement (X25519 + HKDF) and share encryption (ChaCha20-Poly1305)."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from eth_utils import to_checksum_address

from fedchain.secagg import (
    PURPOSE_PAIRWISE_MASK,
    PURPOSE_SHARE_ENCRYPTION,
    RoundKeyPairs,
    SecAggError,
    ShareAuthenticationError,
    agree,
    pair_context,
)
from fedchain.secagg.aead import NONCE_BYTES, decrypt, encrypt
from fedchain.secagg.keys import private_bytes, public_bytes, public_matches


def _addr(label: str) -> str:
    return to_checksum_address(hashlib.sha256(label.encode()).digest()[:20])


ALICE, BOB, CAROL = _addr("alice"), _addr("bob"), _addr("carol")
CTX = pair_context(1, 2, ALICE, BOB)


def test_agreement_is_symmetric() -> None:
    # Prepare
    a, b = X25519PrivateKey.generate(), X25519PrivateKey.generate()

    # Execute
    k_ab = agree(a, public_bytes(b), purpose=PURPOSE_PAIRWISE_MASK, context=CTX)
    k_ba = agree(b, public_bytes(a), purpose=PURPOSE_PAIRWISE_MASK, context=CTX)

    # Assert
    assert k_ab == k_ba
    assert len(k_ab) == 32


def test_agreement_is_separated_by_purpose_and_context() -> None:
    # Prepare
    a, b = X25519PrivateKey.generate(), X25519PrivateKey.generate()
    pb = public_bytes(b)

    # Execute
    keys = {
        "mask": agree(a, pb, purpose=PURPOSE_PAIRWISE_MASK, context=CTX),
        "share": agree(a, pb, purpose=PURPOSE_SHARE_ENCRYPTION, context=CTX),
        "other round": agree(
            a, pb, purpose=PURPOSE_PAIRWISE_MASK, context=pair_context(1, 3, ALICE, BOB)
        ),
        "other task": agree(
            a, pb, purpose=PURPOSE_PAIRWISE_MASK, context=pair_context(9, 2, ALICE, BOB)
        ),
        "reversed pair": agree(
            a, pb, purpose=PURPOSE_PAIRWISE_MASK, context=pair_context(1, 2, BOB, ALICE)
        ),
        "other pair": agree(
            a, pb, purpose=PURPOSE_PAIRWISE_MASK, context=pair_context(1, 2, ALICE, CAROL)
        ),
    }

    # Assert: six different keys from one shared secret
    assert len(set(keys.values())) == len(keys)


def test_pair_context_is_fixed_length_and_checked() -> None:
    assert len(CTX) == 32 + 8 + 20 + 20
    with pytest.raises(SecAggError, match="checksummed"):
        pair_context(1, 2, ALICE.lower(), BOB)
    with pytest.raises(SecAggError, match="round"):
        pair_context(1, -1, ALICE, BOB)


@pytest.mark.parametrize("peer", [bytes(32), b"\x01" + bytes(31), b"short"])
def test_agreement_refuses_degenerate_or_malformed_peer_keys(peer: bytes) -> None:
    with pytest.raises(SecAggError, match="(invalid|must be 32 bytes)"):
        agree(X25519PrivateKey.generate(), peer, purpose=PURPOSE_PAIRWISE_MASK, context=CTX)


def test_agreement_refuses_ambiguous_purpose() -> None:
    b = public_bytes(X25519PrivateKey.generate())
    with pytest.raises(SecAggError, match="purpose"):
        agree(X25519PrivateKey.generate(), b, purpose="a\x00b", context=CTX)


def test_round_keys_are_fresh_and_never_printed() -> None:
    # Prepare / Execute
    one, two = RoundKeyPairs.generate(), RoundKeyPairs.generate()

    # Assert
    assert len({one.enc_public, one.mask_public, two.enc_public, two.mask_public}) == 4
    assert private_bytes(one.mask).hex() not in repr(one)
    assert public_matches(private_bytes(one.mask), one.mask_public)
    assert not public_matches(private_bytes(one.mask), one.enc_public)


# --- AEAD -----------------------------------------------------------------------------------

KEY = bytes(range(32))
HEADER = {"task_id": 1, "round": 2, "sender": ALICE, "recipient": BOB}


def test_seal_open_round_trip_with_fresh_nonces() -> None:
    # Execute
    one = encrypt(KEY, b"shares", **HEADER)
    two = encrypt(KEY, b"shares", **HEADER)

    # Assert
    assert one[:NONCE_BYTES] != two[:NONCE_BYTES]
    assert decrypt(KEY, one, **HEADER) == b"shares"
    assert decrypt(KEY, two, **HEADER) == b"shares"


@pytest.mark.parametrize("position", [0, NONCE_BYTES, -1])
def test_tampering_is_detected_and_names_both_ends(position: int) -> None:
    # Prepare
    sealed = bytearray(encrypt(KEY, b"shares", **HEADER))
    sealed[position] ^= 1

    # Execute / Assert
    with pytest.raises(ShareAuthenticationError) as err:
        decrypt(KEY, bytes(sealed), **HEADER)
    assert err.value.sender == ALICE and err.value.recipient == BOB
    assert ALICE in str(err.value) and BOB in str(err.value)


@pytest.mark.parametrize(
    "changed",
    [
        {"task_id": 2},
        {"round": 3},
        {"sender": CAROL},
        {"recipient": CAROL},
        {"sender": BOB, "recipient": ALICE},
    ],
)
def test_wrong_associated_data_is_refused(changed: dict[str, object]) -> None:
    # Prepare
    sealed = encrypt(KEY, b"shares", **HEADER)

    # Execute / Assert
    with pytest.raises(ShareAuthenticationError, match="failed authentication"):
        decrypt(KEY, sealed, **{**HEADER, **changed})


def test_wrong_key_and_truncation_are_refused() -> None:
    sealed = encrypt(KEY, b"shares", **HEADER)
    with pytest.raises(ShareAuthenticationError):
        decrypt(bytes(32), sealed, **HEADER)
    with pytest.raises(ShareAuthenticationError, match="shorter than nonce"):
        decrypt(KEY, sealed[:20], **HEADER)
