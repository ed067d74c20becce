// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {ChunkCommitment} from "./ChunkCommitment.sol";

/// @title TaskCoordinator
/// @notice Runs federated-learning tasks without a trusted server. A sponsor escrows a reward
///         pool; data owners join with a stake; each round they commit to their model update
///         (a Merkle root and a content digest, never the update itself); a staked aggregator
///         posts the commitment to the exact weighted sum and the new model's digest with a
///         bond; after a challenge window the round is finalized, the new global model digest
///         is recorded and rewards are credited pro rata to sample counts.
/// @dev Gas design (the on-chain cost per participant per round must not grow with the model):
///      - a participant's round costs one transaction that rewrites three storage words that are
///        already non-zero (the task's round state, the member's packed record and the member's
///        commitment slot, which `join` pre-fills so that rounds never pay for new storage);
///      - rewards are pulled, not pushed: finalize stores one reward-per-sample word per round and
///        each member settles its last round lazily (at its next commit, claim or leave), so no
///        function loops over participants;
///      - the aggregator's bond is locked inside its stake, not transferred, so rounds move no
///        tokens at all. Tokens move only in createTask, join, leave, claim and withdrawPool.
///      History (every commitment, every aggregate) lives in events; storage keeps what the
///      contract itself must check.
contract TaskCoordinator is ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Stored phase of a task. Plaintext rounds: Commit → Challenge. While `Commit` is
    ///         stored, the commit window is closed (and an aggregate may be posted) once its
    ///         deadline passed or every member committed; `phaseOf` reports that as `Aggregate`.
    ///         Secure-aggregation rounds (SecAgg+, the chain as bulletin board): Advertise (keys)
    ///         → Share (encrypted key shares) → Commit (masked inputs) → Unmask → Aggregate →
    ///         Challenge. A secure phase ends early when everyone expected acted, or at its
    ///         deadline through `advance`.
    enum Phase {
        None,
        Registration,
        Commit,
        Aggregate,
        Challenge,
        Completed,
        Advertise,
        Share,
        Unmask
    }

    /// @notice Why a round ended without a new model.
    enum AbortReason {
        TooFewUpdates,
        NoAggregate
    }

    /// @notice What a sponsor asks for when creating a task.
    struct TaskParams {
        bytes32 initialModelDigest;
        bytes32 configDigest;
        uint96 stakeAmount;
        uint96 aggregatorBond;
        uint128 rewardPerRound;
        uint32 numRounds;
        uint32 minParticipants;
        uint32 commitDuration;
        uint32 aggregateDuration;
        uint32 challengeDuration;
        bool secureAggregation;
    }

    /// @dev Packed into one word: everything a commit must read and write about the round.
    struct RoundState {
        uint32 round;
        Phase phase;
        uint64 deadline;
        uint64 totalSamples;
        uint32 committed;
        uint32 members;
        bool secure;
    }

    /// @dev Per-round counts of the secure-aggregation phases (U1, U2 and U4 of the protocol;
    ///      U3 is `RoundState.committed`).
    struct SecureCounts {
        uint32 advertised;
        uint32 shared;
        uint32 unmasked;
    }

    /// @dev The last round in which a member acted in each secure phase.
    struct SecureMember {
        uint32 advertRound;
        uint32 shareRound;
        uint32 unmaskRound;
        uint32 complaintRound;
        // Samples declared with the key shares: they fix the ring width of the round's masked
        // inputs before anyone masks, so the commit must declare the same number.
        uint24 sharedSamples;
    }

    struct Task {
        // word 0-1: schedule and amounts (written once)
        address sponsor;
        uint32 numRounds;
        uint32 minParticipants;
        uint32 commitDuration;
        uint32 aggregateDuration;
        uint32 challengeDuration;
        uint96 stakeAmount;
        uint96 aggregatorBond;
        // word 2
        uint128 rewardPerRound;
        uint128 pool;
        // word 3
        RoundState state;
        // word 4: the aggregator of the round in its challenge window (kept afterwards so that the
        // slot is never cleared and re-filled)
        address aggregator;
        // words 5-8
        bytes32 configDigest;
        bytes32 globalModelDigest;
        bytes32 pendingModelDigest;
        bytes32 pendingAggregate;
    }

    /// @dev One word per member and task.
    struct Member {
        uint96 stake;
        uint96 claimable;
        uint32 lastRound;
        uint24 samples;
        bool active;
    }

    /// @notice Views of a task for clients (one call instead of many).
    struct TaskView {
        address sponsor;
        uint32 numRounds;
        uint32 minParticipants;
        uint32 commitDuration;
        uint32 aggregateDuration;
        uint32 challengeDuration;
        uint96 stakeAmount;
        uint96 aggregatorBond;
        uint128 rewardPerRound;
        uint128 pool;
        uint32 round;
        Phase phase;
        uint64 deadline;
        uint64 totalSamples;
        uint32 committed;
        uint32 members;
        address aggregator;
        uint256 bondHeld;
        bytes32 configDigest;
        bytes32 globalModelDigest;
        bytes32 pendingModelDigest;
        bool secure;
        uint32 advertised;
        uint32 shared;
        uint32 unmasked;
    }

    /// @notice Largest sample count one update may claim (fits the packed member record).
    uint256 public constant MAX_SAMPLES = type(uint24).max;

    /// @notice The token of stakes, pools and bonds.
    IERC20 public immutable token;

    /// @notice Number of tasks created; task ids run from 1 to taskCount.
    uint256 public taskCount;

    mapping(uint256 taskId => Task) private _tasks;
    mapping(uint256 taskId => mapping(address account => Member)) private _members;
    mapping(uint256 taskId => mapping(address account => bytes32)) private _commitments;
    /// @dev Reward per sample of finalized rounds, two rounds per word (uint128 each) so that
    ///      half of the finalizations rewrite a word instead of filling a new one.
    mapping(uint256 taskId => mapping(uint256 pair => uint256)) private _rewardPerSamplePairs;
    mapping(uint256 taskId => SecureCounts) private _secureCounts;
    mapping(uint256 taskId => mapping(address account => SecureMember)) private _secureMembers;

    // ---------------------------------------------------------------- errors
    error UnknownTask(uint256 taskId);
    error InvalidParams(string reason);
    error NotSponsor(uint256 taskId, address caller);
    error WrongPhase(uint256 taskId, Phase expected, Phase actual);
    error AlreadyMember(uint256 taskId, address account);
    error NotMember(uint256 taskId, address account);
    error RoundMismatch(uint256 taskId, uint256 currentRound, uint256 givenRound);
    error CommitWindowClosed(uint256 taskId, uint256 round, uint256 deadline, uint256 nowTs);
    error AlreadyCommitted(uint256 taskId, uint256 round, address account);
    error InvalidSampleCount(uint256 samples);
    error ZeroCommitment();
    error CommitWindowOpen(uint256 taskId, uint256 round, uint256 deadline);
    error AggregateWindowClosed(uint256 taskId, uint256 round, uint256 deadline);
    error TooFewParticipants(uint256 taskId, uint256 have, uint256 need);
    error NotCommitted(uint256 taskId, uint256 round, address account);
    error StakeBelowBond(uint256 taskId, uint256 stake, uint256 bond);
    error InOpenRound(uint256 taskId, uint256 round, address account);
    error NothingToAdvance(uint256 taskId, Phase phase, uint256 deadline);
    error NothingToClaim(uint256 taskId, address account);
    error NotSecure(uint256 taskId);
    /// @notice A plaintext-only call on a task that runs secure aggregation.
    error SecureTask(uint256 taskId);
    error NotWithheld(uint256 taskId, uint256 round, address account);
    error PhaseClosed(uint256 taskId, uint256 round, Phase phase, uint256 deadline, uint256 nowTs);
    error AlreadySubmitted(uint256 taskId, uint256 round, Phase phase, address account);
    error MissedPhase(uint256 taskId, uint256 round, Phase phase, address account);
    error SampleCountChanged(uint256 taskId, uint256 round, uint256 declared, uint256 committed);

    // ---------------------------------------------------------------- events
    event TaskCreated(
        uint256 indexed taskId,
        address indexed sponsor,
        bytes32 initialModelDigest,
        bytes32 configDigest,
        TaskParams params
    );
    event Joined(uint256 indexed taskId, address indexed account, uint256 stake);
    event Left(uint256 indexed taskId, address indexed account, uint256 stake, uint256 rewards);
    event RoundOpened(uint256 indexed taskId, uint256 indexed round, uint256 deadline, bytes32 globalModelDigest);
    event UpdateCommitted(
        uint256 indexed taskId,
        uint256 indexed round,
        address indexed participant,
        bytes32 merkleRoot,
        bytes32 blobDigest,
        uint256 samples,
        uint256 creditedRound,
        uint256 credited
    );
    event UpdateExcluded(uint256 indexed taskId, uint256 indexed round, address indexed participant);
    event AggregatePosted(
        uint256 indexed taskId,
        uint256 indexed round,
        address indexed aggregator,
        bytes32 merkleRoot,
        bytes32 blobDigest,
        bytes32 modelDigest,
        uint256 totalSamples,
        uint256 bond,
        uint256 challengeDeadline
    );
    event RoundFinalized(
        uint256 indexed taskId,
        uint256 indexed round,
        bytes32 modelDigest,
        uint256 rewardPerSample,
        uint256 rewardsCredited,
        uint256 bondReleased
    );
    event RoundAborted(uint256 indexed taskId, uint256 indexed round, AbortReason reason);
    event PhaseStarted(uint256 indexed taskId, uint256 indexed round, Phase phase, uint256 deadline);
    /// @notice The round's public randomness (seeds the SecAgg+ neighbour graph), drawn when
    ///         the advertise phase closes.
    event RoundSeed(uint256 indexed taskId, uint256 indexed round, bytes32 seed);
    event KeysAdvertised(uint256 indexed taskId, uint256 indexed round, address indexed participant, bytes32 digest);
    event KeysShared(
        uint256 indexed taskId, uint256 indexed round, address indexed participant, bytes32 digest, uint256 samples
    );
    event SharesComplained(uint256 indexed taskId, uint256 indexed round, address indexed participant, bytes32 digest);
    event UnmaskSharesPosted(
        uint256 indexed taskId, uint256 indexed round, address indexed participant, bytes32 digest
    );
    event UnmaskWithheld(uint256 indexed taskId, uint256 indexed round, address indexed participant);
    event TaskCompleted(uint256 indexed taskId, bytes32 finalModelDigest);
    event RewardsCredited(uint256 indexed taskId, uint256 indexed round, address indexed account, uint256 amount);
    event RewardsClaimed(uint256 indexed taskId, address indexed account, uint256 amount);
    event PoolWithdrawn(uint256 indexed taskId, address indexed sponsor, uint256 amount);

    /// @param token_ The ERC-20 used for stakes, reward pools and bonds.
    constructor(IERC20 token_) {
        token = token_;
    }

    // ---------------------------------------------------------------- sponsor

    /// @notice Create a task and escrow its whole reward pool (rewardPerRound × numRounds) from
    ///         the caller, who becomes its sponsor. Needs a prior token approval.
    /// @return taskId The new task's id.
    function createTask(TaskParams calldata p) external nonReentrant returns (uint256 taskId) {
        if (p.initialModelDigest == bytes32(0) || p.configDigest == bytes32(0)) {
            revert InvalidParams("digests must be non-zero");
        }
        if (p.stakeAmount == 0) revert InvalidParams("stakeAmount must be positive");
        if (p.aggregatorBond > p.stakeAmount) revert InvalidParams("aggregatorBond exceeds stakeAmount");
        if (p.numRounds == 0) revert InvalidParams("numRounds must be positive");
        if (p.minParticipants == 0) revert InvalidParams("minParticipants must be positive");
        if (p.commitDuration == 0 || p.aggregateDuration == 0 || p.challengeDuration == 0) {
            revert InvalidParams("phase durations must be positive");
        }
        uint256 poolAmount = uint256(p.rewardPerRound) * p.numRounds;
        // Member balances are uint96 (one packed word); a pool that fits keeps every credit exact.
        if (poolAmount > type(uint96).max) revert InvalidParams("reward pool too large");

        taskId = ++taskCount;
        Task storage t = _tasks[taskId];
        t.sponsor = msg.sender;
        t.numRounds = p.numRounds;
        t.minParticipants = p.minParticipants;
        t.commitDuration = p.commitDuration;
        t.aggregateDuration = p.aggregateDuration;
        t.challengeDuration = p.challengeDuration;
        t.stakeAmount = p.stakeAmount;
        t.aggregatorBond = p.aggregatorBond;
        t.rewardPerRound = p.rewardPerRound;
        t.pool = uint128(poolAmount);
        t.state.phase = Phase.Registration;
        t.state.secure = p.secureAggregation;
        t.aggregator = msg.sender;
        t.configDigest = p.configDigest;
        t.globalModelDigest = p.initialModelDigest;
        t.pendingModelDigest = p.initialModelDigest;
        t.pendingAggregate = p.initialModelDigest;
        emit TaskCreated(taskId, msg.sender, p.initialModelDigest, p.configDigest, p);

        if (poolAmount > 0) token.safeTransferFrom(msg.sender, address(this), poolAmount);
    }

    /// @notice Open round 1. Only the sponsor, once at least minParticipants have joined.
    function startTask(uint256 taskId) external {
        Task storage t = _task(taskId);
        if (msg.sender != t.sponsor) revert NotSponsor(taskId, msg.sender);
        RoundState memory s = t.state;
        if (s.phase != Phase.Registration) revert WrongPhase(taskId, Phase.Registration, s.phase);
        if (s.members < t.minParticipants) revert TooFewParticipants(taskId, s.members, t.minParticipants);
        _openRound(taskId, t, s, 1);
    }

    /// @notice Return the reward pool's remainder (rounding leftovers, aborted rounds) to the
    ///         sponsor once the task is completed.
    function withdrawPool(uint256 taskId) external nonReentrant {
        Task storage t = _task(taskId);
        if (msg.sender != t.sponsor) revert NotSponsor(taskId, msg.sender);
        if (t.state.phase != Phase.Completed) revert WrongPhase(taskId, Phase.Completed, t.state.phase);
        uint256 amount = t.pool;
        if (amount == 0) revert NothingToClaim(taskId, msg.sender);
        t.pool = 0;
        emit PoolWithdrawn(taskId, msg.sender, amount);
        token.safeTransfer(msg.sender, amount);
    }

    // ---------------------------------------------------------------- members

    /// @notice Join a task by escrowing its stake (needs a prior token approval). Allowed until
    ///         the task completes; a member takes part from the next commit it makes.
    function join(uint256 taskId) external nonReentrant {
        Task storage t = _task(taskId);
        Phase phase = t.state.phase;
        if (phase == Phase.Completed) revert WrongPhase(taskId, Phase.Registration, phase);
        Member storage m = _members[taskId][msg.sender];
        if (m.active) revert AlreadyMember(taskId, msg.sender);
        _settle(taskId, t.state, m, msg.sender);
        uint96 stake = t.stakeAmount;
        m.stake = stake;
        m.active = true;
        t.state.members += 1;
        // Pre-fill the commitment slot so that every commit rewrites a non-zero word.
        if (_commitments[taskId][msg.sender] == bytes32(0)) _commitments[taskId][msg.sender] = bytes32(uint256(1));
        emit Joined(taskId, msg.sender, stake);

        token.safeTransferFrom(msg.sender, address(this), stake);
    }

    /// @notice Leave a task and get the stake and all credited rewards back. Not while the caller's
    ///         update is part of the open round, nor while its aggregator bond is held.
    function leaveTask(uint256 taskId) external nonReentrant {
        Task storage t = _task(taskId);
        Member storage m = _members[taskId][msg.sender];
        if (!m.active) revert NotMember(taskId, msg.sender);
        RoundState memory s = t.state;
        bool roundOpen = s.phase != Phase.Registration && s.phase != Phase.Completed;
        if (roundOpen && (m.lastRound == s.round || (s.phase == Phase.Challenge && t.aggregator == msg.sender))) {
            revert InOpenRound(taskId, s.round, msg.sender);
        }
        _settle(taskId, t.state, m, msg.sender);
        uint256 stake = m.stake;
        uint256 rewards = m.claimable;
        m.stake = 0;
        m.claimable = 0;
        m.active = false;
        t.state.members = s.members - 1;
        emit Left(taskId, msg.sender, stake, rewards);

        token.safeTransfer(msg.sender, stake + rewards);
    }

    /// @notice Transfer the caller's credited rewards (settling its last finalized round first).
    function claim(uint256 taskId) external nonReentrant {
        Task storage t = _task(taskId);
        Member storage m = _members[taskId][msg.sender];
        _settle(taskId, t.state, m, msg.sender);
        uint256 amount = m.claimable;
        if (amount == 0) revert NothingToClaim(taskId, msg.sender);
        m.claimable = 0;
        emit RewardsClaimed(taskId, msg.sender, amount);

        token.safeTransfer(msg.sender, amount);
    }

    // ---------------------------------------------------------------- rounds

    /// @notice Commit to this round's model update: the Merkle root of its fixed-point chunks,
    ///         the content digest of its blob in the store, and the number of local samples.
    ///         Committing to the round after the current one first moves the task on when a
    ///         deadline allows it (finalizing or aborting the current round), as `advance` would:
    ///         any transaction may advance a phase whose deadline passed, and folding it into the
    ///         first commit saves a transaction per round.
    /// @dev Constant cost in the model's size: three words rewritten, one event.
    function commitUpdate(uint256 taskId, uint256 round, bytes32 merkleRoot, bytes32 blobDigest, uint256 samples)
        external
    {
        Task storage t = _tasks[taskId];
        RoundState memory s = t.state;
        if (s.phase == Phase.None) revert UnknownTask(taskId);
        if (round == uint256(s.round) + 1 && !s.secure) _advanceIfDue(taskId, t, s);
        if (s.phase != Phase.Commit) revert WrongPhase(taskId, Phase.Commit, s.phase);
        if (round != s.round) revert RoundMismatch(taskId, s.round, round);
        if (block.timestamp >= s.deadline) revert CommitWindowClosed(taskId, round, s.deadline, block.timestamp);
        if (merkleRoot == bytes32(0) || blobDigest == bytes32(0)) revert ZeroCommitment();
        if (samples == 0 || samples > MAX_SAMPLES) revert InvalidSampleCount(samples);
        Member storage m = _members[taskId][msg.sender];
        if (!m.active) revert NotMember(taskId, msg.sender);
        if (m.lastRound == round) revert AlreadyCommitted(taskId, round, msg.sender);
        if (s.secure) {
            SecureMember memory sm = _secureMembers[taskId][msg.sender];
            if (sm.shareRound != round) revert MissedPhase(taskId, round, Phase.Share, msg.sender);
            if (samples != sm.sharedSamples) revert SampleCountChanged(taskId, round, sm.sharedSamples, samples);
        }

        (uint256 creditedRound, uint256 credited) = _credit(taskId, s, m);
        m.lastRound = uint32(round);
        m.samples = uint24(samples);
        _commitments[taskId][msg.sender] = keccak256(abi.encode(round, merkleRoot, blobDigest, samples));
        s.totalSamples += uint64(samples);
        s.committed += 1;
        t.state = s;
        // The credit of the member's previous round rides on this event (no RewardsCredited).
        emit UpdateCommitted(taskId, round, msg.sender, merkleRoot, blobDigest, samples, creditedRound, credited);
        if (s.secure && s.committed >= _secureCounts[taskId].shared) _enterPhase(taskId, t, s, Phase.Unmask);
    }

    /// @notice Post the commitment to the round's aggregate Σ nᵢ·vᵢ over the included updates,
    ///         and the digest of the new global model, locking `aggregatorBond` of the caller's
    ///         stake until the challenge window ends. Allowed once the commit window is closed
    ///         (deadline passed or every member committed) and before the aggregate deadline.
    /// @param excluded Committed participants left out of the aggregate because their blob was
    ///        missing or malformed; they earn nothing this round. Recorded for auditors.
    function postAggregate(
        uint256 taskId,
        uint256 round,
        bytes32 merkleRoot,
        bytes32 blobDigest,
        bytes32 modelDigest,
        address[] calldata excluded
    ) external {
        Task storage t = _tasks[taskId];
        RoundState memory s = t.state;
        if (s.phase == Phase.None) revert UnknownTask(taskId);
        if (s.secure) revert SecureTask(taskId);
        if (s.phase != Phase.Commit) revert WrongPhase(taskId, Phase.Commit, s.phase);
        if (round != s.round) revert RoundMismatch(taskId, s.round, round);
        if (block.timestamp < s.deadline && s.committed < s.members) {
            revert CommitWindowOpen(taskId, round, s.deadline);
        }
        uint256 aggregateDeadline = uint256(s.deadline) + t.aggregateDuration;
        if (block.timestamp >= aggregateDeadline) revert AggregateWindowClosed(taskId, round, aggregateDeadline);
        _postAggregate(taskId, t, s, round, merkleRoot, blobDigest, modelDigest, excluded);
    }

    /// @notice Post the unmasked aggregate of a secure round (see `postAggregate`), once the
    ///         unmask phase ended.
    /// @param excluded Committed participants whose masked input was malformed, or whose key
    ///        shares enough neighbours complained about (treated as dropped by the protocol;
    ///        they earn nothing this round).
    /// @param withheld Survivors that committed a masked input but did not post their unmask
    ///        shares; recorded on-chain as such (their input is still in the sum).
    function postSecureAggregate(
        uint256 taskId,
        uint256 round,
        bytes32 merkleRoot,
        bytes32 blobDigest,
        bytes32 modelDigest,
        address[] calldata excluded,
        address[] calldata withheld
    ) external {
        Task storage t = _tasks[taskId];
        RoundState memory s = t.state;
        if (s.phase == Phase.None) revert UnknownTask(taskId);
        if (!s.secure) revert NotSecure(taskId);
        if (s.phase != Phase.Aggregate) revert WrongPhase(taskId, Phase.Aggregate, s.phase);
        if (round != s.round) revert RoundMismatch(taskId, s.round, round);
        if (block.timestamp >= s.deadline) revert AggregateWindowClosed(taskId, round, s.deadline);
        for (uint256 i = 0; i < withheld.length; ++i) {
            address w = withheld[i];
            SecureMember storage sw = _secureMembers[taskId][w];
            Member storage mw = _members[taskId][w];
            if (mw.lastRound != round || sw.unmaskRound == round) revert NotWithheld(taskId, round, w);
            sw.unmaskRound = uint32(round); // recorded once
            emit UnmaskWithheld(taskId, round, w);
        }
        _postAggregate(taskId, t, s, round, merkleRoot, blobDigest, modelDigest, excluded);
    }

    function _postAggregate(
        uint256 taskId,
        Task storage t,
        RoundState memory s,
        uint256 round,
        bytes32 merkleRoot,
        bytes32 blobDigest,
        bytes32 modelDigest,
        address[] calldata excluded
    ) private {
        if (merkleRoot == bytes32(0) || blobDigest == bytes32(0) || modelDigest == bytes32(0)) revert ZeroCommitment();
        Member storage a = _members[taskId][msg.sender];
        if (!a.active) revert NotMember(taskId, msg.sender);
        uint96 bond = t.aggregatorBond;
        if (a.stake < bond) revert StakeBelowBond(taskId, a.stake, bond);

        uint256 included = s.committed;
        for (uint256 i = 0; i < excluded.length; ++i) {
            Member storage e = _members[taskId][excluded[i]];
            // samples == 0 also catches a participant named twice.
            if (e.lastRound != round || e.samples == 0) revert NotCommitted(taskId, round, excluded[i]);
            s.totalSamples -= e.samples;
            e.samples = 0;
            included -= 1;
            emit UpdateExcluded(taskId, round, excluded[i]);
        }
        if (included < t.minParticipants) revert TooFewParticipants(taskId, included, t.minParticipants);

        // The bond stays inside the aggregator's stake, locked: leaveTask refuses while it is held.
        s.phase = Phase.Challenge;
        s.deadline = uint64(block.timestamp + t.challengeDuration);
        t.state = s;
        t.aggregator = msg.sender;
        t.pendingModelDigest = modelDigest;
        t.pendingAggregate = keccak256(abi.encode(round, merkleRoot, blobDigest, modelDigest));
        emit AggregatePosted(
            taskId, round, msg.sender, merkleRoot, blobDigest, modelDigest, s.totalSamples, bond, s.deadline
        );
    }

    // ---------------------------------------------------------------- secure aggregation

    /// @notice SecAgg+ round 0: publish the digest of this round's two ephemeral public keys.
    ///         The first advertisement of a round finalizes the previous one when it is due.
    function advertiseKeys(uint256 taskId, uint256 round, bytes32 digest) external {
        Task storage t = _tasks[taskId];
        RoundState memory s = t.state;
        if (s.phase == Phase.None) revert UnknownTask(taskId);
        if (!s.secure) revert NotSecure(taskId);
        if (round == uint256(s.round) + 1) _advanceIfDue(taskId, t, s);
        SecureMember storage sm = _secureMember(taskId, s, round, Phase.Advertise, digest);
        if (sm.advertRound == round) revert AlreadySubmitted(taskId, round, Phase.Advertise, msg.sender);
        sm.advertRound = uint32(round);
        SecureCounts storage c = _secureCounts[taskId];
        c.advertised += 1;
        emit KeysAdvertised(taskId, round, msg.sender, digest);
        if (c.advertised >= s.members) _enterPhase(taskId, t, s, Phase.Share);
    }

    /// @notice SecAgg+ round 1: publish the digest of the key shares encrypted to neighbours,
    ///         and the number of local samples this member's masked input will be weighted by.
    /// @dev The declared samples bound the round's aggregate before anyone masks, which fixes
    ///      the width of the ring the masked inputs live in; `commitUpdate` must repeat them.
    function shareKeys(uint256 taskId, uint256 round, bytes32 digest, uint256 samples) external {
        Task storage t = _tasks[taskId];
        RoundState memory s = t.state;
        SecureMember storage sm = _secureMember(taskId, s, round, Phase.Share, digest);
        if (sm.advertRound != round) revert MissedPhase(taskId, round, Phase.Advertise, msg.sender);
        if (sm.shareRound == round) revert AlreadySubmitted(taskId, round, Phase.Share, msg.sender);
        if (samples == 0 || samples > MAX_SAMPLES) revert InvalidSampleCount(samples);
        sm.shareRound = uint32(round);
        sm.sharedSamples = uint24(samples);
        SecureCounts storage c = _secureCounts[taskId];
        c.shared += 1;
        emit KeysShared(taskId, round, msg.sender, digest, samples);
        if (c.shared >= c.advertised) _enterPhase(taskId, t, s, Phase.Commit);
    }

    /// @notice SecAgg+ complaint, during the masked-input phase and before the caller's own
    ///         commit: publish the digest of a message naming the neighbours whose key shares
    ///         for the caller failed to open, with the pairwise mask seed shared with each.
    ///         A participant enough neighbours complain about is left out of the sum (its
    ///         self-mask could never be rebuilt) instead of making the whole round abort.
    function complain(uint256 taskId, uint256 round, bytes32 digest) external {
        Task storage t = _tasks[taskId];
        RoundState memory s = t.state;
        SecureMember storage sm = _secureMember(taskId, s, round, Phase.Commit, digest);
        if (sm.shareRound != round) revert MissedPhase(taskId, round, Phase.Share, msg.sender);
        if (_members[taskId][msg.sender].lastRound == round) revert AlreadyCommitted(taskId, round, msg.sender);
        if (sm.complaintRound == round) revert AlreadySubmitted(taskId, round, Phase.Commit, msg.sender);
        sm.complaintRound = uint32(round);
        emit SharesComplained(taskId, round, msg.sender, digest);
    }

    /// @notice SecAgg+ round 3: publish the digest of this survivor's unmask shares (for each
    ///         neighbour: its self-mask share if its input is in the sum; its mask-key share and
    ///         the pairwise seed if it dropped; the pairwise seed alone if complaints excluded it).
    function unmask(uint256 taskId, uint256 round, bytes32 digest) external {
        Task storage t = _tasks[taskId];
        RoundState memory s = t.state;
        SecureMember storage sm = _secureMember(taskId, s, round, Phase.Unmask, digest);
        if (_members[taskId][msg.sender].lastRound != round) revert NotCommitted(taskId, round, msg.sender);
        if (sm.unmaskRound == round) revert AlreadySubmitted(taskId, round, Phase.Unmask, msg.sender);
        sm.unmaskRound = uint32(round);
        SecureCounts storage c = _secureCounts[taskId];
        c.unmasked += 1;
        emit UnmaskSharesPosted(taskId, round, msg.sender, digest);
        if (c.unmasked >= s.committed) _enterPhase(taskId, t, s, Phase.Aggregate);
    }

    function _secureMember(uint256 taskId, RoundState memory s, uint256 round, Phase phase, bytes32 digest)
        private
        view
        returns (SecureMember storage sm)
    {
        if (s.phase == Phase.None) revert UnknownTask(taskId);
        if (!s.secure) revert NotSecure(taskId);
        if (s.phase != phase) revert WrongPhase(taskId, phase, s.phase);
        if (round != s.round) revert RoundMismatch(taskId, s.round, round);
        if (block.timestamp >= s.deadline) revert PhaseClosed(taskId, round, phase, s.deadline, block.timestamp);
        if (digest == bytes32(0)) revert ZeroCommitment();
        if (!_members[taskId][msg.sender].active) revert NotMember(taskId, msg.sender);
        sm = _secureMembers[taskId][msg.sender];
    }

    function _enterPhase(uint256 taskId, Task storage t, RoundState memory s, Phase phase) private {
        s.phase = phase;
        uint256 duration = phase == Phase.Aggregate ? t.aggregateDuration : t.commitDuration;
        s.deadline = uint64(block.timestamp + duration);
        t.state = s;
        emit PhaseStarted(taskId, s.round, phase, s.deadline);
        if (phase == Phase.Share) {
            // Drawn only once the advertised set U1 is closed, so nobody can choose whether to
            // advertise knowing the neighbour graph it would produce.
            emit RoundSeed(taskId, s.round, keccak256(abi.encode(blockhash(block.number - 1), taskId, s.round)));
        }
    }

    /// @notice Move a task on once a deadline has passed: finalize a round whose challenge window
    ///         ended, or abort one that got too few updates or no aggregate in time. Anyone may
    ///         call it; the next round (or completion) follows in the same transaction.
    function advance(uint256 taskId) external {
        Task storage t = _tasks[taskId];
        RoundState memory s = t.state;
        if (s.phase == Phase.None) revert UnknownTask(taskId);
        Phase before = s.phase;
        uint64 deadline = s.deadline;
        if (!_advanceIfDue(taskId, t, s)) revert NothingToAdvance(taskId, before, deadline);
    }

    // ---------------------------------------------------------------- views

    /// @notice Everything about a task in one call.
    function getTask(uint256 taskId) external view returns (TaskView memory v) {
        Task storage t = _task(taskId);
        RoundState memory s = t.state;
        v = TaskView({
            sponsor: t.sponsor,
            numRounds: t.numRounds,
            minParticipants: t.minParticipants,
            commitDuration: t.commitDuration,
            aggregateDuration: t.aggregateDuration,
            challengeDuration: t.challengeDuration,
            stakeAmount: t.stakeAmount,
            aggregatorBond: t.aggregatorBond,
            rewardPerRound: t.rewardPerRound,
            pool: t.pool,
            round: s.round,
            phase: _effectivePhase(s),
            deadline: s.deadline,
            totalSamples: s.totalSamples,
            committed: s.committed,
            members: s.members,
            aggregator: t.aggregator,
            bondHeld: s.phase == Phase.Challenge ? t.aggregatorBond : 0,
            configDigest: t.configDigest,
            globalModelDigest: t.globalModelDigest,
            pendingModelDigest: t.pendingModelDigest,
            secure: s.secure,
            advertised: _secureCounts[taskId].advertised,
            shared: _secureCounts[taskId].shared,
            unmasked: _secureCounts[taskId].unmasked
        });
    }

    /// @notice A member's record, with rewards of its last finalized round not yet settled.
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

    /// @notice Reward per sample paid for a finalized round (0 for aborted or open rounds).
    function rewardPerSample(uint256 taskId, uint256 round) external view returns (uint256) {
        return _rps(taskId, round);
    }

    /// @notice The phase as a client should see it (`Aggregate` once the commit window closed).
    function phaseOf(uint256 taskId) external view returns (Phase) {
        return _effectivePhase(_task(taskId).state);
    }

    /// @notice True when `chunk` is chunk `index` of the blob committed to by `root`
    ///         (see ChunkCommitment); lets anyone check a chunk against an on-chain commitment.
    function verifyChunk(bytes32 root, bytes32[] calldata proof, uint64 index, bytes calldata chunk)
        external
        pure
        returns (bool)
    {
        return ChunkCommitment.verify(proof, root, index, chunk);
    }

    // ---------------------------------------------------------------- internals

    function _task(uint256 taskId) private view returns (Task storage t) {
        t = _tasks[taskId];
        if (t.sponsor == address(0)) revert UnknownTask(taskId);
    }

    function _effectivePhase(RoundState memory s) private view returns (Phase) {
        if (
            !s.secure && s.phase == Phase.Commit
                && (block.timestamp >= s.deadline || (s.members > 0 && s.committed >= s.members))
        ) {
            return Phase.Aggregate;
        }
        return s.phase;
    }

    /// @dev A member's last round is settled once the task has moved past it.
    function _pending(uint256 taskId, RoundState memory s, Member memory m) private view returns (uint256) {
        if (m.samples == 0) return 0;
        if (m.lastRound == s.round && s.phase != Phase.Completed) return 0;
        return uint256(m.samples) * _rps(taskId, m.lastRound);
    }

    function _rps(uint256 taskId, uint256 round) private view returns (uint256) {
        return uint128(_rewardPerSamplePairs[taskId][round >> 1] >> ((round & 1) * 128));
    }

    function _settle(uint256 taskId, RoundState memory s, Member storage m, address account) private {
        (uint256 round, uint256 amount) = _credit(taskId, s, m);
        if (amount > 0) emit RewardsCredited(taskId, round, account, amount);
    }

    /// @dev Move the reward of the member's last round, once settled, into its claimable balance.
    function _credit(uint256 taskId, RoundState memory s, Member storage m)
        private
        returns (uint256 round, uint256 amount)
    {
        round = m.lastRound;
        amount = _pending(taskId, s, m);
        if (m.samples != 0 && (round != s.round || s.phase == Phase.Completed)) {
            m.samples = 0;
        }
        if (amount > 0) m.claimable += uint96(amount);
    }

    /// @dev Apply the transition a passed deadline allows; false when none is due.
    function _advanceIfDue(uint256 taskId, Task storage t, RoundState memory s) private returns (bool) {
        if (s.secure && s.phase != Phase.Challenge) return _advanceSecureIfDue(taskId, t, s);
        if (s.phase == Phase.Challenge) {
            if (block.timestamp < s.deadline) return false;
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

    /// @dev A secure phase whose deadline passed: move on, or abort below minParticipants.
    function _advanceSecureIfDue(uint256 taskId, Task storage t, RoundState memory s) private returns (bool) {
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

    function _finalize(uint256 taskId, Task storage t, RoundState memory s) private {
        // rewardPerRound < 2**128, so perSample fits the packed uint128 half-word.
        uint256 perSample = t.rewardPerRound / s.totalSamples;
        uint256 credited = perSample * s.totalSamples;
        if (perSample > 0) {
            uint256 shift = (s.round & 1) * 128;
            _rewardPerSamplePairs[taskId][s.round >> 1] |= perSample << shift;
        }
        t.pool -= uint128(credited);
        bytes32 model = t.pendingModelDigest;
        t.globalModelDigest = model;
        emit RoundFinalized(taskId, s.round, model, perSample, credited, t.aggregatorBond);
        _next(taskId, t, s);
    }

    function _abort(uint256 taskId, Task storage t, RoundState memory s, AbortReason reason) private {
        emit RoundAborted(taskId, s.round, reason);
        _next(taskId, t, s);
    }

    function _next(uint256 taskId, Task storage t, RoundState memory s) private {
        if (s.round >= t.numRounds) {
            s.phase = Phase.Completed;
            s.deadline = 0;
            t.state = s;
            emit TaskCompleted(taskId, t.globalModelDigest);
        } else {
            _openRound(taskId, t, s, s.round + 1);
        }
    }

    function _openRound(uint256 taskId, Task storage t, RoundState memory s, uint32 round) private {
        s.round = round;
        s.phase = s.secure ? Phase.Advertise : Phase.Commit;
        s.deadline = uint64(block.timestamp + t.commitDuration);
        s.totalSamples = 0;
        s.committed = 0;
        t.state = s;
        emit RoundOpened(taskId, round, s.deadline, t.globalModelDigest);
        if (s.secure) _secureCounts[taskId] = SecureCounts(0, 0, 0);
    }
}
