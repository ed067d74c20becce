// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @title ChunkCommitment
/// @notice The Merkle commitment to a vector blob, shared by Python (`fedchain.codec.merkle`) and
///         Solidity. A blob's payload is cut into chunks; leaf i is
///         keccak256(keccak256(uint64 i ‖ chunk_i)) (double hashing, as OpenZeppelin advises
///         against second pre-images), and the tree uses OpenZeppelin's sorted-pair hashing.
library ChunkCommitment {
    /// @notice The leaf that commits to chunk `index` with bytes `chunk`.
    function leaf(uint64 index, bytes memory chunk) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encodePacked(index, chunk))));
    }

    /// @notice True when `chunk` is chunk `index` of the vector committed to by `root`.
    function verify(bytes32[] memory proof, bytes32 root, uint64 index, bytes memory chunk)
        internal
        pure
        returns (bool)
    {
        return MerkleProof.verify(proof, root, leaf(index, chunk));
    }
}
