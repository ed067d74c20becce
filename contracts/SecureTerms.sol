// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ISecureTerms} from "./interfaces/ISecureTerms.sol";
import {ChaCha20Mask} from "./utils/ChaCha20Mask.sol";
import {HkdfSha256} from "./utils/HkdfSha256.sol";
import {X25519} from "./utils/X25519.sol";

/// @title SecureTerms
/// @notice Recomputes, on-chain and bit for bit as ``fedchain.secagg`` does off-chain, the pieces
///         of a SecAgg+ mask that a dispute step over a secure round needs: chunks of a mask
///         (ChaCha20), the self-mask commitment (SHA-256), a member's X25519 public key, the
///         pairwise seed two neighbours derive (X25519, then HKDF-SHA256) and the neighbour
///         graph (a Harary graph on a seeded Fisher–Yates permutation).
/// @dev Stateless and separately deployed, so that its code does not count against the size
///      of the contracts that STATICCALL it. Members of a graph are their indexes 0..n-1 (their
///      order of advertisement on-chain).
contract SecureTerms is ISecureTerms {
    /// @inheritdoc ISecureTerms
    /// @dev The permutation costs ~1,060 gas a member (an eighth of a ChaCha20 block and one
    ///      draw each); its worst case (the two members end at ring positions 0 and 1, so every
    ///      step runs) keeps ``isNeighbour`` under 7,500,000 gas at this n.
    uint256 public constant MAX_GRAPH_MEMBERS = 7000;

    /// @dev ``fedchain.secagg.keys.PURPOSE_PAIRWISE_MASK``.
    bytes private constant PAIRWISE_PURPOSE = "fedchain/secagg/v1/pairwise-mask";
    /// @dev ``fedchain.secagg.graph._GRAPH_TAG``: keeps the permutation's stream apart from any
    ///      other use of the round seed.
    bytes private constant GRAPH_TAG = "fedchain/secagg/v1/graph-permutation";

    /// @inheritdoc ISecureTerms
    function maskChunk(bytes32 seed, uint256 chunk, uint256 chunkElems, uint256 length)
        external
        pure
        returns (uint64[] memory words)
    {
        if (length > ChaCha20Mask.MAX_WORDS) revert SecureTermsMaskTooLong(length, ChaCha20Mask.MAX_WORDS);
        // chunk·chunkElems < length, without overflow for any inputs.
        if (chunkElems == 0 || length == 0 || chunk > (length - 1) / chunkElems) {
            revert SecureTermsChunkOutOfRange(chunk, chunkElems, length);
        }
        uint256 first = chunk * chunkElems;
        uint256 count = length - first;
        if (count > chunkElems) count = chunkElems;
        return ChaCha20Mask.expandRange(seed, first, count);
    }

    /// @inheritdoc ISecureTerms
    function selfMaskSeedMatches(bytes32 seed, bytes32 commitment) external pure returns (bool) {
        return sha256(abi.encodePacked(seed)) == commitment;
    }

    /// @inheritdoc ISecureTerms
    function publicKeyOf(bytes32 secretKey) external view returns (bytes32) {
        return X25519.publicKey(secretKey);
    }

    /// @inheritdoc ISecureTerms
    function pairwiseSeed(
        bytes32 ownerSecret,
        bytes32 ownerPublic,
        bytes32 peerPublic,
        uint256 taskId,
        uint64 round,
        address first,
        address second
    ) external view returns (bytes32) {
        bytes32 derived = X25519.publicKey(ownerSecret);
        if (derived != ownerPublic) revert SecureTermsKeyMismatch(ownerPublic, derived);
        bytes32 shared = X25519.x25519(ownerSecret, peerPublic);
        if (shared == 0) revert SecureTermsSmallOrderKey(peerPublic);
        // info = purpose ‖ 0x00 ‖ pair_context: task id (32 B) ‖ round (8 B) ‖ first ‖ second.
        bytes memory info = abi.encodePacked(PAIRWISE_PURPOSE, bytes1(0), taskId, round, first, second);
        return HkdfSha256.derive32(bytes32(0), shared, info); // salt=None is 32 zero bytes
    }

    /// @inheritdoc ISecureTerms
    function graphParameters(uint256 n) external pure returns (uint256 k, uint256 threshold) {
        return _parameters(n);
    }

    /// @inheritdoc ISecureTerms
    function ringPosition(bytes32 seed, uint256 n, uint256 a) external pure returns (uint256 pa) {
        _parameters(n);
        _checkMember(a, n);
        (pa,) = _positions(seed, n, a, a);
    }

    /// @inheritdoc ISecureTerms
    function isNeighbour(bytes32 seed, uint256 n, uint256 a, uint256 b) external pure returns (bool) {
        (uint256 k,) = _parameters(n);
        _checkMember(a, n);
        _checkMember(b, n);
        if (a == b) revert SecureTermsSameMember(a);
        if (k == n - 1) return true; // complete graph (full SecAgg): no permutation needed
        (uint256 pa, uint256 pb) = _positions(seed, n, a, b);
        uint256 d = pa > pb ? pa - pb : pb - pa;
        if (n - d < d) d = n - d; // distance around the ring
        // k/2 nearest on each side; for odd k (n even) also the opposite member.
        return d <= k / 2 || (k % 2 == 1 && n % 2 == 0 && d == n / 2);
    }

    /// @dev ``choose_parameters(n)`` in integers: ⌈6·log2 n⌉ is the least m with 2**m ≥ n**6,
    ///      i.e. the bit length of n**6 - 1 (n**6 < 2**80 here).
    function _parameters(uint256 n) private pure returns (uint256 k, uint256 threshold) {
        if (n < 3 || n > MAX_GRAPH_MEMBERS) revert SecureTermsBadGroupSize(n, MAX_GRAPH_MEMBERS);
        uint256 wanted = _bitLength(n ** 6 - 1);
        k = wanted + (wanted & 1);
        if (k > n - 1) k = n - 1;
        threshold = k / 2 + 1;
        if (threshold < 2) threshold = 2;
    }

    function _checkMember(uint256 index, uint256 n) private pure {
        if (index >= n) revert SecureTermsNotMember(index, n);
    }

    /// @dev The number of bits of x (0 for 0), by binary search.
    function _bitLength(uint256 x) private pure returns (uint256 bits) {
        assembly ("memory-safe") {
            for { let s := 128 } s { s := shr(1, s) } {
                if shr(s, x) {
                    x := shr(s, x)
                    bits := add(bits, s)
                }
            }
            bits := add(bits, x) // x is 0 or 1 now
        }
    }

    /// @dev The ring positions of members a and b: ``shuffled(range(n), seed)`` (Fisher–Yates,
    ///      i = n-1 down to 1: swap positions i and j = below(i + 1), each draw a little-endian
    ///      uint64 word of the ChaCha20 stream keyed by sha256(tag ‖ seed)), following only where
    ///      a and b are, so memory stays constant. Positions above i are final once step i is
    ///      done, so the walk stops as soon as both members sit above i.
    function _positions(bytes32 seed, uint256 n, uint256 a, uint256 b)
        private
        pure
        returns (uint256 pa, uint256 pb)
    {
        (uint256 b0, uint256 c0) = ChaCha20Mask.keyRows(sha256(abi.encodePacked(GRAPH_TAG, seed)));
        uint256 buf; // one keystream block: eight draws
        assembly ("memory-safe") {
            buf := mload(0x40)
            mstore(0x40, add(buf, 0x100))
        }
        pa = a;
        pb = b;
        uint256 i = n - 1;
        bool done;
        for (uint256 blk = 0; !done; ++blk) {
            ChaCha20Mask.storeBlock(buf, b0, c0, blk);
            assembly ("memory-safe") {
                for { let w := buf } lt(w, add(buf, 0x100)) { w := add(w, 0x20) } {
                    let draw := mload(w)
                    let bound := add(i, 1)
                    // below(bound) rejects draws at or above the largest multiple of bound
                    // under 2**64 (so that draw mod bound has no bias); only a draw in the top
                    // 2**32 can be one (bound < 2**32), so the exact test is the rare path.
                    if gt(draw, 0xfffffffeffffffff) {
                        if iszero(lt(draw, mul(div(0x10000000000000000, bound), bound))) { continue }
                    }
                    let j := mod(draw, bound)
                    // Swap positions i and j: a member at one of them moves to the other.
                    let s := xor(i, j)
                    pa := xor(pa, mul(or(eq(pa, i), eq(pa, j)), s))
                    pb := xor(pb, mul(or(eq(pb, i), eq(pb, j)), s))
                    i := sub(i, 1)
                    if or(iszero(i), and(gt(pa, i), gt(pb, i))) {
                        done := 1
                        break
                    }
                }
            }
        }
    }
}
