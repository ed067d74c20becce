"""Vector blobs: exact layout, round trips, and a named refusal for every malformation."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedchain.codec.blob import (
    ELEMENT_SIZE,
    HEADER_SIZE,
    BlobError,
    BlobKind,
    MalformedBlob,
    VectorBlob,
    decode_vector_blob,
    encode_vector_blob,
    payload_of,
    read_header,
)
from fedchain.errors import FedchainError


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


def test_element_sizes() -> None:
    # Assert
    assert ELEMENT_SIZE == {
        BlobKind.UPDATE: 4,
        BlobKind.AGGREGATE: 8,
        BlobKind.MODEL: 8,
        BlobKind.MASKED: 8,
    }


@settings(max_examples=50, deadline=None)
@given(
    st.sampled_from(list(BlobKind)),
    st.lists(st.integers(min_value=-(2**31), max_value=2**31 - 1), min_size=1, max_size=100),
    st.integers(min_value=0, max_value=62),
)
def test_round_trip(kind: BlobKind, values: list[int], frac_bits: int) -> None:
    # Prepare
    dtype = {BlobKind.UPDATE: np.int32, BlobKind.MASKED: np.uint64}.get(kind, np.int64)
    arr = np.array(values, dtype=np.int64).astype(dtype)

    # Execute
    blob = decode_vector_blob(encode_vector_blob(kind, arr, frac_bits=frac_bits))

    # Assert
    assert blob == VectorBlob(kind, frac_bits, arr)
    assert blob.values.dtype == dtype and blob.values.dtype.isnative
    assert (
        len(encode_vector_blob(kind, arr, frac_bits=frac_bits))
        == 16 + len(values) * (ELEMENT_SIZE[kind])
    )


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


def test_encode_refuses_frac_bits_over_62() -> None:
    # Execute / Assert
    with pytest.raises(BlobError, match="frac_bits"):
        encode_vector_blob(BlobKind.MODEL, np.zeros(1, dtype=np.int64), frac_bits=63)


def _header(
    magic: bytes = b"FCV1", kind: int = 1, frac: int = 20, res: int = 0, n: int = 2
) -> bytes:
    return struct.pack(">4sBBHQ", magic, kind, frac, res, n)


GOOD_PAYLOAD = b"\x00\x00\x00\x01\xff\xff\xff\xfe"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "too short"),
        (b"FCV1\x01", "too short"),
        (_header(magic=b"FCV2") + GOOD_PAYLOAD, "bad magic"),
        (_header(kind=0) + GOOD_PAYLOAD, "unknown blob kind 0"),
        (_header(kind=9) + GOOD_PAYLOAD, "unknown blob kind 9"),
        (_header(res=1) + GOOD_PAYLOAD, "reserved"),
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
    assert tuple(read_header(data)) == (BlobKind.UPDATE, 20, 2)


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
