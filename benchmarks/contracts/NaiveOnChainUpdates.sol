// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title NaiveOnChainUpdates (benchmark only, never deployed by fedchain)
/// @notice The design fedchain avoids: every participant sends its whole model update as
///         calldata and the contract stores it; the contract then computes the weighted sum
///         Σ nᵢ·vᵢ itself. It is a deliberately favourable lower bound for that design: no
///         stakes, rewards, phases or checks of who may commit, and the aggregate loop reads
///         whole storage words (8 int32 per SLOAD) in assembly instead of byte by byte.
/// @dev Layouts match fedchain's blobs: an update is int32 big-endian (8 per storage word),
///      the aggregate is int64 big-endian two's complement (4 per storage word).
contract NaiveOnChainUpdates {
    /// @notice Elements per update (the model's parameter count).
    uint256 public immutable numParams;
    uint256 public round;
    address[] public participants;
    mapping(address => bytes) public updates;
    mapping(address => uint256) public samples;
    mapping(address => bool) public isParticipant;
    /// @dev word index -> 4 packed int64 of Σ nᵢ·vᵢ
    mapping(uint256 => uint256) private _aggregate;

    event UpdateStored(address indexed participant, uint256 indexed round, uint256 samples);
    event UpdateSeen(address indexed participant, uint256 indexed round, bytes32 digest);
    event AggregatedRange(uint256 indexed round, uint256 fromWord, uint256 toWord);

    error WrongLength(uint256 got, uint256 want);
    error BadRange(uint256 fromWord, uint256 toWord, uint256 words);

    constructor(uint256 numParams_) {
        numParams = numParams_;
    }

    /// @notice Number of 32-byte storage words one update occupies.
    function updateWords() public view returns (uint256) {
        return (numParams * 4 + 31) / 32;
    }

    /// @notice Store the caller's whole update (numParams int32, big-endian) on-chain.
    function commit(bytes calldata u, uint256 n) external {
        if (u.length != numParams * 4) revert WrongLength(u.length, numParams * 4);
        if (!isParticipant[msg.sender]) {
            isParticipant[msg.sender] = true;
            participants.push(msg.sender);
        }
        updates[msg.sender] = u;
        samples[msg.sender] = n;
        emit UpdateStored(msg.sender, round, n);
    }

    /// @notice The cheapest way to put bytes on-chain at all: calldata only, nothing stored
    ///         (the contract can then never aggregate them itself). A floor for any design
    ///         that moves the update through the chain.
    function commitCalldataOnly(bytes calldata u) external {
        emit UpdateSeen(msg.sender, round, keccak256(u));
    }

    /// @notice Compute Σ nᵢ·vᵢ for update words [fromWord, toWord) and store it. A whole
    ///         aggregate of a large model does not fit one block, so it is called per range.
    function aggregate(uint256 fromWord, uint256 toWord) external {
        uint256 words = updateWords();
        if (fromWord >= toWord || toWord > words) revert BadRange(fromWord, toWord, words);
        uint256 np = participants.length;
        uint256[] memory bases = new uint256[](np);
        int256[] memory ns = new int256[](np);
        for (uint256 i = 0; i < np; ++i) {
            address a = participants[i];
            bytes storage u = updates[a];
            uint256 slot;
            assembly {
                slot := u.slot
            }
            bases[i] = uint256(keccak256(abi.encode(slot)));
            ns[i] = int256(samples[a]);
        }
        uint256 mask = type(uint64).max;
        unchecked {
            for (uint256 w = fromWord; w < toWord; ++w) {
                int256 a0; int256 a1; int256 a2; int256 a3;
                int256 a4; int256 a5; int256 a6; int256 a7;
                for (uint256 i = 0; i < np; ++i) {
                    uint256 s = bases[i] + w;
                    int256 n = ns[i];
                    uint256 word;
                    assembly {
                        word := sload(s)
                    }
                    int256 v;
                    assembly { v := signextend(3, shr(224, word)) }
                    a0 += v * n;
                    assembly { v := signextend(3, shr(192, word)) }
                    a1 += v * n;
                    assembly { v := signextend(3, shr(160, word)) }
                    a2 += v * n;
                    assembly { v := signextend(3, shr(128, word)) }
                    a3 += v * n;
                    assembly { v := signextend(3, shr(96, word)) }
                    a4 += v * n;
                    assembly { v := signextend(3, shr(64, word)) }
                    a5 += v * n;
                    assembly { v := signextend(3, shr(32, word)) }
                    a6 += v * n;
                    assembly { v := signextend(3, word) }
                    a7 += v * n;
                }
                _aggregate[2 * w] = ((uint256(a0) & mask) << 192) | ((uint256(a1) & mask) << 128)
                    | ((uint256(a2) & mask) << 64) | (uint256(a3) & mask);
                _aggregate[2 * w + 1] = ((uint256(a4) & mask) << 192) | ((uint256(a5) & mask) << 128)
                    | ((uint256(a6) & mask) << 64) | (uint256(a7) & mask);
            }
        }
        emit AggregatedRange(round, fromWord, toWord);
    }

    /// @notice Move to the next round (bookkeeping only).
    function nextRound() external {
        round += 1;
    }

    /// @notice Aggregate element i (for checking the contract against Python).
    function aggregateAt(uint256 i) external view returns (int64) {
        uint256 word = _aggregate[i / 4];
        return int64(uint64(word >> (192 - 64 * (i % 4))));
    }
}
