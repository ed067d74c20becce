"""Protocol messages: one canonical encoding each, and clear refusals of anything else."""

from __future__ import annotations

import hashlib
import json

import pytest
from eth_utils import to_checksum_address

from fedchain.secagg import (
    Complaint,
    KeyAdvert,
    KeyShares,
    MalformedMessage,
    ShareBundle,
    UnmaskShares,
)
from fedchain.secagg.messages import SEALED_BUNDLE_BYTES
from fedchain.secagg.shamir import PRIME


def _addr(label: str) -> str:
    return to_checksum_address(hashlib.sha256(label.encode()).digest()[:20])


ME, A, B, C = _addr("me"), _addr("a"), _addr("b"), _addr("c")
WHO = {"task_id": 3, "round": 4, "participant": ME}

ADVERT = KeyAdvert(**WHO, enc_pk=b"\x01" * 32, mask_pk=b"\x02" * 32)
SHARES = KeyShares(
    **WHO,
    self_mask_commitment=b"\x03" * 32,
    ciphertexts={A: b"\x04" * SEALED_BUNDLE_BYTES, B: b"\x05" * SEALED_BUNDLE_BYTES},
)
UNMASK = UnmaskShares(
    **WHO,
    self_mask_shares={A: (7, PRIME - 1)},
    mask_key_shares={B: (7, 12345)},
    pairwise_seeds={B: b"\x06" * 32, C: b"\x07" * 32},
    bad_senders=(C,),
)
COMPLAINT = Complaint(**WHO, seeds={B: b"\x08" * 32, A: b"\x09" * 32})
MESSAGES = [ADVERT, SHARES, UNMASK, COMPLAINT]
Message = KeyAdvert | KeyShares | UnmaskShares | Complaint


@pytest.mark.parametrize("msg", MESSAGES, ids=lambda m: type(m).__name__)
def test_round_trip_is_exact_and_canonical(msg: Message) -> None:
    # Execute
    data = msg.to_bytes()
    back = type(msg).from_bytes(data, **WHO)

    # Assert
    assert back == msg
    assert back.to_bytes() == data
    assert data == json.dumps(json.loads(data), sort_keys=True, separators=(",", ":")).encode()


@pytest.mark.parametrize("msg", MESSAGES, ids=lambda m: type(m).__name__)
@pytest.mark.parametrize(
    ("expected", "message"),
    [
        ({"task_id": 99}, "expected task 99 round 4"),
        ({"round": 5}, "expected task 3 round 5"),
        ({"participant": A}, f"is from {ME}, expected {A}"),
    ],
)
def test_decode_checks_task_round_participant(
    msg: Message, expected: dict[str, object], message: str
) -> None:
    with pytest.raises(MalformedMessage, match=message):
        type(msg).from_bytes(msg.to_bytes(), **{**WHO, **expected})


def _twice(msg: Message, field: str, key: str, value: str) -> bytes:
    """``msg``'s bytes with ``key`` put a second time at the head of object ``field``."""
    head = f'"{field}":{{'.encode()
    assert head in msg.to_bytes()
    return msg.to_bytes().replace(head, head + f'"{key}":"{value}",'.encode())


