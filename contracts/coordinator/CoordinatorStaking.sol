// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {CoordinatorCore} from "./CoordinatorCore.sol";
import {IDisputeHooks} from "../interfaces/IDisputeHooks.sol";

/// @title CoordinatorStaking
/// @notice Escrow, stakes, bounded weights, claims, and the settlement side of disputes: the
///         only functions that move tokens. Every token the coordinator holds is a pool, a
///         stake, a credited or pending reward, or a challenge bond held.
/// @dev Slashed amounts go half to whoever proved the fault and half to the task's pool, never
///      into the co-members' reward per weight (so a cheater's sock puppets cannot recoup it).
abstract contract CoordinatorStaking is CoordinatorCore, IDisputeHooks {
    using SafeERC20 for IERC20;

    /// @notice Share of a member's stake slashed for a proven false norm (basis points).
    uint256 public constant NORM_LIE_SLASH_BPS = 5_000;
    /// @notice Share of a member's stake slashed for committing another member's root.
    uint256 public constant COPY_SLASH_BPS = 1_000;

    modifier onlyDisputeGame() {
        if (msg.sender != disputeGame || msg.sender == address(0)) revert CoordinatorNotDisputeGame(msg.sender);
        _;
    }

    // ---------------------------------------------------------------- sponsor

    /// @notice Create a task and escrow its whole reward pool (rewardPerRound × numRounds) from
    ///         the caller, who becomes its sponsor. Needs a prior token approval.
    /// @return taskId The new task's id.
    function createTask(TaskParams calldata p) external nonReentrant returns (uint256 taskId) {
        if (p.initialModelRoot == bytes32(0) || p.configDigest == bytes32(0)) {
            revert CoordinatorInvalidParams("roots and digests must be non-zero");
        }
        if (p.stakeAmount == 0) revert CoordinatorInvalidParams("stakeAmount must be positive");
        if (p.aggregatorBond > p.stakeAmount) revert CoordinatorInvalidParams("aggregatorBond exceeds stakeAmount");
        if (p.challengeBond == 0 || p.aggregatorBond == 0) revert CoordinatorInvalidParams("bonds must be positive");
        if (p.numRounds == 0) revert CoordinatorInvalidParams("numRounds must be positive");
        if (p.minParticipants == 0) revert CoordinatorInvalidParams("minParticipants must be positive");
        if (p.numParameters == 0 || p.chunkElems == 0) revert CoordinatorInvalidParams("empty model or chunk");
        if (
            p.commitDuration == 0 || p.aggregateDuration == 0 || p.challengeDuration == 0
                || p.responseDuration == 0
        ) {
            revert CoordinatorInvalidParams("phase durations must be positive");
        }
        if (p.normBound == 0) revert CoordinatorInvalidParams("normBound must be positive");
        uint256 poolAmount = uint256(p.rewardPerRound) * p.numRounds;
        // Member balances are uint96 (one packed word); a pool that fits keeps every credit exact.
        if (poolAmount > type(uint96).max) revert CoordinatorInvalidParams("reward pool too large");

        taskId = ++taskCount;
        Task storage t = _tasks[taskId];
        t.sponsor = msg.sender;
        t.numRounds = p.numRounds;
        t.minParticipants = p.minParticipants;
        t.commitDuration = p.commitDuration;
        t.aggregateDuration = p.aggregateDuration;
        t.challengeDuration = p.challengeDuration;
        t.responseDuration = p.responseDuration;
        t.weightCapPct = p.weightCapPct;
        t.stakeAmount = p.stakeAmount;
        t.stakePerSample = p.stakePerSample;
        t.aggregatorBond = p.aggregatorBond;
        t.numParameters = p.numParameters;
        t.challengeBond = p.challengeBond;
        t.chunkElems = p.chunkElems;
        t.rewardPerRound = p.rewardPerRound;
        t.pool = uint128(poolAmount);
        (uint24 mantissa, uint8 shift) = _packBound(p.normBound);
        t.state.phase = Phase.Registration;
        t.state.secure = p.secureAggregation;
        t.state.normMantissa = mantissa;
        t.state.normShift = shift;
        t.aggregator = msg.sender;
        t.configDigest = p.configDigest;
        t.globalModelRoot = p.initialModelRoot;
        t.modelRoot = p.initialModelRoot;
        t.aggregateRoot = p.initialModelRoot;
        emit TaskCreated(taskId, msg.sender, p);

        if (poolAmount > 0) token.safeTransferFrom(msg.sender, address(this), poolAmount);
    }

    /// @dev The largest 24-bit mantissa << shift that is ≤ bound (a commit reads it from the
    ///      round word; the rounding only tightens the bound, by less than 2⁻²³ of it).
    function _packBound(uint256 bound) internal pure returns (uint24 mantissa, uint8 shift) {
        while (bound > type(uint24).max) {
            bound >>= 1;
            ++shift;
        }
        mantissa = uint24(bound);
    }

    /// @notice Open round 1. Only the sponsor, once at least minParticipants have joined.
    /// @param medianHint A median of the members' declared sample counts (checked here in one
    ///        pass: at most half are below it and at most half above). Every member's weight is
    ///        capped at `weightCapPct`% of it, so an inflated declaration buys a bounded share.
    function startTask(uint256 taskId, uint256 medianHint) external {
        Task storage t = _task(taskId);
        if (msg.sender != t.sponsor) revert CoordinatorNotSponsor(taskId, msg.sender);
        RoundState memory s = t.state;
        if (s.phase != Phase.Registration) revert CoordinatorWrongPhase(taskId, Phase.Registration, s.phase);
        if (s.members < t.minParticipants) {
            revert CoordinatorTooFewParticipants(taskId, s.members, t.minParticipants);
        }
        uint256 cap = 1;
        if (t.weightCapPct != 0) {
            address[] storage list = _memberList[taskId];
            uint256 below;
            uint256 above;
            for (uint256 i = 0; i < list.length; ++i) {
                Member storage m = _members[taskId][list[i]];
                if (m.flags & ACTIVE == 0) continue;
                if (m.weight < medianHint) ++below;
                else if (m.weight > medianHint) ++above;
            }
            if (2 * below > s.members || 2 * above > s.members) {
                revert CoordinatorNotMedian(taskId, medianHint, below, above);
            }
            cap = medianHint * t.weightCapPct / 100;
            if (cap == 0) cap = 1;
            if (cap > MAX_SAMPLES) cap = MAX_SAMPLES;
            for (uint256 i = 0; i < list.length; ++i) {
                Member storage m = _members[taskId][list[i]];
                if (m.flags & ACTIVE != 0 && m.weight > cap) m.weight = uint24(cap);
            }
        }
        t.weightCap = uint32(cap);
        emit WeightsCapped(taskId, medianHint, cap);
        _openRound(taskId, t, s, 1);
    }

    /// @notice Return the reward pool's remainder (rounding leftovers, aborted rounds, excluded
    ///         shares, slashed amounts) to the sponsor once the task is completed.
    function withdrawPool(uint256 taskId) external nonReentrant {
        Task storage t = _task(taskId);
        if (msg.sender != t.sponsor) revert CoordinatorNotSponsor(taskId, msg.sender);
        if (t.state.phase != Phase.Completed) revert CoordinatorWrongPhase(taskId, Phase.Completed, t.state.phase);
        uint256 amount = t.pool;
        if (amount == 0) revert CoordinatorNothingToClaim(taskId, msg.sender);
        t.pool = 0;
        emit PoolWithdrawn(taskId, msg.sender, amount);
        token.safeTransfer(msg.sender, amount);
    }

    // ---------------------------------------------------------------- members

    /// @notice Join a task by escrowing its stake: `stakeAmount + stakePerSample × declared`
    ///         (needs a prior token approval). The declared sample count is fixed for the
    ///         membership; the member's weight is it, capped at the task's weight cap (uniform
    ///         weights when the task says so). A member joining during a round takes part from
    ///         the next round.
    function join(uint256 taskId, uint256 declared) external nonReentrant {
        Task storage t = _task(taskId);
        RoundState memory s = t.state;
        if (s.phase == Phase.Completed) revert CoordinatorWrongPhase(taskId, Phase.Registration, s.phase);
        if (declared == 0 || declared > MAX_SAMPLES) revert CoordinatorInvalidSampleCount(declared);
        Member storage m = _members[taskId][msg.sender];
        if (m.flags & ACTIVE != 0) revert CoordinatorAlreadyMember(taskId, msg.sender);
        _settle(taskId, s, m, msg.sender);
        uint256 stake = uint256(t.stakeAmount) + uint256(t.stakePerSample) * declared;
        if (stake > type(uint96).max) revert CoordinatorInvalidSampleCount(declared);
        uint256 weight = declared;
        if (t.weightCapPct == 0) weight = 1;
        else if (s.phase != Phase.Registration && weight > t.weightCap) weight = t.weightCap;
        m.stake = uint96(stake);
        m.weight = uint24(weight);
        m.flags = ACTIVE;
        if (s.phase == Phase.Registration) {
            t.state.members = s.members + 1;
        } else {
            // Counts from the next round: it may not commit to this one.
            m.lastRound = s.round;
            t.state.newMembers = s.newMembers + 1;
        }
        // First join of this account: list it once, and pre-fill the commitment slot so that
        // every commit rewrites a non-zero word.
        if (_commitments[taskId][msg.sender] == bytes32(0)) {
            _memberList[taskId].push(msg.sender);
            _commitments[taskId][msg.sender] = bytes32(uint256(1));
        }
        emit Joined(taskId, msg.sender, stake, declared, weight);

        token.safeTransferFrom(msg.sender, address(this), stake);
    }

    /// @notice Leave a task and get the stake and all credited rewards back. Not while the
    ///         caller's update is part of the open round, nor while its aggregator bond is held.
    function leaveTask(uint256 taskId) external nonReentrant {
        Task storage t = _task(taskId);
        Member storage m = _members[taskId][msg.sender];
        if (m.flags & ACTIVE == 0) revert CoordinatorNotMember(taskId, msg.sender);
        RoundState memory s = t.state;
        bool roundOpen = s.phase != Phase.Registration && s.phase != Phase.Completed;
        // Not while its update, its locked bond or its liveness slash (a grace it let pass)
        // is still pending in the open round.
        if (
            roundOpen
                && (
                    m.lastRound == s.round || (s.phase == Phase.Challenge && t.aggregator == msg.sender)
                        || _silent[taskId] == msg.sender
                )
        ) {
            revert CoordinatorInOpenRound(taskId, s.round, msg.sender);
        }
        _settle(taskId, s, m, msg.sender);
        uint256 stake = m.stake;
        uint256 rewards = m.claimable;
        m.stake = 0;
        m.claimable = 0;
        m.flags = 0;
        t.state.members = s.members - 1;
        emit Left(taskId, msg.sender, stake, rewards);

        token.safeTransfer(msg.sender, stake + rewards);
    }

    /// @notice Transfer the caller's credited rewards (settling its last finished round first).
    function claim(uint256 taskId) external nonReentrant {
        Task storage t = _task(taskId);
        Member storage m = _members[taskId][msg.sender];
        _settle(taskId, t.state, m, msg.sender);
        uint256 amount = m.claimable;
        if (amount == 0) revert CoordinatorNothingToClaim(taskId, msg.sender);
        m.claimable = 0;
        emit RewardsClaimed(taskId, msg.sender, amount);

        token.safeTransfer(msg.sender, amount);
    }

    // ---------------------------------------------------------------- dispute settlement

    /// @inheritdoc IDisputeHooks
    function lockChallengeBond(uint256 taskId, uint256 round, address challenger)
        external
        onlyDisputeGame
        nonReentrant
        returns (uint32 epoch)
    {
        Task storage t = _task(taskId);
        RoundState memory s = _disputable(taskId, t, round);
        if (s.phase != Phase.Challenge) revert CoordinatorWrongPhase(taskId, Phase.Challenge, s.phase);
        uint96 bond = t.challengeBond;
        t.openChallenges += 1;
        t.challengeBondsHeld += bond;
        epoch = t.epoch;
        emit ChallengeBondLocked(taskId, round, challenger, bond);

        token.safeTransferFrom(challenger, address(this), bond);
    }

    /// @inheritdoc IDisputeHooks
    function settleChallenge(
        uint256 taskId,
        uint256 round,
        uint32 epoch,
        address challenger,
        ChallengeOutcome outcome,
        Fault fault
    ) external onlyDisputeGame nonReentrant {
        Task storage t = _task(taskId);
        RoundState memory s = t.state;
        uint256 bond = t.challengeBond;
        t.challengeBondsHeld -= uint128(bond);
        uint256 toChallenger;
        uint256 toAggregator;
        uint256 toPool;
        if (round != s.round || epoch != t.epoch || s.phase != Phase.Challenge) {
            // The aggregate it was about is gone (refuted by another proof): nobody was wrong.
            outcome = ChallengeOutcome.Stale;
            toChallenger = bond;
        } else {
            t.openChallenges -= 1;
            if (outcome == ChallengeOutcome.AggregatorFault) {
                toChallenger = bond + _void(taskId, t, s, fault, challenger);
            } else if (outcome == ChallengeOutcome.ChallengerFault) {
                toAggregator = bond / 2;
                toPool = bond - toAggregator;
            } else {
                // Answered on-chain: the data was there after all; split the cost of asking.
                toAggregator = bond / 2;
                toChallenger = bond - toAggregator;
            }
        }
        if (toAggregator > 0) _members[taskId][t.aggregator].claimable += uint96(toAggregator);
        if (toPool > 0) t.pool += uint128(toPool);
        emit ChallengeSettled(taskId, round, challenger, outcome, toChallenger, toAggregator, toPool);

        if (toChallenger > 0) token.safeTransfer(challenger, toChallenger);
    }

    /// @inheritdoc IDisputeHooks
    function voidAggregate(uint256 taskId, uint256 round, uint32 epoch, Fault fault, address prover)
        external
        onlyDisputeGame
        nonReentrant
    {
        Task storage t = _task(taskId);
        RoundState memory s = _disputable(taskId, t, round);
        if (s.phase != Phase.Challenge) revert CoordinatorWrongPhase(taskId, Phase.Challenge, s.phase);
        if (epoch != t.epoch) revert CoordinatorRoundMismatch(taskId, t.epoch, epoch);
        uint256 reward = _void(taskId, t, s, fault, prover);

        if (reward > 0) token.safeTransfer(prover, reward);
    }

    /// @inheritdoc IDisputeHooks
    function slashMember(uint256 taskId, uint256 round, address member, Fault fault, address prover)
        external
        onlyDisputeGame
        nonReentrant
    {
        Task storage t = _task(taskId);
        RoundState memory s = _disputable(taskId, t, round);
        Member storage m = _members[taskId][member];
        uint8 f = m.flags;
        uint8 tag = f >> TAG_SHIFT;
        if (m.lastRound != round || f & UNSETTLED == 0) revert CoordinatorNotCommitted(taskId, round, member);
        if (tag == INVALID) revert CoordinatorAlreadyProven(taskId, round, member);
        bool wasIncluded = s.phase == Phase.Challenge && tag != t.epoch + 1;
        m.flags = (f & (ACTIVE | UNSETTLED)) | (INVALID << TAG_SHIFT);
        t.invalidWeight += m.weight;
        t.invalidCount += 1;
        uint256 bps = fault == Fault.NormLie ? NORM_LIE_SLASH_BPS : COPY_SLASH_BPS;
        uint256 amount = uint256(m.stake) * bps / 10_000;
        m.stake -= uint96(amount);
        uint256 reward = amount / 2;
        t.pool += uint128(amount - reward);
        emit Slashed(taskId, round, member, amount, fault, prover, reward);
        // An aggregate that counted a provably false commitment is wrong too.
        if (wasIncluded) reward += _void(taskId, t, s, Fault.InvalidIncluded, prover);

        if (reward > 0) token.safeTransfer(prover, reward);
    }

    /// @dev The open round, if proofs about it are still accepted: its commit window closed and
    ///      its challenge window (if an aggregate is posted) still open.
    function _disputable(uint256 taskId, Task storage t, uint256 round) internal view returns (RoundState memory s) {
        s = t.state;
        if (round != s.round) revert CoordinatorRoundMismatch(taskId, s.round, round);
        if (s.phase == Phase.Challenge) {
            if (block.timestamp >= s.deadline) revert CoordinatorChallengeWindowClosed(taskId, round, s.deadline);
        } else if (s.phase != Phase.Commit) {
            revert CoordinatorWrongPhase(taskId, Phase.Challenge, s.phase);
        }
    }

    /// @dev Refute the posted aggregate: slash the aggregator's bond (half to `beneficiary`, the
    ///      returned amount, which the caller transfers; half to the pool), bar it for the round,
    ///      and reopen the aggregate window so that the members' commitments still get paid.
    function _void(uint256 taskId, Task storage t, RoundState memory s, Fault fault, address beneficiary)
        internal
        returns (uint256 reward)
    {
        address a = t.aggregator;
        Member storage am = _members[taskId][a];
        uint256 amount = fault == Fault.RevealedExcluded ? 0 : t.aggregatorBond;
        if (amount > am.stake) amount = am.stake;
        am.stake -= uint96(amount);
        reward = amount / 2;
        t.pool += uint128(amount - reward);
        _barred[taskId][a] = s.round;
        emit AggregateVoided(taskId, s.round, a, t.epoch, fault);
        if (amount > 0) emit Slashed(taskId, s.round, a, amount, fault, beneficiary, reward);
        t.epoch += 1;
        t.openChallenges = 0;
        _reopenAggregate(taskId, t, s);
    }

    /// @dev The aggregate window opens again: a plaintext round's follows its (closed) commit
    ///      window, a secure round's is a phase of its own.
    function _reopenAggregate(uint256 taskId, Task storage t, RoundState memory s) private {
        uint256 end = block.timestamp + t.aggregateDuration;
        if (s.secure) {
            s.phase = Phase.Aggregate;
            s.deadline = uint40(end);
        } else {
            s.phase = Phase.Commit;
            s.deadline = uint40(block.timestamp);
        }
        t.state = s;
        emit PhaseStarted(taskId, s.round, Phase.Aggregate, end);
    }
}
