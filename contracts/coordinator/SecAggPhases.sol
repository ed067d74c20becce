// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
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
    using SafeERC20 for IERC20;

    constructor(IERC20 token_) CoordinatorCore(token_) {}

    /// @notice Share of a stake slashed for committing a round nonce and not revealing it.
    uint256 public constant UNREVEALED_SLASH_BPS = 100;

    /// @notice SecAgg+ round 0: advertise this round's two ephemeral X25519 public keys (raw,
    ///         as RFC 7748 encodes them), and reveal the nonce committed for this round (ignored
    ///         when none was), which enters the round's seed. The keys are on-chain so that a
    ///         dispute can check a revealed mask key against them. The first advertisement of a
    ///         round finalizes the previous one when it is due.
    function advertiseKeys(uint256 taskId, uint256 round, bytes32 encPk, bytes32 maskPk, bytes32 nonce) external {
        Task storage t = _tasks[taskId];
        RoundState memory s = t.state;
        if (s.phase == Phase.None) revert CoordinatorUnknownTask(taskId);
        if (!s.secure) revert CoordinatorNotSecure(taskId);
        if (round == uint256(s.round) + 1) _advanceIfDue(taskId, t, s);
        SecureMember storage sm = _secureMember(taskId, s, round, Phase.Advertise, encPk);
        if (_members[taskId][msg.sender].lastRound == round) {
            revert CoordinatorAlreadyCommitted(taskId, round, msg.sender); // joined mid-round
        }
        if (sm.advertRound == round) revert CoordinatorAlreadySubmitted(taskId, round, Phase.Advertise, msg.sender);
        _checkKey(encPk);
        _checkKey(maskPk);
        if (encPk == maskPk) revert CoordinatorBadKey(maskPk);
        sm.advertRound = uint32(round);
        if (sm.nonceRound == round) {
            if (keccak256(abi.encode(nonce, msg.sender, taskId, round)) != _nonceHashes[taskId][msg.sender]) {
                revert CoordinatorNonceMismatch(taskId, round, msg.sender);
            }
            sm.revealRound = uint32(round);
            _revealed[taskId] ^= nonce;
            emit NonceRevealed(taskId, round, msg.sender, nonce);
        }
        SecureCounts storage c = _secureCounts[taskId];
        uint32 index = c.advertised;
        sm.advertIndex = index;
        _secureKeys[taskId][msg.sender].maskPk = maskPk;
        c.advertised = index + 1;
        emit KeysAdvertised(taskId, round, msg.sender, encPk, maskPk, index);
        if (index + 1 >= s.members) _enterPhase(taskId, t, s, Phase.Share);
    }

    /// @notice SecAgg+ round 1: publish the digest of the key shares encrypted to neighbours
    ///         and sha256 of the self-mask seed they share (what a reconstruction, or a
    ///         dispute, checks it against), and commit keccak256(abi.encode(nonce, member,
    ///         taskId, round + 1)) for the next round's seed (zero: none). The event carries the
    ///         member's weight (fixed at join): the round's weights bound its aggregate before
    ///         anyone masks, which fixes the ring.
    function shareKeys(
        uint256 taskId,
        uint256 round,
        bytes32 digest,
        bytes32 nextNonceHash,
        bytes32 selfMaskCommitment
    ) external {
        Task storage t = _tasks[taskId];
        RoundState memory s = t.state;
        SecureMember storage sm = _secureMember(taskId, s, round, Phase.Share, digest);
        if (selfMaskCommitment == bytes32(0)) revert CoordinatorZeroCommitment();
        if (sm.advertRound != round) revert CoordinatorMissedPhase(taskId, round, Phase.Advertise, msg.sender);
        if (sm.shareRound == round) revert CoordinatorAlreadySubmitted(taskId, round, Phase.Share, msg.sender);
        sm.shareRound = uint32(round);
        if (nextNonceHash != bytes32(0)) {
            sm.nonceRound = uint32(round + 1);
            _nonceHashes[taskId][msg.sender] = nextNonceHash;
            emit NonceCommitted(taskId, round + 1, msg.sender, nextNonceHash);
        }
        _secureKeys[taskId][msg.sender].selfMaskCommitment = selfMaskCommitment;
        uint256 weight = _members[taskId][msg.sender].weight;
        SecureCounts storage c = _secureCounts[taskId];
        c.shared += 1;
        c.sharedWeight += uint64(weight);
        emit KeysShared(taskId, round, msg.sender, digest, weight, selfMaskCommitment);
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

    /// @notice SecAgg+ round 3: publish the digest of this survivor's unmask shares, and
    ///         `revealed` = keccak256(abi.encode(bitmap)) of the U1 indices whose self-mask share
    ///         they hold (what a dispute shows when an aggregate leaves one of those out).
    function unmask(uint256 taskId, uint256 round, bytes32 digest, bytes32 revealed) external {
        Task storage t = _tasks[taskId];
        RoundState memory s = t.state;
        SecureMember storage sm = _secureMember(taskId, s, round, Phase.Unmask, digest);
        if (_members[taskId][msg.sender].lastRound != round || sm.shareRound != round) {
            revert CoordinatorNotCommitted(taskId, round, msg.sender);
        }
        if (sm.unmaskRound == round) revert CoordinatorAlreadySubmitted(taskId, round, Phase.Unmask, msg.sender);
        sm.unmaskRound = uint32(round);
        _secureKeys[taskId][msg.sender].revealedSelfShares = revealed;
        SecureCounts storage c = _secureCounts[taskId];
        c.unmasked += 1;
        emit UnmaskSharesPosted(taskId, round, msg.sender, digest, revealed);
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

    /// @notice Slash a member that committed a nonce for `round` and did not reveal it while
    ///         that round's advertise phase was open (a small liveness slash: half to the
    ///         caller, half to the pool). Anyone may call it once that phase has closed.
    function slashUnrevealed(uint256 taskId, uint256 round, address member) external nonReentrant {
        Task storage t = _tasks[taskId];
        RoundState memory s = t.state;
        if (s.phase == Phase.None) revert CoordinatorUnknownTask(taskId);
        if (round > s.round || (round == s.round && s.phase == Phase.Advertise)) {
            revert CoordinatorWrongPhase(taskId, Phase.Share, s.phase);
        }
        SecureMember storage sm = _secureMembers[taskId][member];
        if (sm.nonceRound != round || sm.revealRound == round) revert CoordinatorNotWithheld(taskId, round, member);
        sm.revealRound = uint32(round); // once
        Member storage m = _members[taskId][member];
        uint256 amount = uint256(m.stake) * UNREVEALED_SLASH_BPS / 10_000;
        m.stake -= uint96(amount);
        uint256 reward = amount / 2;
        t.pool += uint128(amount - reward);
        emit Slashed(taskId, round, member, amount, Fault.Unrevealed, msg.sender, reward);

        if (reward > 0) token.safeTransfer(msg.sender, reward);
    }

    /// @notice A member's secure-round record: the last rounds it advertised and shared keys
    ///         in, its index in that round's U1, its mask public key and the sha256 commitment
    ///         to its self-mask seed (what a dispute of a secure round checks secrets against).
    function secureMemberOf(uint256 taskId, address account) external view returns (SecureMemberView memory v) {
        SecureMember memory sm = _secureMembers[taskId][account];
        SecureKeys memory k = _secureKeys[taskId][account];
        v = SecureMemberView(
            sm.advertRound,
            sm.shareRound,
            sm.unmaskRound,
            sm.advertIndex,
            k.maskPk,
            k.selfMaskCommitment,
            k.revealedSelfShares
        );
    }

    /// @notice The open secure round as a dispute needs it: |U1|, |U2|, |U4|, Σ weights of U2,
    ///         the width b of its ring Z_2^b (⌊√normBound⌋·W must fit a two's-complement b-bit
    ///         integer; 0 before anyone shared keys) and the seed its neighbour graph is drawn from.
    function secureRoundOf(uint256 taskId) external view returns (SecureRoundView memory v) {
        SecureCounts memory c = _secureCounts[taskId];
        RoundState memory s = _tasks[taskId].state;
        uint256 bound = Math.sqrt(uint256(s.normMantissa) << s.normShift) * c.sharedWeight;
        v = SecureRoundView(
            c.advertised, c.shared, c.unmasked, c.sharedWeight, bound == 0 ? 0 : Math.log2(bound) + 2, _roundSeeds[taskId]
        );
    }

    /// @dev Refuse a key no pairwise agreement could use: zero, or one of the small-order
    ///      u-coordinates of Curve25519 (bit 255 is ignored, as X25519 ignores it).
    function _checkKey(bytes32 key) private pure {
        bytes32 u = key & ~bytes32(uint256(0x80)); // bit 255 = top bit of the last byte
        if (
            u == bytes32(0) || u == 0x0100000000000000000000000000000000000000000000000000000000000000
                || u == 0xe0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800
                || u == 0x5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157
                || u == 0xecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f
                || u == 0xedffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f
                || u == 0xeeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f
        ) revert CoordinatorBadKey(key);
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
