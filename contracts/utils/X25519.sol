// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title X25519
/// @notice The X25519 function of RFC 7748: a scalar multiplication on Curve25519 by the
///         Montgomery ladder over p = 2**255 - 19, with 32-byte little-endian encodings of the
///         scalar and of the u-coordinate, as ``cryptography``'s X25519 computes it. It checks
///         a revealed secret key against its advertised public key and recomputes the shared
///         secret behind a pairwise mask seed (``SecureTerms``).
/// @dev The ladder keeps field elements as uint256 and multiplies with MULMOD, which accepts
///      unreduced operands: sums and differences (x + p - z) of reduced values stay below 2**256,
///      so they are fed to MULMOD without ADDMOD. Each of the 255 ladder steps is one
///      differential addition and one doubling (10 MULMOD); instead of the RFC's conditional
///      swaps, the step branches on the scalar bit and doubles (x2, z2) or (x3, z3) (the
///      differential addition is symmetric in the two points). This is not constant-time,
///      which does not matter on a public chain. The final inversion z2**(p-2) uses the MODEXP
///      precompile at address 0x05.
library X25519 {
    /// @dev 2**255 - 19
    uint256 internal constant P = 0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffed;
    /// @dev The u-coordinate of the base point, 9.
    uint256 internal constant BASE_U = 9;

    /// @notice MODEXP (precompile 0x05) failed.
    error X25519ModExpFailed();

    /// @notice The 32 bytes of ``x`` in reverse order: a little-endian encoding read as an
    ///         integer, or an integer written little-endian.
    function reverseBytes(uint256 x) internal pure returns (uint256 r) {
        assembly ("memory-safe") {
            r := or(
                and(shr(8, x), 0x00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff),
                shl(8, and(x, 0x00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff))
            )
            r := or(
                and(shr(16, r), 0x0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff),
                shl(16, and(r, 0x0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff))
            )
            r := or(
                and(shr(32, r), 0x00000000ffffffff00000000ffffffff00000000ffffffff00000000ffffffff),
                shl(32, and(r, 0x00000000ffffffff00000000ffffffff00000000ffffffff00000000ffffffff))
            )
            r := or(
                and(shr(64, r), 0x0000000000000000ffffffffffffffff0000000000000000ffffffffffffffff),
                shl(64, and(r, 0x0000000000000000ffffffffffffffff0000000000000000ffffffffffffffff))
            )
            r := or(shr(128, r), shl(128, r))
        }
    }

    /// @notice X25519(k, u) of RFC 7748 section 5 on integers: ``scalar`` is clamped here
    ///         (bits 0-2 and 255 cleared, bit 254 set) and ``u`` has its bit 255 cleared; a
    ///         non-canonical u (p <= u < 2**255) is used mod p. Returns u([k]P) in [0, p).
    function scalarMul(uint256 scalar, uint256 u) internal view returns (uint256 out) {
        uint256 k = (scalar & ~uint256(7) & ~(uint256(1) << 255)) | (uint256(1) << 254);
        uint256 x1 = u & ~(uint256(1) << 255);
        uint256 x2;
        uint256 z2;
        assembly ("memory-safe") {
            let p := P
            x2 := 1
            z2 := 0
            let x3 := x1
            let z3 := 1
            // p is updated by a no-op (bit 0 of p is set) so that the optimizer keeps it in a
            // variable rather than recomputing the constant at each use, as it does at low runs.
            for { let t := 255 } t { p := or(p, shr(255, x2)) } {
                t := sub(t, 1)
                // Differential addition: the same whichever point is doubled.
                let a := add(x2, z2)
                let b := add(x2, sub(p, z2))
                let c := add(x3, z3)
                let d := add(x3, sub(p, z3))
                let da := mulmod(d, a, p)
                let cb := mulmod(c, b, p)
                let xa := add(da, cb)
                xa := mulmod(xa, xa, p)
                let za := add(da, sub(p, cb))
                za := mulmod(x1, mulmod(za, za, p), p)
                switch and(shr(t, k), 1)
                case 0 {
                    // (x2, z2) := 2 (x2, z2); (x3, z3) := the sum
                    let aa := mulmod(a, a, p)
                    let bb := mulmod(b, b, p)
                    let e := add(aa, sub(p, bb))
                    x2 := mulmod(aa, bb, p)
                    z2 := mulmod(e, add(aa, mulmod(121665, e, p)), p)
                    x3 := xa
                    z3 := za
                }
                default {
                    // (x3, z3) := 2 (x3, z3); (x2, z2) := the sum
                    let cc := mulmod(c, c, p)
                    let dd := mulmod(d, d, p)
                    let e := add(cc, sub(p, dd))
                    x3 := mulmod(cc, dd, p)
                    z3 := mulmod(e, add(cc, mulmod(121665, e, p)), p)
                    x2 := xa
                    z2 := za
                }
            }
        }
        // x2 / z2 = x2 * z2**(p-2); z2 = 0 (a small-order input) gives 0, as RFC 7748 says.
        return mulmod(x2, modExp(z2, P - 2), P);
    }

    /// @notice base**e mod p by the MODEXP precompile (32-byte base, exponent and modulus).
    function modExp(uint256 base, uint256 e) internal view returns (uint256 r) {
        bool ok;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, 0x20)
            mstore(add(m, 0x20), 0x20)
            mstore(add(m, 0x40), 0x20)
            mstore(add(m, 0x60), base)
            mstore(add(m, 0x80), e)
            mstore(add(m, 0xa0), P)
            ok := staticcall(gas(), 0x05, m, 0xc0, m, 0x20)
            r := mload(m)
        }
        if (!ok) revert X25519ModExpFailed();
    }

    /// @notice RFC 7748's X25519 on 32-byte strings: ``k`` and ``u`` little-endian as in the RFC
    ///         (byte 0 of the bytes32 is the RFC's first byte); the result is encoded the same way.
    function x25519(bytes32 k, bytes32 u) internal view returns (bytes32) {
        return bytes32(reverseBytes(scalarMul(reverseBytes(uint256(k)), reverseBytes(uint256(u)))));
    }

    /// @notice The public key of secret key ``k``: X25519(k, 9), encoded as ``x25519``'s result
    ///         (``cryptography``'s ``public_bytes_raw()``).
    function publicKey(bytes32 k) internal view returns (bytes32) {
        return bytes32(reverseBytes(scalarMul(reverseBytes(uint256(k)), BASE_U)));
    }
}
