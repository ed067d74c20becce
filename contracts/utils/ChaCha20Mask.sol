// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title ChaCha20Mask
/// @notice Recomputes SecAgg+ mask words on-chain: the ChaCha20 keystream (RFC 7539 block
///         function, 20 rounds) keyed by a 32-byte seed, with block counter 0 and an all-zero
///         96-bit nonce, read as little-endian uint64 words (word i is keystream bytes
///         8i..8i+7), exactly as ``fedchain.secagg.prg.expand_mask`` produces it. It is the one
///         step a dispute of a secure round needs that a plain round does not (``SecureTerms``),
///         and the stream behind the neighbour graph's permutation (``fedchain.secagg.graph``).
/// @dev Implementation: the 4x4 ChaCha state is held as four EVM words, one per state row
///      (a = words 0-3, b = 4-7, c = 8-11, d = 12-15); each word carries its row's four 32-bit
///      values in four 64-bit lanes (lane j at bits 64j..64j+31, bits 64j+32..64j+63 zero). A
///      column round is then one vectorised quarter round on (a, b, c, d), and a diagonal round
///      the same after rotating rows b, c, d by one, two and three lanes. A step of the quarter
///      round (x += y; z ^= x; z <<<= n) costs six arithmetic opcodes on all four lanes:
///      ADD, AND (drops the carry), XOR, MUL by 2**32 + 1 (each lane's value twice, in bits 0-31
///      and 32-63 of the lane), SHR by 32 - n (bits 0-31 of the lane are now the rotated value),
///      AND (drops what the shift pulled in from the next lane). 16 steps and 6 lane rotations
///      make a double round; the ten double rounds are a loop.
library ChaCha20Mask {
    /// @notice The longest mask ``expand_mask`` makes: 2**32 words (2**29 blocks).
    uint256 internal constant MAX_WORDS = 1 << 32;

    /// @dev The low 32 bits of each 64-bit lane, in five spellings that differ only in bits
    ///      240-242, which every value ANDed with them has clear (an addition leaves at most 33
    ///      bits in a lane; a rotation's right shift, by 16 or more, clears the top 16 bits of
    ///      the word). Why five: at low optimizer runs (scripts/compile_contracts.mjs uses 1000)
    ///      solc's constant optimizer loads a 32-byte constant that occurs more than about seven
    ///      times in the code by CODECOPY, ~30 gas a use instead of 3. Each spelling occurs four
    ///      times in ``chachaBlock``, so every use stays a PUSH.
    uint256 private constant LANES0 = 0x00000000ffffffff00000000ffffffff00000000ffffffff00000000ffffffff;
    uint256 private constant LANES1 = 0x00010000ffffffff00000000ffffffff00000000ffffffff00000000ffffffff;
    uint256 private constant LANES2 = 0x00020000ffffffff00000000ffffffff00000000ffffffff00000000ffffffff;
    uint256 private constant LANES3 = 0x00030000ffffffff00000000ffffffff00000000ffffffff00000000ffffffff;
    uint256 private constant LANES4 = 0x00040000ffffffff00000000ffffffff00000000ffffffff00000000ffffffff;
    /// @dev Row a: "expand 32-byte k" as four little-endian words, lane j = constant j.
    uint256 private constant SIGMA = 0x000000006b2065740000000079622d32000000003320646e0000000061707865;

    /// @notice The chunk lies (partly) beyond the 2**32-word stream, or has no elements.
    error ChaCha20MaskBadChunk(uint256 chunk, uint256 chunkElems);
    /// @notice Words ``first .. first + count - 1`` are not a non-empty part of the stream.
    error ChaCha20MaskBadRange(uint256 first, uint256 count);

    /// @notice Rows b and c of the initial state: key word i is the little-endian 32-bit read
    ///         of key bytes 4i..4i+3 (key byte 0 is the most significant byte of ``key``).
    function keyRows(bytes32 key) internal pure returns (uint256 b, uint256 c) {
        assembly ("memory-safe") {
            let x := key
            // Reverse the bytes of each 32-bit word: swap bytes in 16-bit halves, then halves.
            x := or(
                and(shr(8, x), 0x00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff),
                shl(8, and(x, 0x00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff))
            )
            x := or(
                and(shr(16, x), 0x0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff),
                shl(16, and(x, 0x0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff))
            )
            let m := 0xffffffff
            b := or(
                or(and(shr(224, x), m), shl(64, and(shr(192, x), m))),
                or(shl(128, and(shr(160, x), m)), shl(192, and(shr(128, x), m)))
            )
            c := or(
                or(and(shr(96, x), m), shl(64, and(shr(64, x), m))),
                or(shl(128, and(shr(32, x), m)), shl(192, and(x, m)))
            )
        }
    }

    /// @notice Row d of the initial state: the 32-bit block counter and the 96-bit nonce
    ///         (three little-endian 32-bit reads of its bytes). With a zero nonce, row d is the
    ///         counter itself, which is how this library's streams pass it to ``chachaBlock``.
    function counterRow(uint32 counter, bytes12 nonce) internal pure returns (uint256 d) {
        assembly ("memory-safe") {
            let x := nonce
            x := or(
                and(shr(8, x), 0x00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff),
                shl(8, and(x, 0x00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff))
            )
            x := or(
                and(shr(16, x), 0x0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff),
                shl(16, and(x, 0x0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff))
            )
            let m := 0xffffffff
            d := or(
                or(and(counter, m), shl(64, and(shr(224, x), m))),
                or(shl(128, and(shr(192, x), m)), shl(192, and(shr(160, x), m)))
            )
        }
    }

    /// @notice The ChaCha20 block function: the four rows of (20 rounds of the state) + state.
    /// @param b0 row b of the input state (key words 0-3), as from ``keyRows``
    /// @param c0 row c of the input state (key words 4-7), as from ``keyRows``
    /// @param d0 row d of the input state (counter and nonce), as from ``counterRow``
    function chachaBlock(uint256 b0, uint256 c0, uint256 d0)
        internal
        pure
        returns (uint256 a, uint256 b, uint256 c, uint256 d)
    {
        assembly ("memory-safe") {
            // z <<< n on every lane: z * (2**32 + 1) holds each lane's value twice (bits 0-31
            // and 32-63 of the lane), so bits 32-n .. 63-n of the lane are the rotated value.
            a := SIGMA
            b := b0
            c := c0
            d := d0
            for { let i := 0 } lt(i, 10) { i := add(i, 1) } {
                // Column round: the quarter round on every lane at once.
                a := and(add(a, b), LANES0)
                d := and(shr(16, mul(xor(d, a), 0x100000001)), LANES0)
                c := and(add(c, d), LANES0)
                b := and(shr(20, mul(xor(b, c), 0x100000001)), LANES0)
                a := and(add(a, b), LANES1)
                d := and(shr(24, mul(xor(d, a), 0x100000001)), LANES1)
                c := and(add(c, d), LANES1)
                b := and(shr(25, mul(xor(b, c), 0x100000001)), LANES1)
                // Diagonalise: lane j of b, c, d becomes lane j+1, j+2, j+3 (mod 4).
                b := or(shr(64, b), shl(192, b))
                c := or(shr(128, c), shl(128, c))
                d := or(shr(192, d), shl(64, d))
                // Diagonal round.
                a := and(add(a, b), LANES2)
                d := and(shr(16, mul(xor(d, a), 0x100000001)), LANES2)
                c := and(add(c, d), LANES2)
                b := and(shr(20, mul(xor(b, c), 0x100000001)), LANES2)
                a := and(add(a, b), LANES3)
                d := and(shr(24, mul(xor(d, a), 0x100000001)), LANES3)
                c := and(add(c, d), LANES3)
                b := and(shr(25, mul(xor(b, c), 0x100000001)), LANES3)
                // Back to columns.
                b := or(shl(64, b), shr(192, b))
                c := or(shr(128, c), shl(128, c))
                d := or(shl(192, d), shr(64, d))
            }
            a := and(add(a, SIGMA), LANES4)
            b := and(add(b, b0), LANES4)
            c := and(add(c, c0), LANES4)
            d := and(add(d, d0), LANES4)
        }
    }

    /// @notice Block ``blk`` of the stream keyed by rows ``b0``, ``c0`` (zero nonce) written to
    ///         memory at ``p`` as its eight uint64 words, one per 32-byte slot (256 bytes).
    /// @dev ``p`` must point to 256 bytes the caller owns.
    function storeBlock(uint256 p, uint256 b0, uint256 c0, uint256 blk) internal pure {
        (uint256 a, uint256 b, uint256 c, uint256 d) = chachaBlock(b0, c0, blk);
        assembly ("memory-safe") {
            // Row r holds block words 2r (lanes 0, 1) and 2r+1 (lanes 2, 3).
            let w := 0xffffffffffffffff
            a := or(a, shr(32, a))
            b := or(b, shr(32, b))
            c := or(c, shr(32, c))
            d := or(d, shr(32, d))
            mstore(p, and(a, w))
            mstore(add(p, 0x20), and(shr(128, a), w))
            mstore(add(p, 0x40), and(b, w))
            mstore(add(p, 0x60), and(shr(128, b), w))
            mstore(add(p, 0x80), and(c, w))
            mstore(add(p, 0xa0), and(shr(128, c), w))
            mstore(add(p, 0xc0), and(d, w))
            mstore(add(p, 0xe0), and(shr(128, d), w))
        }
    }

    /// @notice Words ``chunk*chunkElems .. (chunk+1)*chunkElems - 1`` of the mask of ``seed``
    ///         (uint64, unreduced: reduce mod 2**b for a ring Z_2^b).
    function expand(bytes32 seed, uint256 chunk, uint256 chunkElems)
        internal
        pure
        returns (uint64[] memory words)
    {
        // (chunk + 1) * chunkElems <= 2**32, without overflow for any inputs.
        if (chunkElems == 0 || chunk >= MAX_WORDS / chunkElems) {
            revert ChaCha20MaskBadChunk(chunk, chunkElems);
        }
        return _expand(seed, chunk * chunkElems, chunkElems);
    }

    /// @notice Words ``first .. first + count - 1`` of the mask of ``seed`` (uint64, unreduced).
    function expandRange(bytes32 seed, uint256 first, uint256 count)
        internal
        pure
        returns (uint64[] memory words)
    {
        if (count == 0 || first >= MAX_WORDS || count > MAX_WORDS - first) {
            revert ChaCha20MaskBadRange(first, count);
        }
        return _expand(seed, first, count);
    }

    /// @dev The keystream blocks covering the words are written to freshly allocated memory,
    ///      eight words per block; the array header then overwrites the slot just before the
    ///      first word (a word of the first block that is not wanted, or a reserved slot when
    ///      ``first`` is on a block boundary), so no word is copied. Checked by the callers:
    ///      ``count > 0`` and ``first + count <= MAX_WORDS``.
    function _expand(bytes32 seed, uint256 first, uint256 count) private pure returns (uint64[] memory words) {
        (uint256 b0, uint256 c0) = keyRows(seed);
        uint256 blk = first >> 3;
        uint256 lastBlk = (first + count - 1) >> 3;
        uint256 data;
        assembly ("memory-safe") {
            // One reserved slot, then 8 words (256 bytes) per block.
            data := add(mload(0x40), 0x20)
            mstore(0x40, add(data, shl(8, add(sub(lastBlk, blk), 1))))
        }
        for (uint256 p = data; blk <= lastBlk; ++blk) {
            storeBlock(p, b0, c0, blk);
            p += 0x100;
        }
        assembly ("memory-safe") {
            words := add(data, shl(5, sub(and(first, 7), 1)))
            mstore(words, count)
        }
    }
}