def _edit(msg: Message, **changes: object) -> bytes:
    obj = json.loads(msg.to_bytes())
    for key, value in changes.items():
        if value is None:
            del obj[key]
        else:
            obj[key] = value
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    ("cls", "data", "message"),
    [
        (KeyAdvert, b"\xff", "not valid JSON"),
        (KeyAdvert, b"[]", "JSON object"),
        (KeyAdvert, _edit(ADVERT, format="fedchain/secagg/key-shares/v1"), "format must be"),
        (KeyAdvert, _edit(ADVERT, enc_pk=None), "missing field"),
        (KeyAdvert, _edit(ADVERT, extra=1), "unknown field"),
        (KeyAdvert, _edit(ADVERT, enc_pk="zz" * 32), "not valid hex"),
        (KeyAdvert, _edit(ADVERT, enc_pk="00" * 31), "must be 32 bytes"),
        (KeyAdvert, _edit(ADVERT, mask_pk="01" * 32), "must differ"),
        (KeyAdvert, _edit(ADVERT, participant=ME.lower()), "checksummed"),
        (KeyAdvert, _edit(ADVERT, round="4"), "round must be an integer"),
        (KeyAdvert, ADVERT.to_bytes().replace(b":", b": "), "canonical form"),
        (
            KeyAdvert,
            ADVERT.to_bytes().replace(b'"round":4', b'"round":4,"round":4'),
            "duplicate key",
        ),
        (
            KeyShares,
            _edit(SHARES, ciphertexts={A: "00" * 10}),
            f"must be {SEALED_BUNDLE_BYTES} bytes",
        ),
        (KeyShares, _edit(SHARES, ciphertexts={ME: "00" * SEALED_BUNDLE_BYTES}), "to itself"),
        (KeyShares, _edit(SHARES, ciphertexts=[]), "keyed by address"),
        (UnmaskShares, _edit(UNMASK, mask_key_shares={A: [7, "00" * 66]}), "both secrets"),
        (UnmaskShares, _edit(UNMASK, self_mask_shares={A: [0, "00" * 66]}), "x must be"),
        (UnmaskShares, _edit(UNMASK, self_mask_shares={A: [7, "ff" * 66]}), "y must be"),
        (UnmaskShares, _edit(UNMASK, self_mask_shares={A: [7]}), r"\[x, y-hex\]"),
        (UnmaskShares, _edit(UNMASK, bad_senders=[C, C]), "duplicates"),
        (UnmaskShares, _edit(UNMASK, bad_senders=[A]), "both a bad sender and a share owner"),
        (UnmaskShares, _edit(UNMASK, bad_senders=[ME]), "no share of its own"),
        (UnmaskShares, _edit(UNMASK, pairwise_seeds={B: "00" * 31}), "must be 32 bytes, got 31"),
        (UnmaskShares, _edit(UNMASK, pairwise_seeds={B: "zz" * 32}), "not valid hex"),
        (UnmaskShares, _edit(UNMASK, pairwise_seeds={B.lower(): "00" * 32}), "checksummed"),
        (UnmaskShares, _edit(UNMASK, pairwise_seeds={"bob": "00" * 32}), "checksummed"),
        (UnmaskShares, _edit(UNMASK, pairwise_seeds={ME: "00" * 32}), "with itself"),
        (UnmaskShares, _edit(UNMASK, pairwise_seeds={A: "00" * 32}), "both secrets of"),
        (UnmaskShares, _edit(UNMASK, pairwise_seeds=["00" * 32]), "keyed by address"),
        (UnmaskShares, _edit(UNMASK, pairwise_seeds=None), "missing field"),
        (UnmaskShares, _twice(UNMASK, "pairwise_seeds", B, "00" * 32), "duplicate key"),
        (
            UnmaskShares,
            _edit(UNMASK, format="fedchain/secagg/unmask-shares/v1"),
            "format must be",
        ),
        (Complaint, _edit(COMPLAINT, seeds={B: "00" * 33}), "must be 32 bytes, got 33"),
        (Complaint, _edit(COMPLAINT, seeds={B: 7}), "hex string"),
        (Complaint, _edit(COMPLAINT, seeds={"0x1234": "00" * 32}), "checksummed"),
        (Complaint, _edit(COMPLAINT, seeds={ME: "00" * 32}), "with itself"),
        (Complaint, _edit(COMPLAINT, seeds={}), "accuses nobody"),
        (Complaint, _edit(COMPLAINT, seeds=[B]), "keyed by address"),
        (Complaint, _edit(COMPLAINT, seeds=None), "missing field"),
        (Complaint, _edit(COMPLAINT, accused=[B]), "unknown field"),
        (Complaint, _edit(COMPLAINT, format=UnmaskShares.FORMAT), "format must be"),
        (Complaint, _edit(COMPLAINT, participant=C), f"is from {C}, expected {ME}"),
        (Complaint, COMPLAINT.to_bytes().replace(b'"seeds":{', b'"seeds": {'), "canonical form"),
        (Complaint, _twice(COMPLAINT, "seeds", A, "00" * 32), "duplicate key"),
    ],
)
def test_decode_refuses_malformed_input(cls: type, data: bytes, message: str) -> None:
    with pytest.raises(MalformedMessage, match=message):
        cls.from_bytes(data, **WHO)


def test_messages_are_immutable() -> None:
    with pytest.raises(AttributeError):
        ADVERT.round = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        SHARES.ciphertexts[C] = b""  # type: ignore[index]
    with pytest.raises(TypeError):
        UNMASK.self_mask_shares[C] = (1, 1)  # type: ignore[index]
    with pytest.raises(TypeError):
        UNMASK.pairwise_seeds[A] = bytes(32)  # type: ignore[index]
    with pytest.raises(TypeError):
        COMPLAINT.seeds[C] = bytes(32)  # type: ignore[index]


def test_complaint_names_the_accused_and_takes_bytes_like_seeds() -> None:
    assert COMPLAINT.accused == {A, B}
    same = Complaint(**WHO, seeds={A: bytearray(b"\x09" * 32), B: b"\x08" * 32})
    assert same == COMPLAINT and same.to_bytes() == COMPLAINT.to_bytes()
    assert all(type(seed) is bytes for seed in same.seeds.values())
    with pytest.raises(MalformedMessage, match="must be 32 bytes"):
        Complaint(**WHO, seeds={A: "09" * 32})  # type: ignore[dict-item]


def test_a_bad_sender_may_have_its_pairwise_seed_revealed_but_no_share() -> None:
    # the seed of an excluded or dropped neighbour whose bundle was bad is what we can give
    msg = UnmaskShares(**WHO, pairwise_seeds={C: bytes(32)}, bad_senders=(C,))
    assert UnmaskShares.from_bytes(msg.to_bytes(), **WHO) == msg
    with pytest.raises(MalformedMessage, match="both a bad sender and a share owner"):
        UnmaskShares(**WHO, mask_key_shares={C: (7, 1)}, bad_senders=(C,))


def test_share_bundle_round_trip_and_length() -> None:
    bundle = ShareBundle(x=9, self_mask_share=PRIME - 1, mask_key_share=0)
    assert ShareBundle.from_bytes(bundle.to_bytes()) == bundle
    with pytest.raises(MalformedMessage, match="bytes"):
        ShareBundle.from_bytes(bundle.to_bytes()[:-1])
