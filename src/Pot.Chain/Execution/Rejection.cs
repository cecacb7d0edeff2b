namespace Pot.Chain.Execution;

/// <summary>Why a transaction or block was rejected. Each code is specific, so tests and clients can act on it.</summary>
public enum RejectionCode
{
    /// <summary>The bytes do not decode as a canonical transaction or block.</summary>
    Malformed,

    /// <summary>Larger than a size limit.</summary>
    Oversize,

    /// <summary>The chain id is not this chain's.</summary>
    WrongChainId,

    /// <summary>The signature does not verify.</summary>
    BadSignature,

    /// <summary>The nonce was already used (a replay).</summary>
    NonceTooLow,

    /// <summary>The nonce is above the account's next nonce.</summary>
    NonceGap,

    /// <summary>The fee is below size × minFeePerByte.</summary>
    FeeTooLow,

    /// <summary>The balance does not cover fee plus amount.</summary>
    InsufficientBalance,

    /// <summary>The stake does not cover the amount or the role's minimum.</summary>
    InsufficientStake,

    /// <summary>An amount or parameter is out of range (zero amounts, bad windows, ...).</summary>
    InvalidParameter,

    /// <summary>The sender lacks the role the transaction needs.</summary>
    MissingRole,

    /// <summary>The sender already holds the role.</summary>
    DuplicateRole,

    /// <summary>The validator set is full.</summary>
    ValidatorSetFull,

    /// <summary>No such task.</summary>
    UnknownTask,

    /// <summary>The task's escrow is exhausted.</summary>
    TaskFinished,

    /// <summary>The round is not the task's current round.</summary>
    WrongRound,

    /// <summary>The base root is not the task's current model root.</summary>
    WrongBaseRoot,

    /// <summary>The miner already submitted in this round.</summary>
    DuplicateSubmission,

    /// <summary>The round holds the maximum number of submissions.</summary>
    TooManySubmissions,

    /// <summary>No such pending submission.</summary>
    UnknownSubmission,

    /// <summary>A miner attesting its own submission.</summary>
    SelfAttestation,

    /// <summary>The verifier already attested this submission.</summary>
    DuplicateAttestation,

    /// <summary>The submission holds the maximum number of attestations.</summary>
    TooManyAttestations,

    /// <summary>A fraud proof against this submission was already upheld.</summary>
    DuplicateFraudProof,

    /// <summary>The protocol rules rejected the fraud proof.</summary>
    FraudProofRejected,

    /// <summary>The verification window of the round has not elapsed.</summary>
    WindowNotElapsed,

    /// <summary>The finalize transaction's outcome differs from the protocol rules' outcome.</summary>
    OutcomeMismatch,

    /// <summary>The bookkeeping of an outcome is impossible (rewards above escrow, slash above stake).</summary>
    BookkeepingViolation,

    /// <summary>A balance or counter would overflow 64 bits.</summary>
    Overflow,

    /// <summary>A block-level rule failed (height, parent, time, proposer, roots, certificate).</summary>
    InvalidBlock,

    /// <summary>The mempool already holds this transaction.</summary>
    Duplicate,

    /// <summary>The mempool already holds a different transaction with this sender and nonce.</summary>
    NonceAlreadyPending,

    /// <summary>The mempool is full and the transaction's fee rate does not beat the lowest one held.</summary>
    MempoolFull,

    /// <summary>The sender has the maximum number of pending transactions.</summary>
    SenderQueueFull,

    /// <summary>The round's submission window (the W blocks after its start) has closed.</summary>
    WindowClosed,

    /// <summary>The submission's challenge has not opened yet (it opens with the block after the one that included it).</summary>
    ChallengeNotOpen,

    /// <summary>The sender is not one of the verifiers the challenge assigned to the submission.</summary>
    NotAssignedVerifier,

    /// <summary>The protocol rules rejected the attestation (for example it does not declare the mandated checks).</summary>
    AttestationRejected,

    /// <summary>Judging needs content-addressed data this node does not hold yet; not a verdict.</summary>
    DataUnavailable,
}

/// <summary>A rejection: a specific code and a message naming what was wrong and what was expected.</summary>
/// <param name="Code">The code.</param>
/// <param name="Message">The message.</param>
public sealed record Rejection(RejectionCode Code, string Message)
{
    /// <summary>"Code: message".</summary>
    /// <returns>The text.</returns>
    public override string ToString() => $"{Code}: {Message}";
}

/// <summary>Thrown inside execution to abandon a transaction; the caller turns it into a <see cref="Rejection"/>.</summary>
public sealed class RejectedException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="code">The code.</param>
    /// <param name="message">What was wrong and what was expected.</param>
    public RejectedException(RejectionCode code, string message) : base(message) => Code = code;

    /// <summary>The code.</summary>
    public RejectionCode Code { get; }

    /// <summary>The rejection.</summary>
    public Rejection Rejection => new(Code, Message);
}
