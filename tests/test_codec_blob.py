"""Vector blobs: exact layout, round trips, and a named refusal for every malformation."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedchain.codec.blob import (
    ELEMENT_SIZE,
    HEADER_SIZE,
    BlobError,
    BlobHeader,
    BlobKind,
    MalformedBlob,
    VectorBlob,
    decode_vector_blob,
    encode_vector_blob,
    pack_words,
    payload_of,
    payload_size,
    read_header,
)
from fedchain.codec.merkle import ZERO_OWNER, blob_root
from fedchain.errors import FedchainError
from fedchain.learning import ModelSpec, TrainConfig
from fedchain.node.blobs import TaskBlobs
from fedchain.node.task_config import TaskConfig
from fedchain.storage import LocalDirStore

FIXED_KINDS = [BlobKind.UPDATE, BlobKind.AGGREGATE, BlobKind.MODEL]


def _update_blob(values: list[int], frac_bits: int = 20) -> bytes:
    return encode_vector_blob(
        BlobKind.UPDATE, np.array(values, dtype=np.int32), frac_bits=frac_bits
    )


def test_layout_is_header_then_big_endian_payload() -> None:
    # Execute
    data = _update_blob([1, -2], frac_bits=20)

    # Assert
    assert data[:4] == b"FCV1"
    assert data[4] == 1 and data[5] == 20 and data[6:8] == b"\x00\x00"
    assert data[8:16] == (2).to_bytes(8, "big")
    assert data[16:] == (1).to_bytes(4, "big") + (-2).to_bytes(4, "big", signed=True)
    assert payload_of(data) == data[16:]


def test_golden_bytes_of_the_fixed_width_kinds_are_unchanged() -> None:
    # Assert: the digests of UPDATE/AGGREGATE/MODEL blobs predate ring_bits; they must not move
    assert encode_vector_blob(
        BlobKind.MODEL, np.array([3, -1], dtype=np.int64), frac_bits=7
    ) == bytes.fromhex("464356310307000000000000000000020000000000000003ffffffffffffffff")
    assert encode_vector_blob(
        BlobKind.AGGREGATE, np.array([-(2**40)], dtype=np.int64), frac_bits=0
    ) == bytes.fromhex("46435631020000000000000000000001ffffff0000000000")


def test_element_sizes() -> None:
    # Assert: MASKED has no fixed width, so nobody can look one up by mistake
    assert ELEMENT_SIZE == {BlobKind.UPDATE: 4, BlobKind.AGGREGATE: 8, BlobKind.MODEL: 8}
    with pytest.raises(KeyError):
        ELEMENT_SIZE[BlobKind.MASKED]


def test_payload_size() -> None:
    # Execute / Assert
    assert payload_size(BlobKind.UPDATE, 10) == 40
    assert payload_size(BlobKind.MODEL, 10) == 80
    assert payload_size(BlobKind.MASKED, 10, ring_bits=35) == 44
    assert payload_size(BlobKind.MASKED, 8, ring_bits=35) == 35
    assert payload_size(BlobKind.MASKED, 1, ring_bits=2) == 1
    with pytest.raises(BlobError, match="needs ring_bits"):
        payload_size(BlobKind.MASKED, 10)
    with pytest.raises(BlobError, match="only for MASKED"):
        payload_size(BlobKind.UPDATE, 10, ring_bits=35)
    with pytest.raises(BlobError, match=r"\[2, 64\]"):
        payload_size(BlobKind.MASKED, 10, ring_bits=1)
    with pytest.raises(BlobError, match="non-negative"):
        payload_size(BlobKind.UPDATE, -1)


@settings(max_examples=50, deadline=None)
@given(
    st.sampled_from(FIXED_KINDS),
    st.lists(st.integers(min_value=-(2**31), max_value=2**31 - 1), min_size=1, max_size=100),
    st.integers(min_value=0, max_value=62),
)
def test_round_trip(kind: BlobKind, values: list[int], frac_bits: int) -> None:
    # Prepare
    dtype = np.int32 if kind == BlobKind.UPDATE else np.int64
    arr = np.array(values, dtype=dtype)

    # Execute
    data = encode_vector_blob(kind, arr, frac_bits=frac_bits)
    blob = decode_vector_blob(data)

    # Assert
    assert blob == VectorBlob(kind, frac_bits, arr)
    assert blob.ring_bits is None
    assert blob.values.dtype == dtype and blob.values.dtype.isnative
    assert data[6:8] == b"\x00\x00"
    assert len(data) == 16 + len(values) * ELEMENT_SIZE[kind]
    assert read_header(data) == BlobHeader(kind, frac_bits, len(values), None)


@st.composite
def masked_vectors(draw: st.DrawFn) -> tuple[int, np.ndarray]:
    bits = draw(st.integers(min_value=2, max_value=64))
    word = st.integers(min_value=0, max_value=2**bits - 1) | st.sampled_from([0, 2**bits - 1])
    return bits, np.array(draw(st.lists(word, min_size=1, max_size=200)), dtype=np.uint64)


@settings(max_examples=200, deadline=None)
@given(masked_vectors(), st.integers(min_value=0, max_value=62))
def test_masked_round_trip(case: tuple[int, np.ndarray], frac_bits: int) -> None:
    # Prepare
    bits, arr = case

    # Execute
    data = encode_vector_blob(BlobKind.MASKED, arr, frac_bits=frac_bits, ring_bits=bits)
    blob = decode_vector_blob(data, expected_kind=BlobKind.MASKED, expected_ring_bits=bits)

    # Assert
    assert blob == VectorBlob(BlobKind.MASKED, frac_bits, arr, ring_bits=bits)
    assert blob.values.dtype == np.uint64 and blob.values.dtype.isnative
    assert data[6:8] == bits.to_bytes(2, "big")
    assert data[HEADER_SIZE:] == payload_of(data) == pack_words(arr, bits)
    assert len(data) == HEADER_SIZE + -(-arr.size * bits // 8)
    assert read_header(data) == BlobHeader(BlobKind.MASKED, frac_bits, arr.size, bits)


def test_masked_layout_by_hand() -> None:
    # Execute: 5, 1, 7 in 3 bits -> 101 001 111 + 7 zero padding bits
    data = encode_vector_blob(
        BlobKind.MASKED, np.array([5, 1, 7], dtype=np.uint64), frac_bits=20, ring_bits=3
    )

    # Assert
    assert data == b"FCV1\x04\x14\x00\x03" + (3).to_bytes(8, "big") + bytes([0xA7, 0x80])


def test_vector_blob_equality_includes_ring_bits() -> None:
    # Prepare
    arr = np.array([1, 2], dtype=np.uint64)

    # Assert
    assert VectorBlob(BlobKind.MASKED, 0, arr, 35) != VectorBlob(BlobKind.MASKED, 0, arr, 36)
    assert VectorBlob(BlobKind.MASKED, 0, arr, 35) == VectorBlob(BlobKind.MASKED, 0, arr, 35)


def test_masked_blob_is_within_1_1x_of_the_update_blob() -> None:
    # Prepare: 10^4 parameters, a 35-bit ring (clip 10 at 20 fractional bits, W ~ 10^3)
    d, bits = 10**4, 35
    rng = np.random.default_rng(0)
    update = rng.integers(-(2**31), 2**31, size=d, dtype=np.int64).astype(np.int32)
    masked = rng.integers(0, 2**bits, size=d, dtype=np.uint64)

    # Execute
    update_blob = encode_vector_blob(BlobKind.UPDATE, update, frac_bits=20)
    masked_blob = encode_vector_blob(BlobKind.MASKED, masked, frac_bits=20, ring_bits=bits)

    # Assert
    assert len(update_blob) == 16 + 4 * d
    assert len(masked_blob) == 16 + 35 * d // 8
    assert len(masked_blob) <= 1.1 * len(update_blob)


def test_int64_extremes_round_trip() -> None:
    # Prepare
    arr = np.array([-(2**63), 2**63 - 1, 0], dtype=np.int64)

    # Execute
    data = encode_vector_blob(BlobKind.AGGREGATE, arr, frac_bits=0)

    # Assert
    np.testing.assert_array_equal(decode_vector_blob(data).values, arr)
    assert data[16:24] == b"\x80" + b"\x00" * 7


def test_encode_accepts_wider_dtype_when_values_fit() -> None:
    # Execute
    data = encode_vector_blob(BlobKind.UPDATE, np.array([7, -7], dtype=np.int64), frac_bits=1)

    # Assert
    assert decode_vector_blob(data).values.tolist() == [7, -7]


@pytest.mark.parametrize(
    ("kind", "values", "message"),
    [
        (BlobKind.UPDATE, np.array([2**31], dtype=np.int64), "spans"),
        (BlobKind.MODEL, np.array([2**63], dtype=np.uint64), "spans"),
        (BlobKind.UPDATE, np.array([1.0]), "integer"),
        (BlobKind.UPDATE, np.zeros((1, 1), dtype=np.int32), "1-D"),
        (BlobKind.UPDATE, np.zeros(0, dtype=np.int32), "at least one"),
        (9, np.zeros(1, dtype=np.int32), "unknown blob kind"),
    ],
)
def test_encode_refusals(kind: BlobKind, values: np.ndarray, message: str) -> None:
    # Execute / Assert
    with pytest.raises(BlobError, match=message):
        encode_vector_blob(kind, values, frac_bits=0)


@pytest.mark.parametrize(
    ("kind", "values", "ring_bits", "message"),
    [
        (BlobKind.MASKED, np.array([1], dtype=np.uint64), None, "MASKED blob needs ring_bits"),
        (BlobKind.MASKED, np.array([1], dtype=np.uint64), 1, r"\[2, 64\], got 1"),
        (BlobKind.MASKED, np.array([1], dtype=np.uint64), 65, r"\[2, 64\], got 65"),
        (BlobKind.MASKED, np.array([1], dtype=np.uint64), True, "must be an int"),
        (BlobKind.MASKED, np.array([1], dtype=np.uint64), 35.0, "must be an int"),
        (BlobKind.MASKED, np.array([2**35], dtype=np.uint64), 35, "does not fit 35 bits"),
        (BlobKind.MASKED, np.array([0, 4], dtype=np.int64), 2, "index 1.*does not fit 2 bits"),
        (BlobKind.MASKED, np.array([-1], dtype=np.int64), 35, "spans"),
        (BlobKind.MASKED, np.array([1.0]), 35, "integer"),
        (BlobKind.UPDATE, np.array([1], dtype=np.int32), 35, "only for MASKED"),
        (BlobKind.MODEL, np.array([1], dtype=np.int64), 64, "only for MASKED"),
        (BlobKind.AGGREGATE, np.array([1], dtype=np.int64), 0, "only for MASKED"),
    ],
)
def test_encode_ring_bits_refusals(
    kind: BlobKind, values: np.ndarray, ring_bits: int | None, message: str
) -> None:
    # Execute / Assert
    with pytest.raises(BlobError, match=message):
        encode_vector_blob(kind, values, frac_bits=0, ring_bits=ring_bits)


def test_masked_accepts_narrower_unsigned_and_non_negative_signed() -> None:
    # Execute
    a = encode_vector_blob(BlobKind.MASKED, np.array([3, 200], np.uint8), frac_bits=0, ring_bits=8)
    b = encode_vector_blob(BlobKind.MASKED, np.array([3, 200], np.int64), frac_bits=0, ring_bits=8)

    # Assert
    assert a == b and a[HEADER_SIZE:] == bytes([3, 200])


def test_encode_refuses_frac_bits_over_62() -> None:
    # Execute / Assert
    with pytest.raises(BlobError, match="frac_bits"):
        encode_vector_blob(BlobKind.MODEL, np.zeros(1, dtype=np.int64), frac_bits=63)


def _header(
    magic: bytes = b"FCV1", kind: int = 1, frac: int = 20, res: int = 0, n: int = 2
) -> bytes:
    return struct.pack(">4sBBHQ", magic, kind, frac, res, n)


GOOD_PAYLOAD = b"\x00\x00\x00\x01\xff\xff\xff\xfe"
# three 11-bit words 1, 2, 3: 33 bits -> 5 bytes, the last with 7 padding bits
MASKED_PAYLOAD = pack_words(np.array([1, 2, 3], dtype=np.uint64), 11)


def _masked(res: int = 11, n: int = 3, payload: bytes = MASKED_PAYLOAD) -> bytes:
    return _header(kind=4, res=res, n=n) + payload


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "too short"),
        (b"FCV1\x01", "too short"),
        (_header(magic=b"FCV2") + GOOD_PAYLOAD, "bad magic"),
        (_header(kind=0) + GOOD_PAYLOAD, "unknown blob kind 0"),
        (_header(kind=9) + GOOD_PAYLOAD, "unknown blob kind 9"),
        (_header(res=1) + GOOD_PAYLOAD, "must be 0 for a UPDATE blob, got 1"),
        (_header(kind=2, res=64, n=1) + bytes(8), "must be 0 for a AGGREGATE blob, got 64"),
        (_header(kind=3, res=0x100, n=1) + bytes(8), "must be 0 for a MODEL blob, got 256"),
        (_masked(res=0), r"ring_bits 0, outside \[2, 64\]"),
        (_masked(res=1), r"ring_bits 1, outside \[2, 64\]"),
        (_masked(res=65), r"ring_bits 65, outside \[2, 64\]"),
        (_masked(res=0xFFFF), r"ring_bits 65535, outside"),
        (_masked(payload=MASKED_PAYLOAD[:-1]), "truncated: .*3 MASKED elements of 11 bits"),
        (_masked(payload=MASKED_PAYLOAD + b"\x00"), "1 trailing bytes after 3 MASKED"),
        (_masked(n=4), "truncated"),
        (_masked(res=14), "truncated"),
        (_masked(res=10), "1 trailing bytes"),
        (_masked(payload=MASKED_PAYLOAD[:-1] + b"\x01"), "non-zero padding bits"),
        (_masked(payload=MASKED_PAYLOAD[:-1] + b"\x40"), "non-zero padding bits"),
        (_masked(res=2, n=2**64 - 1, payload=b""), "more than the limit"),
        (_header(frac=63) + GOOD_PAYLOAD, "frac_bits 63"),
        (_header(n=0), "zero elements"),
        (_header() + GOOD_PAYLOAD[:-1], "truncated"),
        (_header(n=3) + GOOD_PAYLOAD, "truncated"),
        (_header() + GOOD_PAYLOAD + b"\x00", "1 trailing bytes"),
        (_header(n=2**64 - 1), "more than the limit"),
    ],
)
def test_decode_refusals_name_the_problem(data: bytes, message: str) -> None:
    # Execute / Assert
    with pytest.raises(MalformedBlob, match=message):
        decode_vector_blob(data)


def test_sane_header_is_accepted_by_every_reader() -> None:
    # Prepare
    data = _header() + GOOD_PAYLOAD

    # Execute
    blob = decode_vector_blob(data)

    # Assert
    assert blob.values.tolist() == [1, -2]
    assert tuple(read_header(data)) == (BlobKind.UPDATE, 20, 2, None)
    assert decode_vector_blob(_masked()).values.tolist() == [1, 2, 3]
    assert tuple(read_header(_masked())) == (BlobKind.MASKED, 20, 3, 11)


def test_every_truncation_of_a_masked_blob_is_refused() -> None:
    # Prepare
    data = encode_vector_blob(
        BlobKind.MASKED, np.arange(1, 30, dtype=np.uint64), frac_bits=20, ring_bits=13
    )

    # Execute / Assert
    for cut in range(len(data)):
        with pytest.raises(MalformedBlob):
            decode_vector_blob(data[:cut])


def test_expected_ring_bits() -> None:
    # Prepare
    data = _masked()

    # Execute / Assert
    with pytest.raises(MalformedBlob, match="expected a MASKED blob of 35 bits, got 11 bits"):
        decode_vector_blob(data, expected_ring_bits=35)
    with pytest.raises(MalformedBlob, match="expected a MASKED blob of 11 bits, got a UPDATE"):
        decode_vector_blob(_header() + GOOD_PAYLOAD, expected_ring_bits=11)
    assert decode_vector_blob(data, expected_ring_bits=11).ring_bits == 11


def test_every_truncation_is_refused() -> None:
    # Prepare
    data = _update_blob(list(range(5)))

    # Execute / Assert
    for cut in range(len(data)):
        with pytest.raises(MalformedBlob):
            decode_vector_blob(data[:cut])


def test_payload_of_checks_header() -> None:
    # Execute / Assert
    with pytest.raises(MalformedBlob, match="bad magic"):
        payload_of(b"XXXX" + _update_blob([1])[4:])


def test_expectations_and_limit() -> None:
    # Prepare
    data = _update_blob([1, 2, 3])

    # Execute / Assert
    with pytest.raises(MalformedBlob, match="expected MODEL, got UPDATE"):
        decode_vector_blob(data, expected_kind=BlobKind.MODEL)
    with pytest.raises(MalformedBlob, match="expected 4 elements, got 3"):
        decode_vector_blob(data, expected_length=4)
    with pytest.raises(MalformedBlob, match="3 elements, more than the limit 2"):
        decode_vector_blob(data, max_length=2)
    assert (
        decode_vector_blob(data, expected_kind=BlobKind.UPDATE, expected_length=3).values.size == 3
    )


def test_malformed_blob_is_a_fedchain_error_and_value_error() -> None:
    # Assert
    assert issubclass(MalformedBlob, FedchainError) and issubclass(MalformedBlob, ValueError)
    assert HEADER_SIZE == 16


def _task_blobs(tmp_path: Path) -> TaskBlobs:
    cfg = TaskConfig.build(
        dataset="synthetic",
        model=ModelSpec(arch="logreg", input_dim=4, num_classes=2),
        train=TrainConfig(epochs=1, batch_size=8),
        chunk_elems=4,
    )
    return TaskBlobs(LocalDirStore(tmp_path / "store"), cfg)


def test_task_blobs_masked_vectors_live_in_the_rounds_ring(tmp_path: Path) -> None:
    # Prepare
    blobs = _task_blobs(tmp_path)
    n = blobs.config.num_parameters
    words = np.arange(n, dtype=np.uint64) * np.uint64(2**30)

    # Execute
    vec = blobs.put_vector(BlobKind.MASKED, words, ring_bits=35)
    got = blobs.get_vector(BlobKind.MASKED, vec.root, ring_bits=35)

    # Assert: stored as is (no sums trailer) under its Merkle-sum root, which is its name
    assert got == VectorBlob(BlobKind.MASKED, blobs.config.frac_bits, words, ring_bits=35)
    encoded = encode_vector_blob(
        BlobKind.MASKED, words, frac_bits=blobs.config.frac_bits, ring_bits=35
    )
    assert vec.data == encoded and blobs.store.get_named(vec.root) == encoded
    assert vec.root == blob_root(encoded, chunk_elems=blobs.config.chunk_elems, owner=ZERO_OWNER)
    assert vec.sum_sq == 0
    with pytest.raises(MalformedBlob, match="expected a MASKED blob of 36 bits, got 35 bits"):
        blobs.get_vector(BlobKind.MASKED, vec.root, ring_bits=36)


def test_task_blobs_ring_bits_argument_is_for_masked_only(tmp_path: Path) -> None:
    # Prepare
    blobs = _task_blobs(tmp_path)
    n = blobs.config.num_parameters
    digest = blobs.put_vector(BlobKind.UPDATE, np.ones(n, dtype=np.int32)).root

    # Execute / Assert
    assert blobs.get_vector(BlobKind.UPDATE, digest).ring_bits is None
    with pytest.raises(TypeError, match="only for MASKED"):
        blobs.get_vector(BlobKind.UPDATE, digest, ring_bits=35)
    with pytest.raises(TypeError, match="only for MASKED"):
        blobs.put_vector(BlobKind.UPDATE, np.ones(n, dtype=np.int32), ring_bits=35)
    with pytest.raises(TypeError, match="needs ring_bits"):
        blobs.put_vector(BlobKind.MASKED, np.ones(n, dtype=np.uint64))
    with pytest.raises(TypeError, match="needs ring_bits"):
        blobs.get_vector(BlobKind.MASKED, digest)
