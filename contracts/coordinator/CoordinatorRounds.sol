// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {CoordinatorCore} from "./CoordinatorCore.sol";

/// @title CoordinatorRounds
/// @notice The plaintext round calls: commit, post the aggregate, advance.
abstract contract CoordinatorRounds is CoordinatorCore {
    /// @notice Name the dispute game, once, as the deployer (it is deployed after this contract).
    function setDisputeGame(address game) external {
        if (msg.sender != _deployer) revert CoordinatorNotDisputeGame(msg.sender);
        if (disputeGame != address(0)) revert CoordinatorDisputeGameSet(disputeGame);
        disputeGame = game;
        emit DisputeGameSet(game);
    }

    // ---------------------------------------------------------------- rounds

    /// @notice Commit to this round's update: the Merkle-sum root of its fixed-point chunks
    ///         (also its address in the store) and its squared L2 norm, which the root's sums
    ///         bind and the task bounds. The update's weight is the member's, fixed at join.
    ///         Committing to the round after the current one first finalizes or aborts the
    ///         current round when a deadline allows it (any transaction may advance a phase).
    /// @dev Constant cost in the model's size: three words rewritten, one event.
    function commitUpdate(uint256 taskId, uint256 round, bytes32 merkleRoot, uint256 sumSq) external {
        Task storage t = _tasks[taskId];
        RoundState memory s = t.state;
        if (s.phase == Phase.None) revert CoordinatorUnknownTask(taskId);
        if (round == uint256(s.round) + 1 && !s.secure) _advanceIfDue(taskId, t, s);
        if (s.phase != Phase.Commit) revert CoordinatorWrongPhase(taskId, Phase.Commit, s.phase);
        if (round != s.round) revert CoordinatorRoundMismatch(taskId, s.round, round);
        if (block.timestamp >= s.deadline) {
            revert CoordinatorCommitWindowClosed(taskId, round, s.deadline, block.timestamp);
        }
        if (merkleRoot == bytes32(0)) revert CoordinatorZeroCommitment();
        uint256 bound = uint256(s.normMantissa) << s.normShift;
        if (sumSq > bound) revert CoordinatorNormAboveBound(taskId, sumSq, bound);
        Member storage m = _members[taskId][msg.sender];
        if (m.flags & ACTIVE == 0) revert CoordinatorNotMember(taskId, msg.sender);
        if (m.lastRound == round) revert CoordinatorAlreadyCommitted(taskId, round, msg.sender);
        _beforeCommit(taskId, s, round);

        (uint256 creditedRound, uint256 credited) = _credit(taskId, s, m);
        m.lastRound = uint32(round);
        m.flags = ACTIVE | UNSETTLED;
        uint32 index = s.committed + 1;
        _commitments[taskId][msg.sender] = keccak256(abi.encode(round, merkleRoot, sumSq, index));
        s.totalWeight += m.weight;
        s.committed = index;
        t.state = s;
        // The credit of the member's previous round rides on this event (no RewardsCredited).
        emit UpdateCommitted(taskId, round, msg.sender, merkleRoot, sumSq, index, creditedRound, credited);
        _afterCommit(taskId, t, s);
    }

    /// @notice Post the Merkle root of the round's aggregate Σ wᵢ·vᵢ over the included updates and
    ///         the root of the new global model, locking `aggregatorBond` of the caller's stake
    ///         until the challenge window ends. Allowed once the commit window is closed and
    ///         before the aggregate deadline, and again after a refuted aggregate (by anyone but
    ///         the refuted aggregator).
    /// @param excluded Committed participants left out, each with its reason; they earn nothing
    ///        this round and their shares go back to the pool (nobody else's reward grows).
    function postAggregate(
        uint256 taskId,
        uint256 round,
        bytes32 merkleRoot,
        bytes32 modelRoot,
        address[] calldata excluded,
        ExclusionReason[] calldata reasons
    ) external {
        Task storage t = _tasks[taskId];
        RoundState memory s = t.state;
        if (s.phase == Phase.None) revert CoordinatorUnknownTask(taskId);
        if (s.secure) revert CoordinatorSecureTask(taskId);
        if (s.phase != Phase.Commit) revert CoordinatorWrongPhase(taskId, Phase.Commit, s.phase);
        if (round != s.round) revert CoordinatorRoundMismatch(taskId, s.round, round);
        if (block.timestamp < s.deadline && s.committed < s.members) {
            revert CoordinatorCommitWindowOpen(taskId, round, s.deadline);
        }
        uint256 aggregateDeadline = uint256(s.deadline) + t.aggregateDuration;
        if (block.timestamp >= aggregateDeadline) {
            revert CoordinatorAggregateWindowClosed(taskId, round, aggregateDeadline);
        }
        _postAggregate(taskId, t, s, round, merkleRoot, modelRoot, excluded, reasons);
    }

    /// @notice Give up this round's aggregate as the incumbent aggregator, during the window:
    ///         the window opens to every member at once and no liveness slash follows. For an
    ///         incumbent that cannot build an aggregate (too few readable updates): without it, a
    ///         backup that can (say, holding data withheld from the store) would get it slashed.
    ///         The caller may not post again this round.
    function yieldGrace(uint256 taskId, uint256 round) external {
        Task storage t = _tasks[taskId];
        RoundState memory s = t.state;
        if (s.phase == Phase.None) revert CoordinatorUnknownTask(taskId);
        Phase phase = _effectivePhase(s);
        if (phase != Phase.Aggregate) revert CoordinatorWrongPhase(taskId, Phase.Aggregate, phase);
        if (round != s.round) revert CoordinatorRoundMismatch(taskId, s.round, round);
        (address holder,) = _graceHolder(taskId, t, s);
        if (holder != msg.sender) revert CoordinatorNotGraceHolder(taskId, round, holder);
        _barred[taskId][msg.sender] = round;
        emit GraceYielded(taskId, round, msg.sender);
    }

    /// @notice Move a task on once a deadline has passed: finalize a round whose challenge window
    ///         ended with no open challenge, or abort one that got too few updates or no aggregate
    ///         in time. Anyone may call it; the next round (or completion) follows at once.
    function advance(uint256 taskId) external {
        Task storage t = _tasks[taskId];
        RoundState memory s = t.state;
        if (s.phase == Phase.None) revert CoordinatorUnknownTask(taskId);
        Phase before = s.phase;
        uint64 deadline = s.deadline;
        if (!_advanceIfDue(taskId, t, s)) revert CoordinatorNothingToAdvance(taskId, before, deadline);
    }
}
