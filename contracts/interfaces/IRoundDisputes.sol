// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ITaskCoordinator} from "./ITaskCoordinator.sol";

/// @title IRoundDisputes
/// @notice Types, errors and events of the dispute game. Errors carry the `Dispute` prefix.
interface IRoundDisputes {
    /// @notice What a bonded challenge is about.
    enum GameKind {
        None,
        Sum,
        Availability,
        SecureSum
    }

    /// @notice Whose move it is in a bonded challenge.
    enum GameState {
        None,
        AwaitAggregate, // aggregator: open the disputed chunk of the aggregate (with its proof)
        AwaitDefender, // aggregator: state the running sum at `query`
        AwaitChallenger, // challenger: agree or disagree with the running sum at `query`
        AwaitProof, // challenger: prove the one step lo → hi wrong
        AwaitAnswer, // anyone: open the requested chunk on-chain (availability)
        Resolved
    }

    /// @notice The vector an availability challenge asks to see.
    enum Target {
        Aggregate,
        Model,
        Update
    }

    /// @notice A member's commitment as the coordinator stores it (its preimage).
    struct CommitOpening {
        address member;
        bytes32 root;
        uint256 sumSq;
        uint256 index;
    }

    /// @notice No game with this id.
    error DisputeUnknownGame(uint256 id);
    /// @notice The game is not waiting for this move.
    error DisputeWrongState(uint256 id, GameState state);
    /// @notice Only the named side may make this move.
    error DisputeNotYourMove(uint256 id, address caller);
    /// @notice The move came after its response deadline.
    error DisputeDeadlinePassed(uint256 id, uint256 deadline);
    /// @notice A timeout was claimed before the response deadline.
    error DisputeDeadlineNotPassed(uint256 id, uint256 deadline);
    /// @notice The chunk index is not in the task's vectors.
    error DisputeChunkOutOfRange(uint256 chunk, uint256 numChunks);
    /// @notice A Merkle proof must have exactly 2·depth words.
    error DisputeBadProofLength(uint256 got, uint256 want);
    /// @notice A chunk must have exactly the bytes its index holds.
    error DisputeBadChunkLength(uint256 got, uint256 want);
    /// @notice The opening does not lead to the committed root.
    error DisputeOpeningInvalid();
    /// @notice The commitment preimage does not match what the member committed this round.
    error DisputeCommitmentMismatch(address member);
    /// @notice This challenger already challenged this chunk (or asked for it) of this aggregate.
    error DisputeAlreadyChallenged(uint256 taskId, uint256 round, uint256 chunk);
    /// @notice The proof is valid but shows no fault.
    error DisputeNoFault();
    /// @notice A running sum differs from the one stated earlier in the game.
    error DisputeHashMismatch();
    /// @notice The member's update is not part of the current aggregate.
    error DisputeNotIncluded(address member);
    /// @notice The round has no aggregate under challenge, or is not of the kind (plaintext or
    ///         secure) this proof is for.
    error DisputeNoAggregate(uint256 taskId, uint256 round);
    /// @notice A secure round's dispute needs whole bytes per chunk of masked words, i.e. a
    ///         task chunk size that is a multiple of 8 elements.
    error DisputeSecureLayout(uint256 chunkElems);
    /// @notice The opened running sum, read in the round's ring Z_2^b, is not the aggregate.
    error DisputeRingMismatch(uint256 element);
    /// @notice The member named for a pairwise term is not the one advertised at that index.
    error DisputePeerMismatch(address peer, uint256 index);
    /// @notice The revealed self-mask seed does not match the member's on-chain commitment.
    error DisputeSecretMismatch(address member);

    /// @notice One term of a secure round's sum, as `proveSecureStep` recomputes it. Term t of
    ///         chunk c, with m committed members (commit index k = 1..m) and n advertisers
    ///         (U1 index a = 0..n-1): t = 2k-1 is +yₖ[c] (k's masked input), t = 2k is
    ///         -PRG(bₖ)[c] (its self mask), both 0 unless k is included; t = 2m + (k-1)·n + a + 1
    ///         is the mask k added for the advertiser at index a, taken off: -sign·PRG(s)[c],
    ///         non-zero only when k is included, a shared keys, is not included, and is k's
    ///         neighbour (s from a's revealed mask key).
    /// @param commit The commitment of member k.
    /// @param peer For a pairwise term, the advertiser at index a.
    /// @param secret The self-mask seed bₖ, or the peer's mask secret key.
    /// @param masked For t = 2k-1, chunk c of k's masked input (b bits a word), with `proof`.
    struct SecureTerm {
        CommitOpening commit;
        address peer;
        bytes32 secret;
        bytes masked;
        bytes32[] proof;
    }

    event ChallengeOpened(
        uint256 indexed id,
        uint256 indexed taskId,
        uint256 indexed round,
        GameKind kind,
        address challenger,
        address aggregator,
        uint256 chunk,
        Target target,
        address member,
        uint256 epoch
    );
    /// @notice A chunk opened on-chain (a running sum, or data asked for); its bytes are here.
    event ChunkOpened(uint256 indexed id, uint256 position, bytes chunk);
    event Bisected(uint256 indexed id, bool agreed, uint256 lo, uint256 hi);
    event ChallengeResolved(uint256 indexed id, ITaskCoordinator.ChallengeOutcome outcome);
    event FaultProven(
        uint256 indexed taskId, uint256 indexed round, ITaskCoordinator.Fault fault, address accused, address prover
    );
}
