// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {ITaskCoordinator} from "../interfaces/ITaskCoordinator.sol";

/// @title CoordinatorCore
/// @notice Storage and the internal round machinery shared by every part of the coordinator:
///         aggregate posting, finalize/abort/open, lazy rewards over committed weight. The
///         parts: `CoordinatorRounds` (commit, post, advance, views), `CoordinatorStaking`
///         (escrow, stakes, claims, dispute settlement), `CoordinatorSecAgg` (SecAgg+ state;
///         its phase calls run in the `SecAggPhases` module), and the separately deployed
///         dispute game `RoundDisputes`, as TimelockController stands beside Governor.
/// @dev Gas design (the on-chain cost per participant per round must not grow with the model):
///      a commit rewrites three already non-zero words (round state, member record, commitment
///      slot); rewards are pulled, not pushed (one reward-per-weight word per round, each member
///      settles lazily); the aggregator bond is locked inside its stake. History lives in events.
abstract contract CoordinatorCore is ITaskCoordinator, ReentrancyGuardTransient {
    /// @dev Packed into one word: everything a commit must read and write about the round,
    ///      including the task's norm bound (mantissa << shift) so a commit reads no other word.
    struct RoundState {
        uint32 round;
        Phase phase;
        uint40 deadline;
        uint48 totalWeight;
        uint32 committed;
        uint32 members;
        bool secure;
        uint24 normMantissa;
        uint8 normShift;
        uint24 newMembers;
    }

    struct Task {
        // word 0
        address sponsor;
        uint32 numRounds;
        uint32 minParticipants;
        uint32 commitDuration;
        // word 1
        uint32 aggregateDuration;
        uint32 challengeDuration;
        uint32 responseDuration;
        uint32 weightCap;
        uint16 weightCapPct;
        uint96 stakeAmount;
        // word 2
        uint96 stakePerSample;
        uint96 aggregatorBond;
        uint64 numParameters;
        // word 3
        uint128 rewardPerRound;
        uint128 pool;
        // word 4
        RoundState state;
        // word 5: the posted aggregate (kept afterwards so the word is rewritten, not refilled)
        address aggregator;
        uint48 includedWeight;
        uint8 epoch;
        // word 6
        uint96 challengeBond;
        uint32 chunkElems;
        uint32 openChallenges;
        uint48 invalidWeight;
        uint32 invalidCount;
        // word 7
        uint128 challengeBondsHeld;
        // words 8-11
        bytes32 configDigest;
        bytes32 globalModelRoot;
        bytes32 aggregateRoot;
        bytes32 modelRoot;
    }

    /// @dev One word per member and task. `flags`: bit 0 active, bit 1 its last round's reward
    ///      is not settled yet, bits 2-7 a tag for that round: epoch + 1 of the aggregate that
    ///      excluded it, or INVALID when a fault of its commitment was proven.
    struct Member {
        uint96 stake;
        uint96 claimable;
        uint32 lastRound;
        uint24 weight;
        uint8 flags;
    }

    uint8 internal constant ACTIVE = 1;
    uint8 internal constant UNSETTLED = 2;
    uint8 internal constant TAG_SHIFT = 2;
    uint8 internal constant INVALID = 63;
    /// @dev Tags are 6 bits and INVALID is taken: at most 61 aggregates can be voided per round.
    uint8 internal constant MAX_EPOCH = 60;

    /// @notice Largest sample count a member may declare (fits the packed member record).
    uint256 public constant MAX_SAMPLES = type(uint24).max;
    /// @notice Share of its stake (basis points) an incumbent aggregator loses when it let its
    ///         grace pass and another member's aggregate finalizes the round (a liveness slash).
    uint256 public constant SILENT_SLASH_BPS = 100;

    /// @notice The token of stakes, pools and bonds.
    IERC20 public immutable token;

    /// @notice The dispute game allowed to call the slashing hooks (set once by the deployer).
    address public disputeGame;
    address internal immutable _deployer;

    /// @notice Number of tasks created; task ids run from 1 to taskCount.
    uint256 public taskCount;

    mapping(uint256 taskId => Task) internal _tasks;
    mapping(uint256 taskId => mapping(address account => Member)) internal _members;
    mapping(uint256 taskId => mapping(address account => bytes32)) internal _commitments;
    mapping(uint256 taskId => address[]) internal _memberList;
    mapping(uint256 taskId => mapping(address account => uint256 round)) internal _barred;
    /// @dev Per finalized round, (reward per weight << 8 | final aggregate epoch), two rounds per
    ///      word so half of the finalizations rewrite a word instead of filling a new one.
    mapping(uint256 taskId => mapping(uint256 pair => uint256)) internal _roundPay;
    /// @dev The incumbent aggregator that let this round's grace pass (cleared each round).
    mapping(uint256 taskId => address) internal _silent;

    /// @param token_ The ERC-20 used for stakes, reward pools and bonds.
    constructor(IERC20 token_) {
        token = token_;
        _deployer = msg.sender;
    }

    /// @dev Hooks for the SecAgg+ extension (a masked commit needs its shares first, and the
    ///      last masked commit opens the unmask phase).
    function _beforeCommit(uint256 taskId, RoundState memory s, uint256 round) internal view virtual;

    function _afterCommit(uint256 taskId, Task storage t, RoundState memory s) internal virtual;

    function _postAggregate(
        uint256 taskId,
        Task storage t,
        RoundState memory s,
        uint256 round,
        bytes32 merkleRoot,
        bytes32 modelRoot,
        address[] calldata excluded,
        ExclusionReason[] calldata reasons
    ) internal {
        if (merkleRoot == bytes32(0) || modelRoot == bytes32(0)) revert CoordinatorZeroCommitment();
        if (reasons.length != excluded.length) revert CoordinatorInvalidParams("one reason per exclusion");
        if (_barred[taskId][msg.sender] == round) revert CoordinatorBarred(taskId, round, msg.sender);
        Member storage a = _members[taskId][msg.sender];
        if (a.flags & ACTIVE == 0) revert CoordinatorNotMember(taskId, msg.sender);
        uint96 bond = t.aggregatorBond;
        if (a.stake < bond) revert CoordinatorStakeBelowBond(taskId, a.stake, bond);
        address incumbent = t.aggregator;
        if (incumbent != msg.sender && incumbent != address(0)) {
            (address holder, uint256 graceEnd) = _graceHolder(taskId, t, s);
            if (holder != address(0)) {
                if (block.timestamp < graceEnd) revert CoordinatorGraceHeld(taskId, round, holder, graceEnd);
                _silent[taskId] = holder;
                emit AggregatorSilent(taskId, round, holder);
            }
        }
        uint8 epoch = t.epoch;
        if (epoch > MAX_EPOCH) revert CoordinatorTooManyEpochs(taskId, round);
        uint8 tag = (epoch + 1) << TAG_SHIFT;

        uint256 weight = uint256(s.totalWeight) - t.invalidWeight;
        uint256 included = uint256(s.committed) - t.invalidCount;
        for (uint256 i = 0; i < excluded.length; ++i) {
            Member storage e = _members[taskId][excluded[i]];
            uint8 f = e.flags;
            uint8 old = f >> TAG_SHIFT;
            // Named twice, never committed, or already proven invalid (left out anyway).
            if (e.lastRound != round || f & UNSETTLED == 0 || old == epoch + 1 || old == INVALID) {
                revert CoordinatorNotCommitted(taskId, round, excluded[i]);
            }
            e.flags = (f & (ACTIVE | UNSETTLED)) | tag;
            weight -= e.weight;
            included -= 1;
            emit UpdateExcluded(taskId, round, excluded[i], reasons[i]);
        }
        if (included < t.minParticipants) revert CoordinatorTooFewParticipants(taskId, included, t.minParticipants);

        s.phase = Phase.Challenge;
        s.deadline = uint40(block.timestamp + t.challengeDuration);
        t.state = s;
        t.aggregator = msg.sender;
        t.includedWeight = uint48(weight);
        t.aggregateRoot = merkleRoot;
        t.modelRoot = modelRoot;
        emit AggregatePosted(taskId, round, msg.sender, merkleRoot, modelRoot, weight, epoch, bond, s.deadline);
    }

    /// @dev Who holds the grace of the open aggregate window, and until when: the member that
    ///      posted the last aggregate, while it is active, can afford the bond, is not barred
    ///      this round and has not let its grace pass already (address(0): open to every member).
    ///      The grace is the first half of the window. Why the last aggregator: it has shown it
    ///      can aggregate, it costs no storage write per round, and aggregating pays nothing
    ///      extra, so holding the duty buys nothing but the slash for neglecting it.
    function _graceHolder(uint256 taskId, Task storage t, RoundState memory s)
        internal
        view
        returns (address holder, uint256 graceEnd)
    {
        holder = t.aggregator;
        if (holder == address(0) || _barred[taskId][holder] == s.round || _silent[taskId] == holder) {
            return (address(0), 0);
        }
        Member storage m = _members[taskId][holder];
        if (m.flags & ACTIVE == 0 || m.stake < t.aggregatorBond) return (address(0), 0);
        uint256 half = t.aggregateDuration / 2;
        // Plaintext: the window opens at the commit deadline; secure: it closes at `deadline`.
        graceEnd = s.secure ? uint256(s.deadline) - half : uint256(s.deadline) + half;
    }

    function _secureCountsOf(uint256 taskId) internal view virtual returns (uint32, uint32, uint32);

    // ---------------------------------------------------------------- internals

    function _task(uint256 taskId) internal view returns (Task storage t) {
        t = _tasks[taskId];
        if (t.sponsor == address(0)) revert CoordinatorUnknownTask(taskId);
    }

    function _effectivePhase(RoundState memory s) internal view returns (Phase) {
        if (
            !s.secure && s.phase == Phase.Commit
                && (block.timestamp >= s.deadline || (s.members > 0 && s.committed >= s.members))
        ) {
            return Phase.Aggregate;
        }
        return s.phase;
    }

    function _pay(uint256 taskId, uint256 round) internal view returns (uint256 rpw, uint256 epoch) {
        uint256 half = uint128(_roundPay[taskId][round >> 1] >> ((round & 1) * 128));
        return (half >> 8, half & 0xff);
    }

    /// @dev A member's last round pays once the task has moved past it, unless it was excluded
    ///      by the final aggregate or proven invalid.
    function _pending(uint256 taskId, RoundState memory s, Member memory m) internal view returns (uint256) {
        if (m.flags & UNSETTLED == 0) return 0;
        if (m.lastRound == s.round && s.phase != Phase.Completed) return 0;
        (uint256 rpw, uint256 epoch) = _pay(taskId, m.lastRound);
        uint256 tag = m.flags >> TAG_SHIFT;
        if (tag == INVALID || tag == epoch + 1) return 0;
        return uint256(m.weight) * rpw;
    }

    function _settle(uint256 taskId, RoundState memory s, Member storage m, address account) internal {
        (uint256 round, uint256 amount) = _credit(taskId, s, m);
        if (amount > 0) emit RewardsCredited(taskId, round, account, amount);
    }

    /// @dev Move the reward of the member's last round, once settled, into its claimable balance.
    function _credit(uint256 taskId, RoundState memory s, Member storage m)
        internal
        returns (uint256 round, uint256 amount)
    {
        round = m.lastRound;
        amount = _pending(taskId, s, m);
        uint8 f = m.flags;
        if (f & UNSETTLED != 0 && (round != s.round || s.phase == Phase.Completed)) m.flags = f & ACTIVE;
        if (amount > 0) m.claimable += uint96(amount);
    }

    /// @dev Apply the transition a passed deadline allows; false when none is due.
    function _advanceIfDue(uint256 taskId, Task storage t, RoundState memory s) internal returns (bool) {
        if (s.secure && s.phase != Phase.Challenge) return _advanceSecureIfDue(taskId, t, s);
        if (s.phase == Phase.Challenge) {
            if (block.timestamp < s.deadline || t.openChallenges > 0) return false;
            _finalize(taskId, t, s);
        } else if (s.phase == Phase.Commit) {
            if (block.timestamp >= uint256(s.deadline) + t.aggregateDuration) {
                _abort(taskId, t, s, AbortReason.NoAggregate);
            } else if (block.timestamp >= s.deadline && s.committed < t.minParticipants) {
                _abort(taskId, t, s, AbortReason.TooFewUpdates);
            } else {
                return false;
            }
        } else {
            return false;
        }
        return true;
    }

    function _advanceSecureIfDue(uint256 taskId, Task storage t, RoundState memory s)
        internal
        virtual
        returns (bool);

    function _finalize(uint256 taskId, Task storage t, RoundState memory s) internal {
        // Paid over the committed weight: excluded and invalid shares stay in the pool, so
        // excluding others raises nobody's reward. rewardPerRound < 2**96 fits the 120-bit half.
        uint256 perWeight = t.rewardPerRound / s.totalWeight;
        uint256 credited = perWeight * t.includedWeight;
        uint256 epoch = t.epoch;
        if (perWeight > 0 || epoch > 0) {
            uint256 shift = (s.round & 1) * 128;
            _roundPay[taskId][s.round >> 1] |= ((perWeight << 8) | epoch) << shift;
        }
        t.pool -= uint128(credited);
        address silent = _silent[taskId];
        if (silent != address(0) && silent != t.aggregator) _slashSilent(taskId, t, s.round, silent);
        bytes32 model = t.modelRoot;
        t.globalModelRoot = model;
        emit RoundFinalized(taskId, s.round, model, perWeight, credited, t.aggregatorBond);
        _next(taskId, t, s);
    }

    /// @dev The round finalized with another member's aggregate after the incumbent's grace
    ///      passed: the evidence is on-chain (its grace, the posts). Half goes to the member whose
    ///      aggregate finalized (credited, not transferred: no call in the middle of a round
    ///      transition), half to the pool. An aborted round slashes nobody: nothing shows the
    ///      round could have been aggregated.
    function _slashSilent(uint256 taskId, Task storage t, uint256 round, address silent) internal {
        Member storage m = _members[taskId][silent];
        uint256 amount = uint256(m.stake) * SILENT_SLASH_BPS / 10_000;
        m.stake -= uint96(amount);
        uint256 reward = amount / 2;
        t.pool += uint128(amount - reward);
        address by = t.aggregator;
        _members[taskId][by].claimable += uint96(reward);
        emit Slashed(taskId, round, silent, amount, Fault.Silent, by, reward);
    }

    function _abort(uint256 taskId, Task storage t, RoundState memory s, AbortReason reason) internal {
        emit RoundAborted(taskId, s.round, reason);
        _next(taskId, t, s);
    }

    function _next(uint256 taskId, Task storage t, RoundState memory s) internal {
        if (s.newMembers > 0) {
            // Members who joined during the round count from the next one.
            s.members += s.newMembers;
            s.newMembers = 0;
        }
        if (t.epoch != 0) t.epoch = 0;
        if (_silent[taskId] != address(0)) delete _silent[taskId];
        if (t.invalidCount != 0) {
            t.invalidCount = 0;
            t.invalidWeight = 0;
        }
        if (s.round >= t.numRounds) {
            s.phase = Phase.Completed;
            s.deadline = 0;
            t.state = s;
            emit TaskCompleted(taskId, t.globalModelRoot);
        } else {
            _openRound(taskId, t, s, s.round + 1);
        }
    }

    function _openRound(uint256 taskId, Task storage t, RoundState memory s, uint32 round) internal {
        s.round = round;
        s.phase = s.secure ? Phase.Advertise : Phase.Commit;
        s.deadline = uint40(block.timestamp + t.commitDuration);
        s.totalWeight = 0;
        s.committed = 0;
        t.state = s;
        emit RoundOpened(taskId, round, s.deadline, t.globalModelRoot);
        _afterOpenRound(taskId);
    }

    function _afterOpenRound(uint256 taskId) internal virtual;
}
