// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {CoordinatorCore} from "./CoordinatorCore.sol";
import {CoordinatorSecAgg} from "./CoordinatorSecAgg.sol";
import {ICoordinatorLens} from "../interfaces/ICoordinatorLens.sol";

/// @title CoordinatorLens
/// @notice The coordinator's views: a task, a member, a round as a proof needs it.
/// @dev A module like `SecAggPhases`: `TaskCoordinator` forwards these selectors to it by
///      DELEGATECALL (also inside eth_call and STATICCALL: it writes nothing).
contract CoordinatorLens is CoordinatorSecAgg, ICoordinatorLens {
    constructor(IERC20 token_) CoordinatorCore(token_) {}

    // ---------------------------------------------------------------- views

    /// @inheritdoc ICoordinatorLens
    function aggregateGrace(uint256 taskId) external view returns (address holder, uint256 graceEnd) {
        Task storage t = _task(taskId);
        return _graceHolder(taskId, t, t.state);
    }

    /// @notice Everything about a task in one call.
    function getTask(uint256 taskId) external view returns (TaskView memory v) {
        Task storage t = _task(taskId);
        RoundState memory s = t.state;
        v.sponsor = t.sponsor;
        v.numRounds = t.numRounds;
        v.minParticipants = t.minParticipants;
        v.commitDuration = t.commitDuration;
        v.aggregateDuration = t.aggregateDuration;
        v.challengeDuration = t.challengeDuration;
        v.responseDuration = t.responseDuration;
        v.stakeAmount = t.stakeAmount;
        v.stakePerSample = t.stakePerSample;
        v.aggregatorBond = t.aggregatorBond;
        v.challengeBond = t.challengeBond;
        v.rewardPerRound = t.rewardPerRound;
        v.pool = t.pool;
        v.round = s.round;
        v.phase = _effectivePhase(s);
        v.deadline = s.deadline;
        v.totalWeight = s.totalWeight;
        v.committed = s.committed;
        v.members = s.members;
        v.aggregator = t.aggregator;
        v.bondHeld = s.phase == Phase.Challenge ? t.aggregatorBond : 0;
        v.configDigest = t.configDigest;
        v.globalModelRoot = t.globalModelRoot;
        v.pendingModelRoot = t.modelRoot;
        v.secure = s.secure;
        (v.advertised, v.shared, v.unmasked) = _secureCountsOf(taskId);
        v.weightCap = t.weightCap;
        v.normBound = uint256(s.normMantissa) << s.normShift;
        v.numParameters = t.numParameters;
        v.chunkElems = t.chunkElems;
        v.openChallenges = t.openChallenges;
        v.epoch = t.epoch;
        v.challengeBondsHeld = t.challengeBondsHeld;
    }

    /// @notice A member's record, with the reward of its last finished round not yet settled.
    function getMember(uint256 taskId, address account)
        external
        view
        returns (Member memory m, uint256 pending, bytes32 commitment)
    {
        Task storage t = _task(taskId);
        m = _members[taskId][account];
        pending = _pending(taskId, t.state, m);
        commitment = _commitments[taskId][account];
    }

    /// @notice Reward per unit of weight paid for a finalized round (0 for aborted or open rounds).
    function rewardPerWeight(uint256 taskId, uint256 round) external view returns (uint256 rpw) {
        (rpw,) = _pay(taskId, round);
    }

    /// @notice The phase as a client should see it (`Aggregate` once the commit window closed).
    function phaseOf(uint256 taskId) external view returns (Phase) {
        return _effectivePhase(_task(taskId).state);
    }

    /// @inheritdoc ICoordinatorLens
    function roundView(uint256 taskId) external view returns (RoundView memory v) {
        Task storage t = _task(taskId);
        RoundState memory s = t.state;
        v.round = s.round;
        v.phase = s.phase;
        v.deadline = s.deadline;
        v.committed = s.committed;
        v.epoch = t.epoch;
        v.aggregator = t.aggregator;
        v.includedWeight = t.includedWeight;
        v.aggregateRoot = t.aggregateRoot;
        v.modelRoot = t.modelRoot;
        v.globalModelRoot = t.globalModelRoot;
        v.numParameters = t.numParameters;
        v.chunkElems = t.chunkElems;
        v.responseDuration = t.responseDuration;
        v.challengeBond = t.challengeBond;
        v.secure = s.secure;
    }

    /// @inheritdoc ICoordinatorLens
    function commitView(uint256 taskId, address account) external view returns (CommitView memory v) {
        Task storage t = _task(taskId);
        Member memory m = _members[taskId][account];
        uint8 tag = m.flags >> TAG_SHIFT;
        v.commitment = _commitments[taskId][account];
        v.lastRound = m.lastRound;
        v.weight = m.weight;
        v.invalid = tag == INVALID;
        // Only a commitment of the open round can be in its aggregate (the flag alone is cleared
        // lazily, at the member's next interaction).
        v.included = m.lastRound == t.state.round && t.state.phase != Phase.Completed && m.flags & UNSETTLED != 0
            && tag != INVALID && tag != t.epoch + 1;
    }
}
