// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title MerkleSumTree
/// @notice The commitment to a vector blob shared by Python (`fedchain.codec.merkle`) and
///         Solidity: a position-bound, owner-bound Merkle-sum tree over the payload's chunks.
///         - leaf i = keccak256(keccak256(owner ‖ uint64 i ‖ uint128 sᵢ ‖ chunkᵢ)), with sᵢ the
///           chunk's sum of squares for updates and 0 for every other vector;
///         - the leaf level is padded to 2^depth with the empty node (0, 0);
///         - parent of (hL, sL), (hR, sR) = (keccak256(hL ‖ hR ‖ uint256 s), s = sL + sR);
///         - the root is the top node's hash; a proof is `depth` (hash, sum) pairs bottom-up,
///           the pair order taken from the index bits.
///         Position binding: a root opens each index to one chunk (OpenZeppelin's sorted-pair
///         tree does not). Owner binding: a copied root cannot be opened by the copier. Sums: a
///         squared norm committed beside the root is provably wrong in one opening.
/// @dev OpenZeppelin 5's `MerkleProof` takes a custom hasher for pairs but not the sums carried
///      beside them, hence this small library.
library MerkleSumTree {
    /// @notice The leaf committing to chunk `index` of `owner`'s vector with declared sum `sum`.
    function leaf(address owner, uint256 index, uint256 sum, bytes calldata chunk) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encodePacked(owner, uint64(index), uint128(sum), chunk))));
    }

    /// @notice Walk from a leaf to the top; returns the top node (hash, sum).
    /// @param proof 2·depth words: sibling hash then sibling sum, level by level from the leaf.
    function climb(bytes32 h, uint256 s, uint256 index, bytes32[] calldata proof)
        internal
        pure
        returns (bytes32, uint256)
    {
        uint256 levels = proof.length / 2;
        for (uint256 l = 0; l < levels; ++l) {
            bytes32 sibling = proof[2 * l];
            unchecked {
                s += uint256(proof[2 * l + 1]); // mod 2^256, as Python computes it
            }
            h = (index >> l) & 1 == 0
                ? keccak256(abi.encodePacked(h, sibling, s))
                : keccak256(abi.encodePacked(sibling, h, s));
        }
        return (h, s);
    }

    /// @notice ceil(log2(numChunks)): the proof length (in pairs) of every leaf.
    function depth(uint256 numChunks) internal pure returns (uint256 d) {
        while ((uint256(1) << d) < numChunks) ++d;
    }
}
