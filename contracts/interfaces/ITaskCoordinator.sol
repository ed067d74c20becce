// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title ITaskCoordinator
/// @notice Types, errors and events of the fedchain coordinator (all of its parts and its
///         SecAgg+ module). Errors carry the `Coordinator` prefix, as OpenZeppelin's `IGovernor`
///         prefixes its own; the dispute game's view of the coordinator is `IDisputeHooks`.
interface ITaskCoordinator {
    /// @notice Stored phase of a task. Plaintext rounds: Commit → Challenge. While `Commit` is
    ///         stored, the commit window is closed (and an aggregate may be posted) once its
    ///         deadline passed or every member committed; `phaseOf` reports that as `Aggregate`.
    ///         Secure rounds (SecAgg+): Advertise → Share → Commit (masked) → Unmask → Aggregate
    ///         → Challenge.
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

    /// @notice Why an aggregator left a committed update out. `Unavailable` and `Malformed` are
    ///         the aggregator's word (not provable on-chain, and financially neutral: excluded
    ///         shares go back to the pool, nobody else's reward grows); `NormLie` and `Copy` are
    ///         provable by anyone through the dispute game, and proven ones are slashed.
    enum ExclusionReason {
        Unavailable,
        Malformed,
        NormLie,
        Copy,
        Duplicate
    }

    /// @notice Objective faults, each proven on-chain (see docs/architecture.md, slashing table).
    enum Fault {
        WrongAggregate,
        WrongModel,
        DuplicateIncluded,
        InvalidIncluded,
        Unanswered,
        NormLie,
        Copy,
        Unrevealed,
        Silent,
        // A secure aggregate left out a member whose self-mask share a survivor revealed: no
        // aggregate over that set exists (its pairwise masks can never be removed). Void, no
        // slash: a member that deletes its own input after the unmask phase causes the same.
        RevealedExcluded
    }

    /// @notice How a bonded challenge ended.
    enum ChallengeOutcome {
        AggregatorFault,
        ChallengerFault,
        Answered,
        Stale
    }

    /// @notice What a sponsor asks for when creating a task.
    /// @dev `normBound` is the largest squared L2 norm (fixed-point units²) a plaintext update may
    ///      commit to; it is stored as a 24-bit mantissa shifted left, rounded down (see
    ///      `normBoundOf`). `weightCapPct` caps every member's aggregation and reward weight at
    ///      that percentage of the median declared sample count (0: uniform weights).
    struct TaskParams {
        bytes32 initialModelRoot;
        bytes32 configDigest;
        uint96 stakeAmount;
        uint96 stakePerSample;
        uint96 aggregatorBond;
        uint96 challengeBond;
        uint128 rewardPerRound;
        uint128 normBound;
        uint64 numParameters;
        uint32 chunkElems;
        uint32 numRounds;
        uint32 minParticipants;
        uint32 commitDuration;
        uint32 aggregateDuration;
        uint32 challengeDuration;
        uint32 responseDuration;
        uint16 weightCapPct;
        bool secureAggregation;
    }

    /// @notice Views of a task for clients (one call instead of many).
    struct TaskView {
        address sponsor;
        uint32 numRounds;
        uint32 minParticipants;
        uint32 commitDuration;
        uint32 aggregateDuration;
        uint32 challengeDuration;
        uint32 responseDuration;
        uint96 stakeAmount;
        uint96 stakePerSample;
        uint96 aggregatorBond;
        uint96 challengeBond;
        uint128 rewardPerRound;
        uint128 pool;
        uint32 round;
        Phase phase;
        uint64 deadline;
        uint64 totalWeight;
        uint32 committed;
        uint32 members;
        address aggregator;
        uint256 bondHeld;
        bytes32 configDigest;
        bytes32 globalModelRoot;
        bytes32 pendingModelRoot;
        bool secure;
        uint32 advertised;
        uint32 shared;
        uint32 unmasked;
        uint32 weightCap;
        uint256 normBound;
        uint64 numParameters;
        uint32 chunkElems;
        uint32 openChallenges;
        uint32 epoch;
        uint128 challengeBondsHeld;
    }

