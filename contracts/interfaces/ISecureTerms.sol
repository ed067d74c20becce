// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title ISecureTerms
/// @notice The terms of a SecAgg+ mask that a dispute step over a secure round recomputes
///         on-chain, bit for bit as ``fedchain.secagg`` computes them off-chain: mask words,
///         self-mask commitments, X25519 public keys, pairwise mask seeds and the neighbour
///         graph. Stateless: callers STATICCALL it. Errors carry the `SecureTerms` prefix.
interface ISecureTerms {
    /// @notice A mask is at most `max` (2**32) words long (``fedchain.secagg.prg``).
    error SecureTermsMaskTooLong(uint256 length, uint256 max);
    /// @notice Chunk `chunk` of `chunkElems` words starts at or beyond the mask's end (or
    ///         `chunkElems` is 0).
    error SecureTermsChunkOutOfRange(uint256 chunk, uint256 chunkElems, uint256 length);
    /// @notice The revealed secret key's public key is `derived`, not the advertised `expected`.
    error SecureTermsKeyMismatch(bytes32 expected, bytes32 derived);
    /// @notice X25519 with this peer key gives the all-zero secret (a small-order point), which
    ///         the off-chain side (``cryptography``) refuses: no pairwise seed exists.
    error SecureTermsSmallOrderKey(bytes32 peerPublic);
    /// @notice A neighbour graph is defined for 3..`max` members only.
    error SecureTermsBadGroupSize(uint256 n, uint256 max);
    /// @notice Member index `index` is not in 0..`n` - 1.
    error SecureTermsNotMember(uint256 index, uint256 n);
    /// @notice A member is not its own neighbour: the question has no answer.
    error SecureTermsSameMember(uint256 index);

    /// @notice The largest group ``graphParameters``, ``isNeighbour`` and ``ringPosition`` serve
    ///         (the permutation behind the graph costs gas linear in the group's size).
    function MAX_GRAPH_MEMBERS() external view returns (uint256);

    /// @notice Words chunk·chunkElems .. min((chunk+1)·chunkElems, length) - 1 of
    ///         ``fedchain.secagg.prg.expand_mask(seed, length)``: ChaCha20 keyed by `seed`, block
    ///         counter and nonce zero, word i = keystream bytes 8i..8i+7 read little-endian. The
    ///         last chunk of a mask is shorter when chunkElems does not divide length.
    function maskChunk(bytes32 seed, uint256 chunk, uint256 chunkElems, uint256 length)
        external
        pure
        returns (uint64[] memory words);

    /// @notice Whether sha256(seed) = `commitment` (``fedchain.secagg.masking.self_mask_commitment``):
    ///         checks a reconstructed self-mask seed.
    function selfMaskSeedMatches(bytes32 seed, bytes32 commitment) external pure returns (bool);

    /// @notice X25519(secretKey, 9): the raw public key ``cryptography`` gives for the raw secret
    ///         key `secretKey` (``public_bytes_raw()``).
    function publicKeyOf(bytes32 secretKey) external view returns (bytes32);

    /// @notice The pairwise mask seed of a member whose mask secret key `ownerSecret` was
    ///         revealed, with the neighbour whose mask public key is `peerPublic`:
    ///         ``fedchain.secagg.keys.agree(ownerSecret, peerPublic, purpose=PURPOSE_PAIRWISE_MASK,
    ///         context=pair_context(taskId, round, first, second))``, i.e. HKDF-SHA256 with the
    ///         zero salt and info = purpose ‖ 0x00 ‖ taskId ‖ round ‖ first ‖ second over the
    ///         X25519 shared secret. Reverts unless `ownerSecret` is the key behind the advertised
    ///         `ownerPublic`, and for a small-order `peerPublic`.
    /// @dev The pair is hashed in the order given: ``fedchain.secagg.masking.pairwise_seed`` puts
    ///      it in canonical (ascending address) order, which the caller must do too.
    function pairwiseSeed(
        bytes32 ownerSecret,
        bytes32 ownerPublic,
        bytes32 peerPublic,
        uint256 taskId,
        uint64 round,
        address first,
        address second
    ) external view returns (bytes32);

    /// @notice ``fedchain.secagg.graph.choose_parameters(n)``: the degree k = min(n - 1, the even
    ///         number of ⌈6·log2 n⌉ and ⌈6·log2 n⌉ + 1) and the Shamir threshold
    ///         t = max(2, k/2 + 1), in exact integer arithmetic.
    function graphParameters(uint256 n) external pure returns (uint256 k, uint256 threshold);

    /// @notice Where member `a` (index in 0..n-1) sits on the ring of the neighbour graph:
    ///         ``fedchain.secagg.graph.shuffled(list(range(n)), seed).index(a)``.
    function ringPosition(bytes32 seed, uint256 n, uint256 a) external pure returns (uint256);

    /// @notice Whether members `a` and `b` (indexes in 0..n-1, a ≠ b) are neighbours in the
    ///         SecAgg+ graph of round seed `seed`: the Harary graph H(k, n) of
    ///         ``fedchain.secagg.graph.neighbours`` over the ring ``shuffled(range(n), seed)``,
    ///         k from ``graphParameters(n)`` (every pair when k = n - 1).
    function isNeighbour(bytes32 seed, uint256 n, uint256 a, uint256 b) external pure returns (bool);
}
