// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ITaskCoordinator} from "./interfaces/ITaskCoordinator.sol";
import {ICoordinatorLens, ISecureRoundLens} from "./interfaces/ICoordinatorLens.sol";
import {ISecureTerms} from "./interfaces/ISecureTerms.sol";
import {IDisputeHooks} from "./interfaces/IDisputeHooks.sol";
import {IRoundDisputes} from "./interfaces/IRoundDisputes.sol";
import {MerkleSumTree} from "./utils/MerkleSumTree.sol";

/// @title RoundDisputes
/// @notice Anyone can prove a plaintext round's aggregate, model or commitments wrong, on-chain
///         and cheaply, during the round's challenge window. Gas never grows with the number of
///         members: a wrong sum is found by bisection over the running sums of one chunk, and
///         every other fault is one opening or three.
///         - Sum (bonded, interactive): the challenger names chunk c of the aggregate A. The
///           aggregator opens A[c] against its root (= P_n), then states running sums
///           P_q = Σ_{j ≤ q} wⱼ·vⱼ[c] (commit order) at the midpoints the challenger's
///           agree/disagree answers pick, until lo + 1 = hi with P_lo agreed and P_hi disputed
///           (P_0 = 0). The challenger then proves P_hi ≠ P_lo + w_hi·v_hi[c] from member hi's
///           committed root. A side that misses its response deadline loses.
///         - Availability (bonded): the aggregator (or anyone) must open a chunk of the
///           aggregate, the model or an included update on-chain, or the aggregate is void.
///         - SecureSum (bonded, interactive): the same bisection for a secure round, over the
///           terms of its unmasking in a fixed order (see `SecureTerm`): masked inputs, self
///           masks and the pairwise masks of members left out. A step is proven from on-chain
///           evidence only: a masked input's root, a self-mask seed checked against its sha256
///           commitment, a revealed mask key checked against its advertised public key; the
///           PRG chunk, key agreement and neighbour graph are recomputed by `SecureTerms`.
///         - One-step proofs (no bond: a false one reverts): wrong model chunk, two included
///           members with the same root, a false squared norm, a copied root.
/// @dev A separate deployment beside `TaskCoordinator`, which trusts it for the slashing hooks.
contract RoundDisputes is IRoundDisputes {
    struct Game {
        // word 0
        uint128 taskId;
        uint32 round;
        uint32 epoch;
        uint32 chunk;
        GameKind kind;
        GameState state;
        Target target;
        // word 1
        address challenger;
        uint32 lo;
        uint32 hi;
        uint32 query;
        // word 2
        address aggregator;
        uint64 deadline;
        // word 3
        address member;
        // words 4-6
        bytes32 hashLo;
        bytes32 hashHi;
        bytes32 hashQuery;
    }

    uint256 private constant UPDATE_BYTES = 4;
    uint256 private constant WIDE_BYTES = 8;

    /// @notice The coordinator whose rounds this game referees.
    address public immutable coordinator;
    /// @notice The stateless verifier of a secure round's terms (PRG chunks, X25519, graph).
    ISecureTerms public immutable secureTerms;

    /// @notice Number of bonded challenges opened; ids run from 1.
    uint256 public gameCount;

    mapping(uint256 id => Game) private _games;
    mapping(bytes32 key => bool) private _challenged;

    constructor(address coordinator_, ISecureTerms secureTerms_) {
        coordinator = coordinator_;
        secureTerms = secureTerms_;
    }

    // ---------------------------------------------------------------- sum game

    /// @notice Challenge chunk `chunk` of the round's aggregate (posting the task's challenge
    ///         bond, approved to the coordinator). The aggregator answers by opening it.
    function challengeSum(uint256 taskId, uint256 round, uint256 chunk) external returns (uint256 id) {
        ITaskCoordinator.RoundView memory v = _round(taskId, round);
        uint256 len = _chunkLen(v, chunk);
        id = _open(taskId, round, v, GameKind.Sum, chunk, Target.Aggregate, address(0));
        Game storage g = _games[id];
        g.hi = v.committed;
        g.query = v.committed;
        g.hashLo = keccak256(new bytes(len * WIDE_BYTES)); // P_0 = 0
        g.state = GameState.AwaitAggregate;
    }

    /// @notice Aggregator: open the challenged chunk of the aggregate against its root; it is
    ///         the last running sum P_n.
    function openAggregateChunk(uint256 id, bytes calldata chunk, bytes32[] calldata proof) external {
        Game storage g = _move(id, GameState.AwaitAggregate, true);
        if (g.kind != GameKind.Sum) revert DisputeWrongState(id, g.state);
        ITaskCoordinator.RoundView memory v = _view(g.taskId);
        _verify(v, v.aggregateRoot, address(0), g.chunk, 0, chunk, WIDE_BYTES, proof);
        g.hashHi = keccak256(chunk);
        emit ChunkOpened(id, g.hi, chunk);
        _nextQuery(g);
    }

    /// @notice Aggregator: state the running sum P_query of the challenged chunk.
    function defend(uint256 id, bytes calldata runningSum) external {
        Game storage g = _move(id, GameState.AwaitDefender, true);
        ITaskCoordinator.RoundView memory v = _view(g.taskId);
        uint256 want = _chunkLen(v, g.chunk) * WIDE_BYTES;
        if (runningSum.length != want) revert DisputeBadChunkLength(runningSum.length, want);
        g.hashQuery = keccak256(runningSum);
        g.state = GameState.AwaitChallenger;
        g.deadline = uint64(block.timestamp + v.responseDuration);
        emit ChunkOpened(id, g.query, runningSum);
    }

    /// @notice Challenger: say whether P_query is right (then the fault lies above it) or wrong.
    function bisect(uint256 id, bool agree) external {
        Game storage g = _move(id, GameState.AwaitChallenger, false);
        if (agree) {
            g.lo = g.query;
            g.hashLo = g.hashQuery;
        } else {
            g.hi = g.query;
            g.hashHi = g.hashQuery;
        }
        emit Bisected(id, agree, g.lo, g.hi);
        _nextQuery(g);
    }

    /// @notice Prove the step lo → hi wrong: P_hi ≠ P_lo + w·v[c] for the member with commit
    ///         index hi (P_hi ≠ P_lo when that update is not included). Anyone may send it; the
    ///         challenger is paid.
    function proveStep(
        uint256 id,
        bytes calldata pLo,
        bytes calldata pHi,
        CommitOpening calldata c,
        bytes calldata update,
        uint256 updateSum,
        bytes32[] calldata proof
    ) external {
        Game storage g = _game(id);
        if (g.state != GameState.AwaitProof) revert DisputeWrongState(id, g.state);
        if (block.timestamp >= g.deadline) revert DisputeDeadlinePassed(id, g.deadline);
        if (keccak256(pLo) != g.hashLo || keccak256(pHi) != g.hashHi) revert DisputeHashMismatch();
        if (c.index != g.hi) revert DisputeCommitmentMismatch(c.member);
        ICoordinatorLens lens = ICoordinatorLens(coordinator);
        ITaskCoordinator.CommitView memory cv = _commitment(lens, g.taskId, g.round, c);
        ITaskCoordinator.RoundView memory v = lens.roundView(g.taskId);
        bool fault;
        uint256 n = pLo.length / WIDE_BYTES;
        if (cv.included) {
            _verify(v, c.root, c.member, g.chunk, updateSum, update, UPDATE_BYTES, proof);
            int256 w = int256(uint256(cv.weight));
            for (uint256 e = 0; e < n && !fault; ++e) {
                fault = _wide(pHi, e) != _wide(pLo, e) + w * _narrow(update, e);
            }
        } else {
            fault = keccak256(pLo) != keccak256(pHi);
        }
        if (!fault) revert DisputeNoFault();
        _resolve(id, g, ITaskCoordinator.ChallengeOutcome.AggregatorFault, ITaskCoordinator.Fault.WrongAggregate);
    }

    // ---------------------------------------------------------------- secure sum game

    /// @notice Challenge chunk `chunk` of a secure round's aggregate (posting the challenge
    ///         bond). The aggregator answers by opening it with the last running sum P_T of the
    ///         round's terms (see `SecureTerm`); bisection follows as in the plaintext game.
    function challengeSecureSum(uint256 taskId, uint256 round, uint256 chunk) external returns (uint256 id) {
        ITaskCoordinator.RoundView memory v = _anyRound(taskId, round, true);
        if (v.chunkElems % 8 != 0) revert DisputeSecureLayout(v.chunkElems);
        uint256 len = _chunkLen(v, chunk);
        uint256 terms = uint256(v.committed) * (2 + ISecureRoundLens(coordinator).secureRoundOf(taskId).advertised);
        id = _open(taskId, round, v, GameKind.SecureSum, chunk, Target.Aggregate, address(0));
        Game storage g = _games[id];
        g.hi = uint32(terms);
        g.query = uint32(terms);
        g.hashLo = keccak256(new bytes(len * WIDE_BYTES)); // P_0 = 0
        g.state = GameState.AwaitAggregate;
    }

    /// @notice Aggregator: open the challenged chunk of a secure aggregate against its root,
    ///         with P_T (uint64 words, mod 2^64): read in the ring Z_2^b as two's complement, P_T
    ///         must be the aggregate.
    function openSecureAggregateChunk(
        uint256 id,
        bytes calldata chunk,
        bytes32[] calldata proof,
        bytes calldata runningSum
    ) external {
        Game storage g = _move(id, GameState.AwaitAggregate, true);
        if (g.kind != GameKind.SecureSum) revert DisputeWrongState(id, g.state);
        ITaskCoordinator.RoundView memory v = _view(g.taskId);
        _verify(v, v.aggregateRoot, address(0), g.chunk, 0, chunk, WIDE_BYTES, proof);
        if (runningSum.length != chunk.length) revert DisputeBadChunkLength(runningSum.length, chunk.length);
        uint256 bits = ISecureRoundLens(coordinator).secureRoundOf(g.taskId).ringBits;
        uint256 n = chunk.length / WIDE_BYTES;
        for (uint256 e = 0; e < n; ++e) {
            uint256 r = _word(runningSum, e) & ((uint256(1) << bits) - 1);
            int256 x = r >> (bits - 1) == 0 ? int256(r) : int256(r) - int256(uint256(1) << bits);
            if (x != _wide(chunk, e)) revert DisputeRingMismatch(e);
        }
        g.hashHi = keccak256(runningSum);
        emit ChunkOpened(id, g.hi, runningSum);
        _nextQuery(g);
    }

    /// @notice Prove the step lo → hi of a secure game wrong: P_hi ≠ P_lo + term_hi (mod 2^64),
    ///         with the term recomputed from on-chain evidence (see `SecureTerm`). Anyone may send
    ///         it; the challenger is paid.
    function proveSecureStep(uint256 id, bytes calldata pLo, bytes calldata pHi, SecureTerm calldata term)
        external
    {
        Game storage g = _game(id);
        if (g.kind != GameKind.SecureSum || g.state != GameState.AwaitProof) revert DisputeWrongState(id, g.state);
        if (block.timestamp >= g.deadline) revert DisputeDeadlinePassed(id, g.deadline);
        if (keccak256(pLo) != g.hashLo || keccak256(pHi) != g.hashHi) revert DisputeHashMismatch();
        uint64[] memory add = _secureTerm(g, term);
        uint256 n = pLo.length / WIDE_BYTES;
        bool fault;
        for (uint256 e = 0; e < n && !fault; ++e) {
            uint256 want = (_word(pLo, e) + (add.length == 0 ? 0 : add[e])) & type(uint64).max;
            fault = _word(pHi, e) != want;
        }
        if (!fault) revert DisputeNoFault();
        _resolve(id, g, ITaskCoordinator.ChallengeOutcome.AggregatorFault, ITaskCoordinator.Fault.WrongAggregate);
    }

    /// @notice Prove that a secure aggregate leaves out `member` although `survivor` revealed
    ///         its self-mask share (bit `member`'s U1 index set in the bitmap the survivor
    ///         committed at unmask): the masks `member` shares with the others can then never be
    ///         removed, so no aggregate over that set exists. The aggregate is void and its
    ///         poster barred for the round, but not slashed (a member that deletes its own input
    ///         after unmasking leaves an honest aggregator the same choice).
    function proveRevealedExclusion(
        uint256 taskId,
        uint256 round,
        address survivor,
        uint256[] calldata bitmap,
        address member
    ) external {
        ITaskCoordinator.RoundView memory v = _anyRound(taskId, round, true);
        ISecureRoundLens secure = ISecureRoundLens(coordinator);
        ITaskCoordinator.SecureMemberView memory sv = secure.secureMemberOf(taskId, survivor);
        if (sv.unmaskRound != round || keccak256(abi.encode(bitmap)) != sv.revealedSelfShares) {
            revert DisputeHashMismatch();
        }
        ITaskCoordinator.SecureMemberView memory mv = secure.secureMemberOf(taskId, member);
        uint256 i = mv.advertIndex;
        ITaskCoordinator.CommitView memory cv = ICoordinatorLens(coordinator).commitView(taskId, member);
        bool revealed = i / 256 < bitmap.length && (bitmap[i / 256] >> (i % 256)) & 1 == 1;
        if (mv.advertRound != round || !revealed || cv.lastRound != round || cv.included) revert DisputeNoFault();
        _voidAggregate(taskId, round, v, ITaskCoordinator.Fault.RevealedExcluded);
    }

    /// @dev The words term g.hi adds to the running sum (mod 2^64; empty: the term is zero).
    function _secureTerm(Game storage g, SecureTerm calldata s) private view returns (uint64[] memory add) {
        ICoordinatorLens lens = ICoordinatorLens(coordinator);
        ISecureRoundLens secure = ISecureRoundLens(coordinator);
        ITaskCoordinator.RoundView memory v = lens.roundView(g.taskId);
        ITaskCoordinator.SecureRoundView memory sv = secure.secureRoundOf(g.taskId);
        uint256 t = g.hi;
        uint256 twoM = 2 * uint256(v.committed);
        uint256 k = t <= twoM ? (t + 1) / 2 : (t - twoM - 1) / sv.advertised + 1;
        if (s.commit.index != k) revert DisputeCommitmentMismatch(s.commit.member);
        if (!_commitment(lens, g.taskId, g.round, s.commit).included) return add;
        ITaskCoordinator.SecureMemberView memory km = secure.secureMemberOf(g.taskId, s.commit.member);
        if (t <= twoM) {
            if (t % 2 == 1) return _maskedChunk(v, g.chunk, sv.ringBits, s);
            if (!secureTerms.selfMaskSeedMatches(s.secret, km.selfMaskCommitment)) {
                revert DisputeSecretMismatch(s.commit.member);
            }
            return _negate(secureTerms.maskChunk(s.secret, g.chunk, v.chunkElems, v.numParameters));
        }
        uint256 a = (t - twoM - 1) % sv.advertised;
        ITaskCoordinator.SecureMemberView memory pm = secure.secureMemberOf(g.taskId, s.peer);
        if (pm.advertRound != g.round || pm.advertIndex != a) revert DisputePeerMismatch(s.peer, a);
        if (pm.shareRound != g.round || s.peer == s.commit.member) return add; // no mask with it
        ITaskCoordinator.CommitView memory pc = lens.commitView(g.taskId, s.peer);
        if (pc.lastRound == g.round && pc.included) return add; // both in the sum: masks cancel
        if (!secureTerms.isNeighbour(sv.seed, sv.advertised, km.advertIndex, a)) return add;
        bool before = s.commit.member < s.peer;
        (address first, address second) = before ? (s.commit.member, s.peer) : (s.peer, s.commit.member);
        bytes32 seed = secureTerms.pairwiseSeed(s.secret, pm.maskPk, km.maskPk, g.taskId, g.round, first, second);
        add = secureTerms.maskChunk(seed, g.chunk, v.chunkElems, v.numParameters);
        // k added sign(k, peer)·PRG(seed) (+ when k precedes the peer); taking it off adds the opposite.
        if (before) add = _negate(add);
    }

    /// @dev Chunk `chunk` of a member's masked input (b-bit words, big-endian bit stream),
    ///      opened against its committed root.
    function _maskedChunk(ITaskCoordinator.RoundView memory v, uint256 chunk, uint256 bits, SecureTerm calldata s)
        private
        pure
        returns (uint64[] memory words)
    {
        uint256 len = _chunkLen(v, chunk);
        bytes calldata data = s.masked;
        uint256 want = (len * bits + 7) / 8;
        if (data.length != want) revert DisputeBadChunkLength(data.length, want);
        uint256 d = 2 * MerkleSumTree.depth(_numChunks(v));
        if (s.proof.length != d) revert DisputeBadProofLength(s.proof.length, d);
        (bytes32 h,) = MerkleSumTree.climb(MerkleSumTree.leaf(s.commit.member, chunk, 0, data), 0, chunk, s.proof);
        if (h != s.commit.root) revert DisputeOpeningInvalid();
        words = new uint64[](len);
        for (uint256 e = 0; e < len; ++e) {
            uint256 bit = e * bits;
            uint256 w;
            assembly ("memory-safe") {
                w := shr(sub(256, bits), shl(and(bit, 7), calldataload(add(data.offset, shr(3, bit)))))
            }
            words[e] = uint64(w);
        }
    }

    function _negate(uint64[] memory words) private pure returns (uint64[] memory) {
        unchecked {
            for (uint256 e = 0; e < words.length; ++e) {
                words[e] = 0 - words[e];
            }
        }
        return words;
    }

    // ---------------------------------------------------------------- availability

    /// @notice Require a chunk of the aggregate, the model, or an included member's update (not
    ///         in a secure round) to be opened on-chain within the response window (posting the
    ///         challenge bond). For the
    ///         aggregate and the model, `chunk` may also name a padding leaf (below 2^depth),
    ///         which must then open to the empty node.
    function challengeAvailability(uint256 taskId, uint256 round, Target target, address member, uint256 chunk)
        external
        returns (uint256 id)
    {
        ITaskCoordinator.RoundView memory v = _view(taskId);
        // A secure round's aggregate and model are plain vectors; its masked inputs are not.
        _anyRound(taskId, round, v.secure && target != Target.Update);
        if (target == Target.Update) {
            _chunkLen(v, chunk);
            if (!ICoordinatorLens(coordinator).commitView(taskId, member).included) revert DisputeNotIncluded(member);
        } else {
            // The aggregate's and model's padding leaves too: a root whose padding is not the
            // empty node has no blob that opens it (the vector could never be fetched).
            uint256 leaves = uint256(1) << MerkleSumTree.depth(_numChunks(v));
            if (chunk >= leaves) revert DisputeChunkOutOfRange(chunk, leaves);
            member = address(0);
        }
        id = _open(taskId, round, v, GameKind.Availability, chunk, target, member);
        _games[id].state = GameState.AwaitAnswer;
    }

    /// @notice Answer an availability challenge with the chunk and its proof (anyone may: the
    ///         opening is checked against the root, so a helper cannot hurt the aggregator).
    /// @param c The member's commitment preimage (only for an update; ignored otherwise).
    function answerAvailability(
        uint256 id,
        bytes calldata chunk,
        uint256 chunkSum,
        bytes32[] calldata proof,
        CommitOpening calldata c
    ) external {
        Game storage g = _game(id);
        if (g.state != GameState.AwaitAnswer) revert DisputeWrongState(id, g.state);
        if (block.timestamp >= g.deadline) revert DisputeDeadlinePassed(id, g.deadline);
        ICoordinatorLens lens = ICoordinatorLens(coordinator);
        ITaskCoordinator.RoundView memory v = lens.roundView(g.taskId);
        if (g.target == Target.Update) {
            if (c.member != g.member) revert DisputeCommitmentMismatch(c.member);
            _commitment(lens, g.taskId, g.round, c);
            _verify(v, c.root, c.member, g.chunk, chunkSum, chunk, UPDATE_BYTES, proof);
        } else {
            bytes32 root = g.target == Target.Aggregate ? v.aggregateRoot : v.modelRoot;
            if (g.chunk < _numChunks(v)) {
                _verify(v, root, address(0), g.chunk, 0, chunk, WIDE_BYTES, proof);
            } else {
                // A padding leaf must open to the empty node (hash 0, sum 0), with no data.
                if (chunk.length != 0) revert DisputeBadChunkLength(chunk.length, 0);
                uint256 d = 2 * MerkleSumTree.depth(_numChunks(v));
                if (proof.length != d) revert DisputeBadProofLength(proof.length, d);
                (bytes32 h,) = MerkleSumTree.climb(bytes32(0), 0, g.chunk, proof);
                if (h != root) revert DisputeOpeningInvalid();
            }
        }
        emit ChunkOpened(id, g.chunk, chunk);
        _resolve(id, g, ITaskCoordinator.ChallengeOutcome.Answered, ITaskCoordinator.Fault.Unanswered);
    }

    /// @notice Settle a game whose side to move missed its deadline (or whose aggregate was
    ///         already refuted by another proof: the challenger is refunded). Anyone may call it.
    function timeout(uint256 id) external {
        Game storage g = _game(id);
        GameState st = g.state;
        if (st == GameState.Resolved) revert DisputeWrongState(id, st);
        ITaskCoordinator.RoundView memory v = ICoordinatorLens(coordinator).roundView(g.taskId);
        bool stale = v.round != g.round || v.epoch != g.epoch || v.phase != ITaskCoordinator.Phase.Challenge;
        if (!stale && block.timestamp < g.deadline) revert DisputeDeadlineNotPassed(id, g.deadline);
        bool aggregatorToMove =
            st == GameState.AwaitAggregate || st == GameState.AwaitDefender || st == GameState.AwaitAnswer;
        ITaskCoordinator.ChallengeOutcome outcome = stale
            ? ITaskCoordinator.ChallengeOutcome.Stale
            : aggregatorToMove
                ? ITaskCoordinator.ChallengeOutcome.AggregatorFault
                : ITaskCoordinator.ChallengeOutcome.ChallengerFault;
        _resolve(
            id,
            g,
            outcome,
            g.kind == GameKind.Availability ? ITaskCoordinator.Fault.Unanswered : ITaskCoordinator.Fault.WrongAggregate
        );
    }

    // ---------------------------------------------------------------- one-step proofs

    /// @notice Prove chunk `chunk` of the posted model ≠ global + round_half_even(aggregate / W),
    ///         W the included weight, from three openings (plaintext or secure round). The
    ///         aggregate is void.
    function proveModel(
        uint256 taskId,
        uint256 round,
        uint256 chunk,
        bytes calldata globalChunk,
        bytes32[] calldata globalProof,
        bytes calldata aggregateChunk,
        bytes32[] calldata aggregateProof,
        bytes calldata modelChunk,
        bytes32[] calldata modelProof
    ) external {
        ITaskCoordinator.RoundView memory v = _view(taskId); // plaintext or secure: the same rule
        _anyRound(taskId, round, v.secure);
        _verify(v, v.globalModelRoot, address(0), chunk, 0, globalChunk, WIDE_BYTES, globalProof);
        _verify(v, v.aggregateRoot, address(0), chunk, 0, aggregateChunk, WIDE_BYTES, aggregateProof);
        _verify(v, v.modelRoot, address(0), chunk, 0, modelChunk, WIDE_BYTES, modelProof);
        int256 w = int256(uint256(v.includedWeight));
        uint256 n = modelChunk.length / WIDE_BYTES;
        bool fault;
        for (uint256 e = 0; e < n && !fault; ++e) {
            int256 want = _wide(globalChunk, e) + _divRoundHalfEven(_wide(aggregateChunk, e), w);
            fault = _wide(modelChunk, e) != want;
        }
        if (!fault) revert DisputeNoFault();
        _voidAggregate(taskId, round, v, ITaskCoordinator.Fault.WrongModel);
    }

    /// @notice Prove that the aggregate includes two members with the same committed root.
    function proveDuplicate(uint256 taskId, uint256 round, CommitOpening calldata a, CommitOpening calldata b)
        external
    {
        ITaskCoordinator.RoundView memory v = _round(taskId, round);
        ICoordinatorLens lens = ICoordinatorLens(coordinator);
        ITaskCoordinator.CommitView memory ca = _commitment(lens, taskId, round, a);
        ITaskCoordinator.CommitView memory cb = _commitment(lens, taskId, round, b);
        if (a.member == b.member || a.root != b.root || !ca.included || !cb.included) revert DisputeNoFault();
        _voidAggregate(taskId, round, v, ITaskCoordinator.Fault.DuplicateIncluded);
    }

    /// @notice Prove a member's committed squared norm false: one chunk's declared sum is not its
    ///         sum of squares, or the sums do not add up to the committed norm. The member is
    ///         slashed and left out; an aggregate that counted it is void.
    function proveNormLie(
        uint256 taskId,
        uint256 round,
        CommitOpening calldata c,
        uint256 chunk,
        bytes calldata update,
        uint256 chunkSum,
        bytes32[] calldata proof
    ) external {
        ITaskCoordinator.RoundView memory v = _openRound(taskId, round);
        _commitment(ICoordinatorLens(coordinator), taskId, round, c);
        uint256 top = _verify(v, c.root, c.member, chunk, chunkSum, update, UPDATE_BYTES, proof);
        uint256 squares;
        uint256 n = update.length / UPDATE_BYTES;
        for (uint256 e = 0; e < n; ++e) {
            int256 x = _narrow(update, e);
            squares += uint256(x * x);
        }
        if (squares == chunkSum && top == c.sumSq) revert DisputeNoFault();
        _slashMember(taskId, round, c.member, ITaskCoordinator.Fault.NormLie);
    }

    /// @notice Prove that a member committed a root that opens as `owner`'s vector: a copy of
    ///         someone else's update. The copier is slashed and left out.
    function proveCopy(
        uint256 taskId,
        uint256 round,
        CommitOpening calldata c,
        address owner,
        uint256 chunk,
        bytes calldata update,
        uint256 chunkSum,
        bytes32[] calldata proof
    ) external {
        ITaskCoordinator.RoundView memory v = _openRound(taskId, round);
        _commitment(ICoordinatorLens(coordinator), taskId, round, c);
        if (owner == c.member) revert DisputeNoFault();
        _verify(v, c.root, owner, chunk, chunkSum, update, UPDATE_BYTES, proof);
        _slashMember(taskId, round, c.member, ITaskCoordinator.Fault.Copy);
    }

    // ---------------------------------------------------------------- views

    /// @notice A game's state.
    function game(uint256 id) external view returns (Game memory) {
        return _games[id];
    }

    /// @notice Check an opening against a root (what every proof here does), for clients.
    /// @return valid Whether the opening leads to `root`.
    /// @return topSum The sum at the top of the tree (an update's squared norm).
    function verifyOpening(
        bytes32 root,
        address owner,
        uint256 index,
        uint256 chunkSum,
        bytes calldata chunk,
        bytes32[] calldata proof,
        uint256 numChunks
    ) external pure returns (bool valid, uint256 topSum) {
        if (index >= numChunks || proof.length != 2 * MerkleSumTree.depth(numChunks) || chunkSum > type(uint128).max) {
            return (false, 0);
        }
        bytes32 h;
        (h, topSum) = MerkleSumTree.climb(MerkleSumTree.leaf(owner, index, chunkSum, chunk), chunkSum, index, proof);
        valid = h == root;
    }

    // ---------------------------------------------------------------- internals

    function _view(uint256 taskId) private view returns (ITaskCoordinator.RoundView memory) {
        return ICoordinatorLens(coordinator).roundView(taskId);
    }

    /// @dev The open round, plaintext, with an aggregate under challenge.
    function _round(uint256 taskId, uint256 round) private view returns (ITaskCoordinator.RoundView memory v) {
        v = _anyRound(taskId, round, false);
    }

    /// @dev The open round, with an aggregate under challenge, secure or not as asked.
    function _anyRound(uint256 taskId, uint256 round, bool secure)
        private
        view
        returns (ITaskCoordinator.RoundView memory v)
    {
        v = _view(taskId);
        if (v.round != round || v.secure != secure || v.phase != ITaskCoordinator.Phase.Challenge) {
            revert DisputeNoAggregate(taskId, round);
        }
    }

    /// @dev The open round, plaintext (commitments are checked whether or not it was aggregated).
    function _openRound(uint256 taskId, uint256 round) private view returns (ITaskCoordinator.RoundView memory v) {
        v = _view(taskId);
        if (v.round != round || v.secure) revert DisputeNoAggregate(taskId, round);
    }

    function _commitment(ICoordinatorLens lens, uint256 taskId, uint256 round, CommitOpening calldata c)
        private
        view
        returns (ITaskCoordinator.CommitView memory cv)
    {
        cv = lens.commitView(taskId, c.member);
        if (cv.lastRound != round || cv.commitment != keccak256(abi.encode(round, c.root, c.sumSq, c.index))) {
            revert DisputeCommitmentMismatch(c.member);
        }
    }

    function _numChunks(ITaskCoordinator.RoundView memory v) private pure returns (uint256) {
        return (uint256(v.numParameters) + v.chunkElems - 1) / v.chunkElems;
    }

    /// @dev Elements in chunk `chunk` (the last one holds the rest).
    function _chunkLen(ITaskCoordinator.RoundView memory v, uint256 chunk) private pure returns (uint256) {
        uint256 m = _numChunks(v);
        if (chunk >= m) revert DisputeChunkOutOfRange(chunk, m);
        uint256 rest = uint256(v.numParameters) - chunk * v.chunkElems;
        return rest < v.chunkElems ? rest : v.chunkElems;
    }

    /// @dev Check one opening of a chunk of `width`-byte elements; returns the top sum.
    function _verify(
        ITaskCoordinator.RoundView memory v,
        bytes32 root,
        address owner,
        uint256 index,
        uint256 chunkSum,
        bytes calldata chunk,
        uint256 width,
        bytes32[] calldata proof
    ) private pure returns (uint256 top) {
        uint256 want = _chunkLen(v, index) * width;
        if (chunk.length != want) revert DisputeBadChunkLength(chunk.length, want);
        // The leaf packs the sum as uint128: a wider value would open the same leaf while
        // climbing with another sum (and could frame an honest member's norm).
        if (chunkSum > type(uint128).max) revert DisputeOpeningInvalid();
        uint256 d = 2 * MerkleSumTree.depth(_numChunks(v));
        if (proof.length != d) revert DisputeBadProofLength(proof.length, d);
        bytes32 h;
        (h, top) = MerkleSumTree.climb(MerkleSumTree.leaf(owner, index, chunkSum, chunk), chunkSum, index, proof);
        if (h != root) revert DisputeOpeningInvalid();
    }

    function _open(
        uint256 taskId,
        uint256 round,
        ITaskCoordinator.RoundView memory v,
        GameKind kind,
        uint256 chunk,
        Target target,
        address member
    ) private returns (uint256 id) {
        // One game per challenger and question: a second one by the same challenger is refused,
        // but nobody (a cheater's sock puppet that challenges first and then plays to lose)
        // can keep anyone else from asking the same question.
        bytes32 key = keccak256(abi.encode(taskId, round, v.epoch, kind, target, member, chunk, msg.sender));
        if (_challenged[key]) revert DisputeAlreadyChallenged(taskId, round, chunk);
        _challenged[key] = true;
        uint32 epoch = IDisputeHooks(coordinator).lockChallengeBond(taskId, round, msg.sender);
        id = ++gameCount;
        Game storage g = _games[id];
        g.taskId = uint128(taskId);
        g.round = uint32(round);
        g.epoch = epoch;
        g.chunk = uint32(chunk);
        g.kind = kind;
        g.target = target;
        g.challenger = msg.sender;
        g.aggregator = v.aggregator;
        g.member = member;
        g.deadline = uint64(block.timestamp + v.responseDuration);
        emit ChallengeOpened(id, taskId, round, kind, msg.sender, v.aggregator, chunk, target, member, epoch);
    }

    /// @dev A move by the side whose turn it is, before its deadline.
    function _move(uint256 id, GameState state, bool byAggregator) private view returns (Game storage g) {
        g = _game(id);
        if (g.state != state) revert DisputeWrongState(id, g.state);
        if (msg.sender != (byAggregator ? g.aggregator : g.challenger)) revert DisputeNotYourMove(id, msg.sender);
        if (block.timestamp >= g.deadline) revert DisputeDeadlinePassed(id, g.deadline);
    }

    function _game(uint256 id) private view returns (Game storage g) {
        g = _games[id];
        if (g.state == GameState.None) revert DisputeUnknownGame(id);
    }

    function _nextQuery(Game storage g) private {
        uint256 lo = g.lo;
        uint256 hi = g.hi;
        if (hi - lo <= 1) {
            g.state = GameState.AwaitProof;
        } else {
            g.query = uint32((lo + hi) / 2);
            g.state = GameState.AwaitDefender;
        }
        g.deadline = uint64(block.timestamp + _view(g.taskId).responseDuration);
    }

    function _resolve(
        uint256 id,
        Game storage g,
        ITaskCoordinator.ChallengeOutcome outcome,
        ITaskCoordinator.Fault fault
    ) private {
        g.state = GameState.Resolved;
        emit ChallengeResolved(id, outcome);
        if (outcome == ITaskCoordinator.ChallengeOutcome.AggregatorFault) {
            emit FaultProven(g.taskId, g.round, fault, g.aggregator, g.challenger);
        }
        IDisputeHooks(coordinator).settleChallenge(g.taskId, g.round, g.epoch, g.challenger, outcome, fault);
    }

    function _voidAggregate(
        uint256 taskId,
        uint256 round,
        ITaskCoordinator.RoundView memory v,
        ITaskCoordinator.Fault fault
    ) private {
        emit FaultProven(taskId, round, fault, v.aggregator, msg.sender);
        IDisputeHooks(coordinator).voidAggregate(taskId, round, v.epoch, fault, msg.sender);
    }

    function _slashMember(uint256 taskId, uint256 round, address member, ITaskCoordinator.Fault fault) private {
        emit FaultProven(taskId, round, fault, member, msg.sender);
        IDisputeHooks(coordinator).slashMember(taskId, round, member, fault, msg.sender);
    }

    /// @dev Element e of a chunk of big-endian int64s.
    function _wide(bytes calldata chunk, uint256 e) private pure returns (int256 x) {
        assembly ("memory-safe") {
            x := signextend(7, shr(192, calldataload(add(chunk.offset, mul(e, 8)))))
        }
    }

    /// @dev Element e of a chunk of big-endian uint64s (a secure game's running sum).
    function _word(bytes calldata chunk, uint256 e) private pure returns (uint256 x) {
        assembly ("memory-safe") {
            x := shr(192, calldataload(add(chunk.offset, mul(e, 8))))
        }
    }

    /// @dev Element e of a chunk of big-endian int32s.
    function _narrow(bytes calldata chunk, uint256 e) private pure returns (int256 x) {
        assembly ("memory-safe") {
            x := signextend(3, shr(224, calldataload(add(chunk.offset, mul(e, 4)))))
        }
    }

    /// @dev round_half_even(a / w) for w > 0, as `fedchain.aggregation.divide_round_half_even`.
    function _divRoundHalfEven(int256 a, int256 w) private pure returns (int256 q) {
        q = a / w;
        int256 r = a % w;
        if (r < 0) {
            q -= 1;
            r += w;
        }
        if (2 * r > w || (2 * r == w && q % 2 != 0)) q += 1;
    }
}