    /// @notice What a proof about the open round needs to know (one call).
    struct RoundView {
        uint32 round;
        Phase phase;
        uint64 deadline;
        uint32 committed;
        uint32 epoch;
        address aggregator;
        uint64 includedWeight;
        bytes32 aggregateRoot;
        bytes32 modelRoot;
        bytes32 globalModelRoot;
        uint64 numParameters;
        uint32 chunkElems;
        uint32 responseDuration;
        uint96 challengeBond;
        bool secure;
    }

    /// @notice A member's commitment for its last round, as a proof checks it.
    /// @param commitment keccak256(abi.encode(round, merkleRoot, sumSq, commitIndex)).
    /// @param included True when the update counts in the current aggregate of that round.
    /// @param invalid True when a fault of the member was proven for that round.
    struct CommitView {
        bytes32 commitment;
        uint32 lastRound;
        uint32 weight;
        bool included;
        bool invalid;
    }

    /// @notice A secure round as a dispute needs it (see `secureRoundOf`).
    struct SecureRoundView {
        uint256 advertised;
        uint256 shared;
        uint256 unmasked;
        uint256 sharedWeight;
        uint256 ringBits;
        bytes32 seed;
    }

    /// @notice A member's secure-round record (see `secureMemberOf`).
    struct SecureMemberView {
        uint32 advertRound;
        uint32 shareRound;
        uint32 unmaskRound;
        uint32 advertIndex;
        bytes32 maskPk;
        bytes32 selfMaskCommitment;
        bytes32 revealedSelfShares;
    }

    // ---------------------------------------------------------------- errors

