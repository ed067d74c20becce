// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ChaCha20Mask} from "../../contracts/utils/ChaCha20Mask.sol";

/// @title ChaCha20MaskBench (benchmark only, never deployed by fedchain)
/// @notice External entry points over ``ChaCha20Mask`` (contracts/utils) so that a benchmark can
///         check them against ``fedchain.secagg.prg`` and read their gas from transaction
///         receipts (every function is pure; the benchmark sends them as transactions anyway).
contract ChaCha20MaskBench {
    /// @notice ``ringBits`` is not in 1..64.
    error BadRing(uint256 ringBits);

    /// @notice One RFC 7539 block (2.3.2's test vector uses key 00..1f, counter 1, nonce
    ///         000000090000004a00000000), as its 64 keystream bytes read as 8 little-endian uint64.
    function blockWords(bytes32 key, uint32 counter, bytes12 nonce)
        external
        pure
        returns (uint64[8] memory out)
    {
        (uint256 b0, uint256 c0) = ChaCha20Mask.keyRows(key);
        (uint256 a, uint256 b, uint256 c, uint256 d) =
            ChaCha20Mask.chachaBlock(b0, c0, ChaCha20Mask.counterRow(counter, nonce));
        uint256[4] memory rows = [a, b, c, d];
        for (uint256 r = 0; r < 4; ++r) {
            uint256 x = rows[r] | (rows[r] >> 32);
            out[2 * r] = uint64(x);
            out[2 * r + 1] = uint64(x >> 128);
        }
    }

    /// @notice Chunk ``chunk`` (``chunkElems`` words) of the mask of ``seed``, as ``expand_mask``.
    function maskChunk(bytes32 seed, uint256 chunk, uint256 chunkElems)
        external
        pure
        returns (uint64[] memory words)
    {
        return ChaCha20Mask.expand(seed, chunk, chunkElems);
    }

    /// @notice The chunk expanded into memory, then summed mod 2**ringBits: the gas of producing
    ///         one chunk of mask words in memory, without the cost of ABI-encoding them back.
    function maskChunkSum(bytes32 seed, uint256 chunk, uint256 chunkElems, uint256 ringBits)
        external
        pure
        returns (uint256 s)
    {
        if (ringBits == 0 || ringBits > 64) revert BadRing(ringBits);
        uint64[] memory words = ChaCha20Mask.expand(seed, chunk, chunkElems);
        assembly ("memory-safe") {
            let p := add(words, 0x20)
            let end := add(p, shl(5, mload(words)))
            for { } lt(p, end) { p := add(p, 0x20) } { s := add(s, mload(p)) }
            s := and(s, sub(shl(ringBits, 1), 1))
        }
    }
}
