"""Masks: a 32-byte seed expanded into a vector of uniform 64-bit words.

Ring: each participant masks its weighted update nᵢ·vᵢ (int64) and every operation is
addition mod 2^64 (numpy's wrapping ``uint64`` arithmetic); the round's ring Z_2^b (b ≤ 64,
chosen per round from a bound on the aggregate: ``fedchain.secagg.ring``) is reached by
reducing mod 2^b at the ends, which commutes with the additions since 2^b divides 2^64. A
word uniform mod 2^64 stays uniform mod 2^b once reduced, so one stream serves every b. A
masked word x + m with m uniform mod 2^b is itself uniform mod 2^b, whatever x is: this is
where privacy comes from, and why every bit of the ring must be masked and sent. Once every
mask has cancelled, the sum mod 2^b read as a two's-complement b-bit integer *is* the exact
aggregate, because b is chosen so that the aggregate fits.

Stream: ChaCha20 (RFC 7539 core, via ``cryptography``) keyed by the seed, with a fixed
all-zero 16-byte block (``cryptography`` takes the 4-byte block counter and the 12-byte nonce
as one 16-byte value). A fixed nonce is safe because no key is ever used for a
second stream: self-mask seeds are fresh random bytes each round, and pairwise seeds come from
HKDF bound to task, round and the pair of addresses (``fedchain.secagg.keys``), so each seed
expands exactly one mask. Word i is bytes 8i..8i+7 of the keystream read little-endian; the
whole mask is fixed by the seed, on any machine.
"""

from __future__ import annotations

import sys

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

from fedchain.secagg.errors import SecAggError

__all__ = ["SEED_BYTES", "WORD_BITS", "MaskStream", "expand_mask"]

SEED_BYTES = 32
WORD_BITS = 64
_NONCE = bytes(16)  # counter 0, nonce 0: each seed keys exactly one stream (module docstring)
_LITTLE = sys.byteorder == "little"
_MAX_WORDS = 2**32  # 32 GiB of mask: far above any model, far below the counter's range


def _check_seed(seed32: bytes) -> bytes:
    if not isinstance(seed32, bytes | bytearray) or len(seed32) != SEED_BYTES:
        raise SecAggError(f"mask seed must be {SEED_BYTES} bytes")
    return bytes(seed32)


class MaskStream:
    """The mask of one seed, produced piece by piece: word i is the same however it is cut.

    Lets a caller add many masks chunk by chunk into a cache-sized buffer instead of making a
    full-length pass over memory per mask (memory bandwidth, not ChaCha20, is the bottleneck).
    """

    def __init__(self, seed32: bytes) -> None:
        key = _check_seed(seed32)
        self._encryptor = Cipher(algorithms.ChaCha20(key, _NONCE), mode=None).encryptor()
        self._words = 0

    def fill(self, out: np.ndarray) -> np.ndarray:
        """Overwrite ``out`` (1-D contiguous uint64) with the next ``out.size`` mask words."""
        if out.dtype != np.uint64 or out.ndim != 1 or not out.flags.c_contiguous:
            raise SecAggError("mask buffer must be a 1-D contiguous uint64 array")
        if self._words + out.size > _MAX_WORDS:
            raise SecAggError(f"a mask is at most 2**32 words, asked for {self._words + out.size}")
        self._words += out.size
        out.fill(0)
        if out.size:
            view = out.data.cast("B")
            self._encryptor.update_into(view, view)  # 0 XOR keystream = keystream, in place
            if not _LITTLE:
                out.byteswap(inplace=True)  # words are the keystream's bytes read little-endian
        return out


def expand_mask(seed32: bytes, length: int) -> np.ndarray:
    """``length`` uniform uint64 words from the ChaCha20 keystream of ``seed32``.

    Deterministic in the seed; about 1.5 ms per 10⁶ words on an idle core here.
    """
    if isinstance(length, bool) or not isinstance(length, int | np.integer):
        raise SecAggError(f"mask length must be an int, got {type(length).__name__}")
    if not 0 <= length <= _MAX_WORDS:
        raise SecAggError(f"mask length must be in [0, 2**32], got {length}")
    return MaskStream(seed32).fill(np.empty(int(length), dtype=np.uint64))
