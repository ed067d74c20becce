"""Fixed-point encoding: clipping, rounding, range checks and refusals."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedchain.codec.digest import blob_digest, digest_hex
from fedchain.codec.fixedpoint import (
    DEFAULT_FRAC_BITS,
    FixedPointError,
    InvalidUpdate,
    dequantize,
    encode_update,
    quantize,
)
from fedchain.errors import FedchainError

finite = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False)


def test_digest_is_sha256_and_hex_has_no_prefix() -> None:
    # Execute
    d = blob_digest(b"abc")

    # Assert
    assert len(d) == 32
    assert digest_hex(d) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_encode_update_small_delta_is_rounded_not_clipped() -> None:
    # Prepare
    delta = np.array([0.5, -0.25, 1e-7, 3e-7, -0.0], dtype=np.float32)

    # Execute
    enc = encode_update(delta, frac_bits=DEFAULT_FRAC_BITS, clip_norm=10.0)

    # Assert
    assert enc.dtype == np.int32
    scale = 2**DEFAULT_FRAC_BITS
    expected = np.rint(delta.astype(np.float64) * scale).astype(np.int32)
    np.testing.assert_array_equal(enc, expected)
    assert enc[0] == scale // 2 and enc[1] == -scale // 4


def test_encode_update_clips_to_norm() -> None:
    # Prepare
    delta = np.array([3.0, 4.0])  # norm 5

    # Execute
    enc = encode_update(delta, frac_bits=10, clip_norm=1.0)

    # Assert: scaled to norm 1 -> (0.6, 0.8)
    np.testing.assert_array_equal(enc, [round(0.6 * 1024), round(0.8 * 1024)])


@settings(max_examples=60, deadline=None)
@given(st.lists(finite, min_size=1, max_size=50), st.floats(min_value=0.01, max_value=100.0))
def test_encoded_norm_never_exceeds_clip(values: list[float], clip: float) -> None:
    # Execute
    enc = encode_update(np.array(values), frac_bits=16, clip_norm=clip)

    # Assert: rounding adds at most half a unit per element
    norm = float(np.linalg.norm(enc.astype(np.float64))) / 2**16
    slack = 0.5 * np.sqrt(len(values)) / 2**16
    assert norm <= clip + slack + 1e-12
    np.testing.assert_array_equal(
        enc, encode_update(np.array(values), frac_bits=16, clip_norm=clip)
    )


def test_encode_update_survives_huge_finite_values() -> None:
    # Prepare: squaring these overflows float64; the norm must not
    delta = np.array([1e200, -1e200, 0.0])

    # Execute
    enc = encode_update(delta, frac_bits=20, clip_norm=1.0)

    # Assert
    half = round(2**20 / np.sqrt(2))
    np.testing.assert_array_equal(enc, [half, -half, 0])


@pytest.mark.parametrize(
    ("delta", "message"),
    [
        (np.array([1.0, np.nan]), "NaN or inf"),
        (np.array([np.inf, 0.0]), "NaN or inf"),
        (np.array([-np.inf]), "NaN or inf"),
        (np.zeros((2, 2)), "1-D"),
        (np.zeros(0), "empty"),
        (np.array(["a"]), "numeric"),
    ],
)
def test_encode_update_refuses_bad_input(delta: np.ndarray, message: str) -> None:
    # Execute / Assert
    with pytest.raises(InvalidUpdate, match=message):
        encode_update(delta, frac_bits=20, clip_norm=1.0)


def test_encode_update_refuses_scale_that_overflows_int32() -> None:
    # Execute / Assert
    with pytest.raises(InvalidUpdate, match="clip_norm=.*frac_bits=.*too large"):
        encode_update(np.array([5000.0]), frac_bits=20, clip_norm=1e4)


@pytest.mark.parametrize(("frac_bits", "clip"), [(-1, 1.0), (63, 1.0), (20, 0.0), (20, np.nan)])
def test_encode_update_refuses_bad_parameters(frac_bits: int, clip: float) -> None:
    # Execute / Assert
    with pytest.raises(InvalidUpdate):
        encode_update(np.array([0.1]), frac_bits=frac_bits, clip_norm=clip)


def test_invalid_update_is_a_fedchain_error() -> None:
    # Assert
    assert issubclass(InvalidUpdate, FedchainError)
    assert issubclass(FixedPointError, FedchainError)


@settings(max_examples=60, deadline=None)
@given(st.lists(finite, min_size=0, max_size=40), st.integers(min_value=0, max_value=40))
def test_quantize_dequantize_round_trip(values: list[float], frac_bits: int) -> None:
    # Prepare
    w = np.array(values, dtype=np.float32)

    # Execute
    q = quantize(w, frac_bits=frac_bits)
    back = dequantize(q, frac_bits=frac_bits)

    # Assert
    assert q.dtype == np.int64 and back.dtype == np.float32 and q.shape == w.shape
    err = np.abs(back.astype(np.float64) - w.astype(np.float64))
    tol = 2.0 ** -(frac_bits + 1) + np.abs(w.astype(np.float64)) * 2.0**-23
    assert np.all(err <= tol)


def test_quantize_keeps_shape_and_rounds_half_to_even() -> None:
    # Prepare
    w = np.array([[0.5, 1.5], [2.5, -0.5]])

    # Execute
    q = quantize(w, frac_bits=0)

    # Assert
    np.testing.assert_array_equal(q, [[0, 2], [2, 0]])


@pytest.mark.parametrize(
    ("weights", "frac_bits", "message"),
    [
        (np.array([np.nan]), 20, "NaN or inf"),
        (np.array([1.0, np.inf]), 20, "NaN or inf"),
        (np.array([2.0**43]), 20, "int64"),
        (np.array([1.0]), 63, "frac_bits"),
    ],
)
def test_quantize_refusals(weights: np.ndarray, frac_bits: int, message: str) -> None:
    # Execute / Assert
    with pytest.raises(FixedPointError, match=message):
        quantize(weights, frac_bits=frac_bits)


def test_dequantize_refuses_floats() -> None:
    # Execute / Assert
    with pytest.raises(FixedPointError, match="integers"):
        dequantize(np.array([1.0]), frac_bits=20)
