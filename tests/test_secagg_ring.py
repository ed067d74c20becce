"""The ring Z_2^b: coordinate bound, ring width, sign extension, and b-bit packing."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fedchain.codec.fixedpoint import InvalidUpdate, encode_update
from fedchain.secagg.errors import SecAggError
from fedchain.secagg.ring import (
    MAX_RING_BITS,
    coordinate_bound,
    pack_ring,
    packed_size,
    reduce_to_ring,
    ring_bits,
    ring_to_int64,
    unpack_ring,
)


def _reference_pack(values: list[int], bits: int) -> bytes:
    """The bit stream by the definition: one big integer, MSB first, zero-padded to a byte."""
    stream = 0
    for v in values:
        stream = (stream << bits) | v
    nbytes = -(-len(values) * bits // 8)
    return (stream << (nbytes * 8 - len(values) * bits)).to_bytes(nbytes, "big")


@st.composite
def ring_vectors(draw: st.DrawFn, max_size: int = 300) -> tuple[int, list[int]]:
    bits = draw(st.integers(min_value=2, max_value=64))
    word = st.one_of(
        st.integers(min_value=0, max_value=2**bits - 1),
        st.sampled_from([0, 1, 2**bits - 1, 2 ** (bits - 1), 2 ** (bits - 1) - 1]),
    )
    return bits, draw(st.lists(word, min_size=1, max_size=max_size))


# --- packing ---------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(ring_vectors())
def test_pack_matches_the_bit_stream_definition_and_round_trips(
    case: tuple[int, list[int]],
) -> None:
    # Prepare
    bits, values = case
    arr = np.array(values, dtype=np.uint64)

    # Execute
    data = pack_ring(arr, bits)
    back = unpack_ring(data, bits, len(values))

    # Assert
    assert data == _reference_pack(values, bits)
    assert len(data) == packed_size(len(values), bits) == math.ceil(len(values) * bits / 8)
    assert back.dtype == np.uint64 and back.dtype.isnative
    np.testing.assert_array_equal(back, arr)


@pytest.mark.parametrize("bits", range(2, 65))
def test_every_width_round_trips_at_group_edges(bits: int) -> None:
    # Prepare: lengths around the 8- and 64-word boundaries the implementation works in
    rng = np.random.default_rng(bits)
    for n in (1, 2, 7, 8, 9, 63, 64, 65, 127, 128, 129, 1000):
        arr = rng.integers(0, 2**bits - 1, size=n, dtype=np.uint64, endpoint=True)
        arr[-1] = 2**bits - 1  # a full last word touches the last padding boundary

        # Execute
        data = pack_ring(arr, bits)

        # Assert
        assert data == _reference_pack([int(v) for v in arr], bits), n
        np.testing.assert_array_equal(unpack_ring(data, bits, n), arr)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=2, max_value=64), st.integers(min_value=0, max_value=200), st.data())
def test_packing_is_a_bijection_onto_canonical_byte_strings(
    bits: int, n: int, data: st.DataObject
) -> None:
    # Prepare: any byte string of the right size with zero padding bits is some vector's packing
    size = packed_size(n, bits)
    raw = bytearray(data.draw(st.binary(min_size=size, max_size=size)))
    pad = size * 8 - n * bits
    if size:
        raw[-1] &= 0xFF ^ ((1 << pad) - 1)

    # Execute
    values = unpack_ring(bytes(raw), bits, n)

    # Assert
    assert values.size == n
    assert pack_ring(values, bits) == bytes(raw)


def test_unpack_accepts_memoryview_and_empty() -> None:
    # Prepare
    arr = np.array([5, 1, 7], dtype=np.uint64)
    data = b"\xff" + pack_ring(arr, 3) + b"\xff"

    # Execute / Assert
    assert pack_ring(arr, 3) == bytes([0b10100111, 0b10000000])
    np.testing.assert_array_equal(unpack_ring(memoryview(data)[1:-1], 3, 3), arr)
    assert pack_ring(np.zeros(0, dtype=np.uint64), 35) == b""
    assert unpack_ring(b"", 35, 0).size == 0


@pytest.mark.parametrize(
    ("values", "bits", "message"),
    [
        (np.array([4], dtype=np.uint64), 2, r"ring value 4 \(index 0\) does not fit 2 bits"),
        (np.array([0, 2**35], dtype=np.uint64), 35, r"index 1\) does not fit 35 bits"),
        (np.array([2**63], dtype=np.uint64), 63, "does not fit 63 bits"),
        (np.array([1], dtype=np.int64), 35, "uint64"),
        (np.zeros((2, 2), dtype=np.uint64), 35, "1-D"),
        ([1, 2], 35, "uint64"),
        (np.array([1], dtype=np.uint64), 1, r"\[2, 64\]"),
        (np.array([1], dtype=np.uint64), 65, r"\[2, 64\]"),
        (np.array([1], dtype=np.uint64), True, "must be an int"),
    ],
)
def test_pack_refusals(values: np.ndarray, bits: int, message: str) -> None:
    # Execute / Assert
    with pytest.raises(SecAggError, match=message):
        pack_ring(values, bits)


@pytest.mark.parametrize("bits", [2, 3, 7, 13, 35, 57, 63])
def test_unpack_refuses_every_non_zero_padding_bit(bits: int) -> None:
    # Prepare: a length whose packing ends mid-byte
    n = next(k for k in range(1, 9) if (k * bits) % 8)
    data = pack_ring(np.full(n, 2**bits - 1, dtype=np.uint64), bits)
    pad = len(data) * 8 - n * bits

    # Execute / Assert
    for bit in range(pad):
        tampered = data[:-1] + bytes([data[-1] | (1 << bit)])
        with pytest.raises(SecAggError, match="non-zero padding bits"):
            unpack_ring(tampered, bits, n)


def test_unpack_refuses_wrong_sizes() -> None:
    # Prepare
    data = pack_ring(np.arange(10, dtype=np.uint64), 35)  # 350 bits -> 44 bytes
    assert len(data) == 44

    # Execute / Assert
    with pytest.raises(SecAggError, match="10 words of 35 bits pack into 44 bytes, got 43"):
        unpack_ring(data[:-1], 35, 10)
    with pytest.raises(SecAggError, match="pack into 44 bytes, got 45"):
        unpack_ring(data + b"\x00", 35, 10)
    with pytest.raises(SecAggError, match="pack into 40 bytes, got 44"):
        unpack_ring(data, 35, 9)
    with pytest.raises(SecAggError, match="pack into 0 bytes, got 1"):
        unpack_ring(b"\x00", 35, 0)
    with pytest.raises(SecAggError, match="non-negative"):
        unpack_ring(data, 35, -1)
    with pytest.raises(SecAggError, match=r"\[2, 64\]"):
        unpack_ring(data, 0, 10)


def test_every_truncation_and_extension_is_refused() -> None:
    # Prepare
    data = pack_ring(np.arange(1, 20, dtype=np.uint64), 11)

    # Execute / Assert
    for cut in range(len(data)):
        with pytest.raises(SecAggError):
            unpack_ring(data[:cut], 11, 19)
    with pytest.raises(SecAggError):
        unpack_ring(data + b"\x00", 11, 19)


# --- ring width and sign extension ---------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=2**40), st.integers(min_value=1, max_value=2**40))
def test_extreme_aggregates_round_trip_through_the_ring(bound: int, weight: int) -> None:
    # Prepare
    assume(bound * weight < 2**63)
    bits = ring_bits(bound, weight)
    extreme = bound * weight
    aggregate = np.array([extreme, -extreme, 0, 1, -1, extreme - 1], dtype=np.int64)

    # Execute: into the ring (mod 2^64 then mod 2^b), over the wire, and back
    ring = reduce_to_ring(aggregate.view(np.uint64).copy(), bits)
    back = ring_to_int64(unpack_ring(pack_ring(ring, bits), bits, ring.size), bits)

    # Assert: b is the smallest width that holds ±C·W
    np.testing.assert_array_equal(back, aggregate)
    assert extreme < 2 ** (bits - 1)
    assert bits == 2 or extreme >= 2 ** (bits - 2)


def test_ring_width_edges() -> None:
    # Execute / Assert
    assert ring_bits(1, 1) == 2  # {-1, 0, 1} needs two bits
    assert ring_bits(2**63 - 1, 1) == MAX_RING_BITS
    with pytest.raises(SecAggError, match="needs 65 bits"):
        ring_bits(2**62, 2)
    with pytest.raises(SecAggError, match="needs 65 bits"):
        ring_bits(2**31, 2**32)
    with pytest.raises(SecAggError, match="positive"):
        ring_bits(0, 1)


def test_64_bit_ring_extremes_round_trip() -> None:
    # Prepare: b = 64 is the plain two's complement int64
    aggregate = np.array([2**63 - 1, -(2**63 - 1), -(2**63)], dtype=np.int64)
    ring = aggregate.view(np.uint64).copy()

    # Execute
    back = ring_to_int64(unpack_ring(pack_ring(ring, 64), 64, 3), 64)

    # Assert
    np.testing.assert_array_equal(back, aggregate)
    assert pack_ring(ring, 64) == aggregate.astype(">i8").tobytes()


# --- coordinate bound ------------------------------------------------------------------------

_finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@st.composite
def updates(draw: st.DrawFn) -> np.ndarray:
    """Vectors that stress the clip: one huge coordinate, tiny ones, or all of one magnitude."""
    n = draw(st.integers(min_value=1, max_value=40))
    small = draw(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=n, max_size=n))
    x = np.array(small, dtype=np.float64)
    shape = draw(st.sampled_from(["huge", "plain", "flat"]))
    if shape == "huge":
        x[draw(st.integers(0, n - 1))] = draw(
            st.floats(min_value=1e3, max_value=1e300) | st.floats(min_value=-1e300, max_value=-1e3)
        )
    elif shape == "flat":
        x[:] = draw(st.floats(min_value=-1e300, max_value=1e300, allow_nan=False))
    return x


# encode_update overflows to inf (and then refuses) for clip·2^f near float64's limit.
@pytest.mark.filterwarnings("ignore:overflow encountered in multiply:RuntimeWarning")
@settings(max_examples=1000, deadline=None)
@given(
    updates(),
    st.floats(min_value=1e-9, max_value=1e9, allow_nan=False) | st.floats(1e-300, 1e300),
    st.integers(min_value=0, max_value=62),
)
def test_encode_update_never_exceeds_the_coordinate_bound(
    delta: np.ndarray, clip: float, frac_bits: int
) -> None:
    # Prepare
    bound = coordinate_bound(clip, frac_bits)

    # Execute
    try:
        encoded = encode_update(delta, frac_bits=frac_bits, clip_norm=clip)
    except InvalidUpdate:
        return  # refused (does not fit int32): nothing was output

    # Assert
    assert int(np.max(np.abs(encoded.astype(np.int64)))) <= bound


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=1e-6, max_value=1e6), st.integers(min_value=0, max_value=30))
def test_coordinate_bound_is_tight(clip: float, frac_bits: int) -> None:
    # Prepare: a vector of norm exactly clip reaches rint(clip·2^f)
    assume(clip * 2.0**frac_bits < 2**31 - 2)

    # Execute
    bound = coordinate_bound(clip, frac_bits)
    reached = int(encode_update(np.array([-clip, 0.0]), frac_bits=frac_bits, clip_norm=clip)[0])

    # Assert
    assert bound >= 1
    assert 0 <= bound - abs(reached) <= 2


def test_coordinate_bound_values() -> None:
    # Execute / Assert
    assert coordinate_bound(10.0, 20) == 10 * 2**20 + 1
    assert coordinate_bound(1e-9, 0) == 1  # everything rounds to 0; 1 keeps ring_bits happy
    assert coordinate_bound(1e300, 62) == 2**31  # capped: encode_update outputs int32
    assert coordinate_bound(1, 0) == 2


@pytest.mark.parametrize(
    ("clip", "frac_bits", "message"),
    [
        (0.0, 20, "positive finite"),
        (-1.0, 20, "positive finite"),
        (float("nan"), 20, "positive finite"),
        (float("inf"), 20, "positive finite"),
        ("10", 20, "real number"),
        (True, 20, "real number"),
        (10.0, 63, r"\[0, 62\]"),
        (10.0, -1, r"\[0, 62\]"),
        (10.0, 2.0, "must be an int"),
    ],
)
def test_coordinate_bound_refusals(clip: float, frac_bits: int, message: str) -> None:
    # Execute / Assert
    with pytest.raises(SecAggError, match=message):
        coordinate_bound(clip, frac_bits)
