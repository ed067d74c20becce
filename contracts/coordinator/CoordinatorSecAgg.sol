// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {CoordinatorCore} from "./CoordinatorCore.sol";

/// @title CoordinatorSecAgg
/// @notice State and phase transitions of SecAgg+ rounds, shared by the coordinator (which
///         moves phases on at deadlines and on the last masked commit) and by the separately
///         deployed `SecAggPhases` module that holds the phase calls themselves.
abstract contract CoordinatorSecAgg is CoordinatorCore {
    /// @dev Per-round counts of the secure phases (U1, U2, U4; U3 is `RoundState.committed`).
    struct SecureCounts {
        uint32 advertised;
        uint32 shared;
        uint32 unmasked;
        // Σ weights of U2: with the task's norm bound it fixes the round's ring width.
        uint64 sharedWeight;
    }

    /// @dev The last round in which a member acted in each secure phase.
    struct SecureMember {
        uint32 advertRound;
        uint32 shareRound;
        uint32 unmaskRound;
        uint32 complaintRound;
        // The round a committed nonce is for, and the last round whose nonce was revealed (or
        // whose non-reveal was slashed).
        uint32 nonceRound;
        uint32 revealRound;
        // The member's index in the last round's U1 (order of advertisement).
        uint32 advertIndex;
    }

    /// @dev What a dispute of a secure round checks a revealed secret against: the advertised
    ///      mask public key and the committed sha256 of the self-mask seed (last round's).
    struct SecureKeys {
        bytes32 maskPk;
        bytes32 selfMaskCommitment;
        // keccak256(abi.encode(bitmap)) of whose self-mask shares the member revealed at unmask
        bytes32 revealedSelfShares;
    }

    mapping(uint256 taskId => SecureCounts) internal _secureCounts;
    mapping(uint256 taskId => mapping(address account => SecureMember)) internal _secureMembers;
    /// @dev keccak256(abi.encode(nonce, member, taskId, round)) committed a round ahead.
    mapping(uint256 taskId => mapping(address account => bytes32)) internal _nonceHashes;
    /// @dev XOR of the nonces revealed in the current round's advertise phase.
    mapping(uint256 taskId => bytes32) internal _revealed;
    mapping(uint256 taskId => mapping(address account => SecureKeys)) internal _secureKeys;
    /// @dev The open secure round's seed (what its neighbour graph is drawn from).
    mapping(uint256 taskId => bytes32) internal _roundSeeds;

    function _enterPhase(uint256 taskId, Task storage t, RoundState memory s, Phase phase) internal {
        s.phase = phase;
        uint256 duration = phase == Phase.Aggregate ? t.aggregateDuration : t.commitDuration;
        s.deadline = uint40(block.timestamp + duration);
        t.state = s;
        emit PhaseStarted(taskId, s.round, phase, s.deadline);
        if (phase == Phase.Share) {
            // Drawn only once the advertised set U1 is closed, so nobody can choose whether to
            // advertise knowing the neighbour graph it would produce.
            // Members' nonces (committed a round ahead, revealed with their keys) mixed with
            // prevrandao: no single sender or proposer chooses the seed; withholding a reveal is
            // a one-bit choice that costs a liveness slash.
            bytes32 seed =
                keccak256(abi.encode(_revealed[taskId], block.prevrandao, blockhash(block.number - 1), taskId, s.round));
            _roundSeeds[taskId] = seed;
            emit RoundSeed(taskId, s.round, seed);
        }
    }

    function _beforeCommit(uint256 taskId, RoundState memory s, uint256 round) internal view override {
        if (s.secure && _secureMembers[taskId][msg.sender].shareRound != round) {
            revert CoordinatorMissedPhase(taskId, round, Phase.Share, msg.sender);
        }
    }

    function _afterCommit(uint256 taskId, Task storage t, RoundState memory s) internal override {
        if (s.secure && s.committed >= _secureCounts[taskId].shared) _enterPhase(taskId, t, s, Phase.Unmask);
    }

    function _afterOpenRound(uint256 taskId) internal override {
        if (_tasks[taskId].state.secure) {
            _secureCounts[taskId] = SecureCounts(0, 0, 0, 0);
            if (_revealed[taskId] != bytes32(0)) _revealed[taskId] = bytes32(0);
        }
    }

    function _secureCountsOf(uint256 taskId) internal view override returns (uint32, uint32, uint32) {
        SecureCounts memory c = _secureCounts[taskId];
        return (c.advertised, c.shared, c.unmasked);
    }

    /// @dev A secure phase whose deadline passed: move on, or abort below minParticipants.
    function _advanceSecureIfDue(uint256 taskId, Task storage t, RoundState memory s)
        internal
        override
        returns (bool)
    {
        if (block.timestamp < s.deadline) return false;
        SecureCounts memory c = _secureCounts[taskId];
        uint256 min = t.minParticipants;
        if (s.phase == Phase.Advertise) {
            if (c.advertised < min) _abort(taskId, t, s, AbortReason.TooFewUpdates);
            else _enterPhase(taskId, t, s, Phase.Share);
        } else if (s.phase == Phase.Share) {
            if (c.shared < min) _abort(taskId, t, s, AbortReason.TooFewUpdates);
            else _enterPhase(taskId, t, s, Phase.Commit);
        } else if (s.phase == Phase.Commit) {
            if (s.committed < min) _abort(taskId, t, s, AbortReason.TooFewUpdates);
            else _enterPhase(taskId, t, s, Phase.Unmask);
        } else if (s.phase == Phase.Unmask) {
            _enterPhase(taskId, t, s, Phase.Aggregate);
        } else if (s.phase == Phase.Aggregate) {
            _abort(taskId, t, s, AbortReason.NoAggregate);
        } else {
            return false;
        }
        return true;
    }
}