    /// @notice No task with this id.
    error CoordinatorUnknownTask(uint256 taskId);
    /// @notice createTask was given parameters that cannot run a task.
    error CoordinatorInvalidParams(string reason);
    /// @notice Only the task's sponsor may do this.
    error CoordinatorNotSponsor(uint256 taskId, address caller);
    /// @notice The task is not in the phase this call needs.
    error CoordinatorWrongPhase(uint256 taskId, Phase expected, Phase actual);
    /// @notice The account already is an active member.
    error CoordinatorAlreadyMember(uint256 taskId, address account);
    /// @notice The account is not an active member.
    error CoordinatorNotMember(uint256 taskId, address account);
    /// @notice The call names another round than the open one.
    error CoordinatorRoundMismatch(uint256 taskId, uint256 currentRound, uint256 givenRound);
    /// @notice The commit window of the round has closed.
    error CoordinatorCommitWindowClosed(uint256 taskId, uint256 round, uint256 deadline, uint256 nowTs);
    /// @notice The member already committed (or, having joined mid-round, may not commit) this round.
    error CoordinatorAlreadyCommitted(uint256 taskId, uint256 round, address account);
    /// @notice A declared sample count must be in [1, 2²⁴−1].
    error CoordinatorInvalidSampleCount(uint256 samples);
    /// @notice Roots and digests must be non-zero.
    error CoordinatorZeroCommitment();
    /// @notice The committed squared norm exceeds the task's bound.
    error CoordinatorNormAboveBound(uint256 taskId, uint256 sumSq, uint256 bound);
    /// @notice An aggregate may be posted only once the commit window closed.
    error CoordinatorCommitWindowOpen(uint256 taskId, uint256 round, uint256 deadline);
    /// @notice The aggregate window of the round has closed.
    error CoordinatorAggregateWindowClosed(uint256 taskId, uint256 round, uint256 deadline);
    /// @notice Fewer participants than the task needs.
    error CoordinatorTooFewParticipants(uint256 taskId, uint256 have, uint256 need);
    /// @notice The account has no commitment in this round (or was named twice).
    error CoordinatorNotCommitted(uint256 taskId, uint256 round, address account);
    /// @notice The caller's stake cannot cover the aggregator bond.
    error CoordinatorStakeBelowBond(uint256 taskId, uint256 stake, uint256 bond);
    /// @notice Not while the caller's update or bond is part of the open round.
    error CoordinatorInOpenRound(uint256 taskId, uint256 round, address account);
    /// @notice No deadline has passed that would move the task on.
    error CoordinatorNothingToAdvance(uint256 taskId, Phase phase, uint256 deadline);
    /// @notice Nothing to claim or withdraw.
    error CoordinatorNothingToClaim(uint256 taskId, address account);
    /// @notice A secure-aggregation call on a plaintext task.
    error CoordinatorNotSecure(uint256 taskId);
    /// @notice A plaintext-only call on a task that runs secure aggregation.
    error CoordinatorSecureTask(uint256 taskId);
    /// @notice The account cannot be recorded as having withheld its unmask shares.
    error CoordinatorNotWithheld(uint256 taskId, uint256 round, address account);
    /// @notice The secure phase has closed.
    error CoordinatorPhaseClosed(uint256 taskId, uint256 round, Phase phase, uint256 deadline, uint256 nowTs);
    /// @notice The account already acted in this secure phase.
    error CoordinatorAlreadySubmitted(uint256 taskId, uint256 round, Phase phase, address account);
    /// @notice The account skipped a secure phase this call depends on.
    error CoordinatorMissedPhase(uint256 taskId, uint256 round, Phase phase, address account);
    /// @notice The median hint given to startTask is not a median of the declared counts.
    error CoordinatorNotMedian(uint256 taskId, uint256 hint, uint256 below, uint256 above);
    /// @notice The caller's aggregate was refuted this round: it may not post again.
    error CoordinatorBarred(uint256 taskId, uint256 round, address account);
    /// @notice The last aggregator holds the first half of the aggregate window (its grace);
    ///         others may post only after `graceEnd`.
    error CoordinatorGraceHeld(uint256 taskId, uint256 round, address incumbent, uint256 graceEnd);
    /// @notice Only the member holding the aggregate window's grace may yield it.
    error CoordinatorNotGraceHolder(uint256 taskId, uint256 round, address holder);
    /// @notice Only the dispute game may call this.
    error CoordinatorNotDisputeGame(address caller);
    /// @notice The dispute game is already set.
    error CoordinatorDisputeGameSet(address game);
    /// @notice The challenge window of the round has closed.
    error CoordinatorChallengeWindowClosed(uint256 taskId, uint256 round, uint256 deadline);
    /// @notice A fault of this member was already proven this round.
    error CoordinatorAlreadyProven(uint256 taskId, uint256 round, address account);
    /// @notice The revealed nonce is not the one the member committed for this round.
    error CoordinatorNonceMismatch(uint256 taskId, uint256 round, address account);
    /// @notice An advertised X25519 key is zero, of small order (every agreement with it would
    ///         be the all-zero secret) or the member's other key: nobody could mask with it.
    error CoordinatorBadKey(bytes32 key);
    /// @notice The round's aggregate was refuted too many times; wait for its deadline.
    error CoordinatorTooManyEpochs(uint256 taskId, uint256 round);

    // ---------------------------------------------------------------- events

