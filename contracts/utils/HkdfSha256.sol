// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title HkdfSha256
/// @notice HMAC-SHA256 (RFC 2104) and HKDF-SHA256 (RFC 5869) for keys of at most 32 bytes and one
///         32-byte output block: what ``cryptography``'s ``HKDF(SHA256(), length=32, ...)``
///         computes, which is how ``fedchain.secagg.keys.agree`` turns an X25519 shared secret
///         into a key. Hashing is Solidity's ``sha256``, i.e. the SHA-256 precompile (0x02).
/// @dev Every key here (the salt, the pseudorandom key) is 32 bytes, at most SHA-256's 64-byte
///      block, so HMAC's key block is the key zero-padded to 64 bytes and never a hash of it.
library HkdfSha256 {
    /// @dev HMAC's inner and outer pads, one 32-byte half of the 64-byte key block each.
    bytes32 private constant IPAD = 0x3636363636363636363636363636363636363636363636363636363636363636;
    bytes32 private constant OPAD = 0x5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c;

    /// @notice HMAC-SHA256(key, message) for a key of at most 32 bytes, left-aligned and
    ///         zero-padded in ``key`` (HMAC zero-pads keys anyway, so both read the same).
    function hmac(bytes32 key, bytes memory message) internal pure returns (bytes32) {
        // The key block is key ‖ 0^32, so its XOR with a pad is (key ^ pad) ‖ pad.
        bytes32 inner = sha256(abi.encodePacked(key ^ IPAD, IPAD, message));
        return sha256(abi.encodePacked(key ^ OPAD, OPAD, inner));
    }

    /// @notice HKDF-Extract: the pseudorandom key HMAC(salt, ikm). RFC 5869's default salt (no
    ///         salt given) is 32 zero bytes.
    function extract(bytes32 salt, bytes32 ikm) internal pure returns (bytes32) {
        return hmac(salt, abi.encodePacked(ikm));
    }

    /// @notice HKDF-Expand to L = 32 bytes: the first output block T(1) = HMAC(prk, info ‖ 0x01).
    function expand32(bytes32 prk, bytes memory info) internal pure returns (bytes32) {
        return hmac(prk, abi.encodePacked(info, uint8(1)));
    }

    /// @notice HKDF-SHA256(ikm, salt, info) with L = 32: Extract, then Expand.
    function derive32(bytes32 salt, bytes32 ikm, bytes memory info) internal pure returns (bytes32) {
        return expand32(extract(salt, ikm), info);
    }
}
