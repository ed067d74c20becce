// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {X25519} from "../../contracts/utils/X25519.sol";

/// @title X25519Bench (benchmark only, never deployed by fedchain)
/// @notice External entry points over ``X25519`` (contracts/utils) for the benchmark: it checks
///         them against RFC 7748's vectors and ``cryptography``, and sends them as transactions
///         to read their gas.
contract X25519Bench {
    /// @notice X25519(k, u), RFC 7748 section 5 (32-byte little-endian strings).
    function x25519(bytes32 k, bytes32 u) external view returns (bytes32) {
        return X25519.x25519(k, u);
    }

    /// @notice The public key of secret key ``k``: X25519(k, 9).
    function publicKey(bytes32 k) external view returns (bytes32) {
        return X25519.x25519(k, bytes32(X25519.BASE_U << 248));
    }

    /// @notice What checking a revealed pairwise secret takes before its key derivation: that
    ///         ``secretKey`` is the key behind ``ownPublic`` (one ladder on the base point), then
    ///         the shared secret with ``peerPublic`` (a second ladder). Returns the shared
    ///         secret, or zero if ``secretKey`` does not match ``ownPublic``.
    function checkedAgreement(bytes32 secretKey, bytes32 ownPublic, bytes32 peerPublic)
        external
        view
        returns (bytes32)
    {
        if (X25519.x25519(secretKey, bytes32(X25519.BASE_U << 248)) != ownPublic) return 0;
        return X25519.x25519(secretKey, peerPublic);
    }
}
