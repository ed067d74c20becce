// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {CoordinatorCore} from "./CoordinatorCore.sol";
import {CoordinatorSecAgg} from "./CoordinatorSecAgg.sol";

/// @title SecAggPhases
/// @notice The SecAgg+ phase calls, with the chain as the bulletin board: Advertise (keys) →
///         Share (encrypted key shares) → Commit (masked inputs; complaints first) → Unmask →
///         Aggregate → Challenge. Each phase's message is a blob in the store; the chain records
///         its digest and so fixes U1 ⊇ U2 ⊇ U3 ⊇ U4 identically for everyone. A phase ends
///         early when everyone expected acted, or at its deadline through `advance`.
/// @dev A module, not a contract to call: `TaskCoordinator` forwards these selectors to it
///      with DELEGATECALL (its code, the coordinator's storage and events), which keeps each
///      deployment under EIP-170's 24,576 bytes. It inherits the same storage layout; called
///      directly it only sees its own empty storage (every task is unknown).
contract SecAggPhases is CoordinatorSecAgg {
    constructor(IERC20 token_) CoordinatorCore(token_) {}

    /// @notice SecAgg+ round 0: publish the digest of this round's two ephemeral public keys.
    ///         The first advertisement of a round finalizes the previous one when it is due.
    function advertiseKeys(uint256 taskId, uint256 round, bytes32 digest) external {
        Task storage t = _tasks[taskId];
        RoundState memory s = t.state;
        if (s.phase == Phase.None) revert CoordinatorUnknownTask(taskId);
        if (!s.secure) revert CoordinatorNotSecure(taskId);
        if (round == uint256(s.round) + 1) _advanceIfDue(taskId, t, s);
        SecureMember storage sm = _secureMember(taskId, s, round, Phase.Advertise, digest);
        if (_members[taskId][msg.sender].lastRound == round) {
            revert CoordinatorAlreadyCommitted(taskId, round, msg.sender); // joined mid-round
        }
        if (sm.advertRound == round) revert CoordinatorAlreadySubmitted(taskId, round, Phase.Advertise, msg.sender);
        sm.advertRound = uint32(round);
        SecureCounts storage c = _secureCounts[taskId];
        c.advertised += 1;
        emit KeysAdvertised(taskId, round, msg.sender, digest);
        if (c.advertised >= s.members) _enterPhase(taskId, t, s, Phase.Share);
    }

    /// @notice SecAgg+ round 1: publish the digest of the key shares encrypted to neighbours.
    ///         The event carries the member's weight (fixed at join): the round's weights bound
    ///         its aggregate before anyone masks, which fixes the ring the masked inputs live in.
    function shareKeys(uint256 taskId, uint256 round, bytes32 digest) external {
        Task storage t = _tasks[taskId];
        RoundState memory s = t.state;
        SecureMember storage sm = _secureMember(taskId, s, round, Phase.Share, digest);
        if (sm.advertRound != round) revert CoordinatorMissedPhase(taskId, round, Phase.Advertise, msg.sender);
        if (sm.shareRound == round) revert CoordinatorAlreadySubmitted(taskId, round, Phase.Share, msg.sender);
        sm.shareRound = uint32(round);
        SecureCounts storage c = _secureCounts[taskId];
        c.shared += 1;
        emit KeysShared(taskId, round, msg.sender, digest, _members[taskId][msg.sender].weight);
        if (c.shared >= c.advertised) _enterPhase(taskId, t, s, Phase.Commit);
    }

    /// @notice SecAgg+ complaint, during the masked-input phase and before the caller's own
    ///         commit: publish the digest of a message naming the neighbours whose key shares
    ///         for the caller failed to open, with the pairwise mask seed shared with each.
    function complain(uint256 taskId, uint256 round, bytes32 digest) external {
        Task storage t = _tasks[taskId];
        RoundState memory s = t.state;
        SecureMember storage sm = _secureMember(taskId, s, round, Phase.Commit, digest);
        if (sm.shareRound != round) revert CoordinatorMissedPhase(taskId, round, Phase.Share, msg.sender);
        if (_members[taskId][msg.sender].lastRound == round) {
            revert CoordinatorAlreadyCommitted(taskId, round, msg.sender);
        }
        if (sm.complaintRound == round) revert CoordinatorAlreadySubmitted(taskId, round, Phase.Commit, msg.sender);
        sm.complaintRound = uint32(round);
        emit SharesComplained(taskId, round, msg.sender, digest);
    }

    /// @notice SecAgg+ round 3: publish the digest of this survivor's unmask shares.
    function unmask(uint256 taskId, uint256 round, bytes32 digest) external {
        Task storage t = _tasks[taskId];
        RoundState memory s = t.state;
        SecureMember storage sm = _secureMember(taskId, s, round, Phase.Unmask, digest);
        if (_members[taskId][msg.sender].lastRound != round || sm.shareRound != round) {
            revert CoordinatorNotCommitted(taskId, round, msg.sender);
        }
        if (sm.unmaskRound == round) revert CoordinatorAlreadySubmitted(taskId, round, Phase.Unmask, msg.sender);
        sm.unmaskRound = uint32(round);
        SecureCounts storage c = _secureCounts[taskId];
        c.unmasked += 1;
        emit UnmaskSharesPosted(taskId, round, msg.sender, digest);
        if (c.unmasked >= s.committed) _enterPhase(taskId, t, s, Phase.Aggregate);
    }

    /// @notice Post the unmasked aggregate of a secure round (see `postAggregate`), once the
    ///         unmask phase ended.
    /// @param excluded Committed participants whose masked input was malformed, or whose key
    ///        shares enough neighbours complained about; they earn nothing this round.
    /// @param withheld Survivors that committed a masked input but did not post their unmask
    ///        shares; recorded on-chain as such (their input is still in the sum).
    function postSecureAggregate(
        uint256 taskId,
        uint256 round,
        bytes32 merkleRoot,
        bytes32 modelRoot,
        address[] calldata excluded,
        ExclusionReason[] calldata reasons,
        address[] calldata withheld
    ) external {
        Task storage t = _tasks[taskId];
        RoundState memory s = t.state;
        if (s.phase == Phase.None) revert CoordinatorUnknownTask(taskId);
        if (!s.secure) revert CoordinatorNotSecure(taskId);
        if (s.phase != Phase.Aggregate) revert CoordinatorWrongPhase(taskId, Phase.Aggregate, s.phase);
        if (round != s.round) revert CoordinatorRoundMismatch(taskId, s.round, round);
        if (block.timestamp >= s.deadline) revert CoordinatorAggregateWindowClosed(taskId, round, s.deadline);
        for (uint256 i = 0; i < withheld.length; ++i) {
            address w = withheld[i];
            SecureMember storage sw = _secureMembers[taskId][w];
            Member storage mw = _members[taskId][w];
            if (mw.lastRound != round || sw.shareRound != round || sw.unmaskRound == round) {
                revert CoordinatorNotWithheld(taskId, round, w);
            }
            sw.unmaskRound = uint32(round); // recorded once
            emit UnmaskWithheld(taskId, round, w);
        }
        _postAggregate(taskId, t, s, round, merkleRoot, modelRoot, excluded, reasons);
    }

    function _secureMember(uint256 taskId, RoundState memory s, uint256 round, Phase phase, bytes32 digest)
        internal
        view
        returns (SecureMember storage sm)
    {
        if (s.phase == Phase.None) revert CoordinatorUnknownTask(taskId);
        if (!s.secure) revert CoordinatorNotSecure(taskId);
        if (s.phase != phase) revert CoordinatorWrongPhase(taskId, phase, s.phase);
        if (round != s.round) revert CoordinatorRoundMismatch(taskId, s.round, round);
        if (block.timestamp >= s.deadline) {
            revert CoordinatorPhaseClosed(taskId, round, phase, s.deadline, block.timestamp);
        }
        if (digest == bytes32(0)) revert CoordinatorZeroCommitment();
        if (_members[taskId][msg.sender].flags & ACTIVE == 0) revert CoordinatorNotMember(taskId, msg.sender);
        sm = _secureMembers[taskId][msg.sender];
    }

}