    event TaskCreated(uint256 indexed taskId, address indexed sponsor, TaskParams params);
    event DisputeGameSet(address indexed game);
    event Joined(uint256 indexed taskId, address indexed account, uint256 stake, uint256 declared, uint256 weight);
    event WeightsCapped(uint256 indexed taskId, uint256 median, uint256 cap);
    event Left(uint256 indexed taskId, address indexed account, uint256 stake, uint256 rewards);
    event RoundOpened(uint256 indexed taskId, uint256 indexed round, uint256 deadline, bytes32 globalModelRoot);
    /// @notice A member's commitment: `commitIndex` is its 1-based position in the round's
    ///         commit order (the order of the running sums a sum dispute walks).
    event UpdateCommitted(
        uint256 indexed taskId,
        uint256 indexed round,
        address indexed participant,
        bytes32 merkleRoot,
        uint256 sumSq,
        uint256 commitIndex,
        uint256 creditedRound,
        uint256 credited
    );
    event UpdateExcluded(
        uint256 indexed taskId, uint256 indexed round, address indexed participant, ExclusionReason reason
    );
    event AggregatePosted(
        uint256 indexed taskId,
        uint256 indexed round,
        address indexed aggregator,
        bytes32 merkleRoot,
        bytes32 modelRoot,
        uint256 includedWeight,
        uint256 epoch,
        uint256 bond,
        uint256 challengeDeadline
    );
    event AggregateVoided(
        uint256 indexed taskId, uint256 indexed round, address indexed aggregator, uint256 epoch, Fault fault
    );
    /// @notice The incumbent aggregator let its grace pass without posting; it is slashed
    ///         `SILENT_SLASH_BPS` of its stake if another member's aggregate finalizes the round.
    event AggregatorSilent(uint256 indexed taskId, uint256 indexed round, address indexed incumbent);
    /// @notice The incumbent gave up this round's aggregate (it could not build one, e.g. too
    ///         few updates were readable): the window is open to every member, nobody is slashed.
    event GraceYielded(uint256 indexed taskId, uint256 indexed round, address indexed incumbent);
    event Slashed(
        uint256 indexed taskId,
        uint256 indexed round,
        address indexed account,
        uint256 amount,
        Fault fault,
        address beneficiary,
        uint256 toBeneficiary
    );
    event ChallengeBondLocked(uint256 indexed taskId, uint256 indexed round, address indexed challenger, uint256 bond);
    event ChallengeSettled(
        uint256 indexed taskId,
        uint256 indexed round,
        address indexed challenger,
        ChallengeOutcome outcome,
        uint256 toChallenger,
        uint256 toAggregator,
        uint256 toPool
    );
    event RoundFinalized(
        uint256 indexed taskId,
        uint256 indexed round,
        bytes32 modelRoot,
        uint256 rewardPerWeight,
        uint256 rewardsCredited,
        uint256 bondReleased
    );
    event RoundAborted(uint256 indexed taskId, uint256 indexed round, AbortReason reason);
    event PhaseStarted(uint256 indexed taskId, uint256 indexed round, Phase phase, uint256 deadline);
    /// @notice The round's public randomness (seeds the SecAgg+ neighbour graph).
    event RoundSeed(uint256 indexed taskId, uint256 indexed round, bytes32 seed);
    /// @notice A member committed the hash of its nonce for `round`'s seed.
    event NonceCommitted(uint256 indexed taskId, uint256 indexed round, address indexed participant, bytes32 nonceHash);
    /// @notice A member revealed its nonce; the round's seed mixes every revealed nonce.
    event NonceRevealed(uint256 indexed taskId, uint256 indexed round, address indexed participant, bytes32 nonce);
    /// @notice A member's two X25519 public keys for this round (`encPk` seals the key shares
    ///         sent to it, `maskPk` agrees the pairwise mask seeds); `index` is its place in
    ///         the round's advertised set U1 (the neighbour graph is drawn over these indices).
    event KeysAdvertised(
        uint256 indexed taskId,
        uint256 indexed round,
        address indexed participant,
        bytes32 encPk,
        bytes32 maskPk,
        uint256 index
    );
    /// @notice `digest` names the sealed key shares in the store; `selfMaskCommitment` is
    ///         sha256 of the member's self-mask seed (a reconstruction is checked against it);
    ///         `samples` is the weight its masked input carries.
    event KeysShared(
        uint256 indexed taskId,
        uint256 indexed round,
        address indexed participant,
        bytes32 digest,
        uint256 samples,
        bytes32 selfMaskCommitment
    );
    event SharesComplained(uint256 indexed taskId, uint256 indexed round, address indexed participant, bytes32 digest);
    /// @notice `revealed` = keccak256(abi.encode(bitmap)) of the U1 indices whose self-mask
    ///         share the survivor revealed (bit i of word i / 256): what it took to be included.
    event UnmaskSharesPosted(
        uint256 indexed taskId, uint256 indexed round, address indexed participant, bytes32 digest, bytes32 revealed
    );
    event UnmaskWithheld(uint256 indexed taskId, uint256 indexed round, address indexed participant);
    event TaskCompleted(uint256 indexed taskId, bytes32 finalModelRoot);
    event RewardsCredited(uint256 indexed taskId, uint256 indexed round, address indexed account, uint256 amount);
    event RewardsClaimed(uint256 indexed taskId, address indexed account, uint256 amount);
    event PoolWithdrawn(uint256 indexed taskId, address indexed sponsor, uint256 amount);
}
