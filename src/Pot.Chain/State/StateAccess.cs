using Pot.Commitments;

namespace Pot.Chain.State;

/// <summary>Typed reads and writes of the state's records.</summary>
public static class StateAccess
{
    /// <summary>The chain meta record.</summary>
    /// <param name="s">State.</param>
    /// <returns>The record.</returns>
    /// <exception cref="PotFormatException">Missing (not a chain state).</exception>
    public static ChainMeta Meta(IStateReader s) => ChainMeta.Decode(Require(s, StateKeys.Meta, "chain meta"));

    /// <summary>The chain parameters.</summary>
    /// <param name="s">State.</param>
    /// <returns>The parameters.</returns>
    public static ChainParameters Parameters(IStateReader s) => ChainParameters.Decode(Require(s, StateKeys.Parameters, "chain parameters"));

    /// <summary>The validator set.</summary>
    /// <param name="s">State.</param>
    /// <returns>The set.</returns>
    public static ValidatorSet Validators(IStateReader s) => ValidatorSet.Decode(Require(s, StateKeys.ValidatorSet, "validator set"));

    /// <summary>An account, or <see cref="Account.Empty"/> when absent.</summary>
    /// <param name="s">State.</param>
    /// <param name="address">20-byte address.</param>
    /// <returns>The account.</returns>
    public static Account Account(IStateReader s, ReadOnlySpan<byte> address)
    {
        ArgumentNullException.ThrowIfNull(s);
        byte[]? v = s.Get(StateKeys.Account(address));
        return v is null ? State.Account.Empty : State.Account.Decode(v);
    }

    /// <summary>Writes an account (deleting it when empty, so that "absent" has one representation).</summary>
    /// <param name="o">Overlay.</param>
    /// <param name="address">20-byte address.</param>
    /// <param name="account">The account.</param>
    public static void SetAccount(StateOverlay o, ReadOnlySpan<byte> address, Account account)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(account);
        byte[] key = StateKeys.Account(address);
        if (account.IsEmpty)
        {
            o.Delete(key);
        }
        else
        {
            o.Set(key, account.Encode());
        }
    }

    /// <summary>A task's static information, or null.</summary>
    /// <param name="s">State.</param>
    /// <param name="taskId">Task id.</param>
    /// <returns>The record or null.</returns>
    public static TaskInfo? TaskInfo(IStateReader s, ulong taskId) => s.Get(StateKeys.TaskInfo(taskId)) is byte[] v ? State.TaskInfo.Decode(v) : null;

    /// <summary>A task's round state, or null.</summary>
    /// <param name="s">State.</param>
    /// <param name="taskId">Task id.</param>
    /// <returns>The record or null.</returns>
    public static TaskRound? TaskRound(IStateReader s, ulong taskId) => s.Get(StateKeys.TaskRound(taskId)) is byte[] v ? State.TaskRound.Decode(v) : null;

    /// <summary>A pending submission, or null.</summary>
    /// <param name="s">State.</param>
    /// <param name="id">Submission id.</param>
    /// <returns>The record or null.</returns>
    public static Submission? Submission(IStateReader s, ReadOnlySpan<byte> id) => s.Get(StateKeys.Submission(id)) is byte[] v ? State.Submission.Decode(v) : null;

    /// <summary>The upheld fraud proof against a submission, or null.</summary>
    /// <param name="s">State.</param>
    /// <param name="id">Submission id.</param>
    /// <returns>The record or null.</returns>
    public static FraudProofRecord? FraudProof(IStateReader s, ReadOnlySpan<byte> id) => s.Get(StateKeys.FraudProof(id)) is byte[] v ? FraudProofRecord.Decode(v) : null;

    /// <summary>A miner's last accepted submission in a task, or null when none was accepted yet.</summary>
    /// <param name="s">State.</param>
    /// <param name="taskId">Task id.</param>
    /// <param name="miner">20-byte miner address.</param>
    /// <returns>The record or null.</returns>
    public static LastAccepted? LastAccepted(IStateReader s, ulong taskId, ReadOnlySpan<byte> miner) =>
        s.Get(StateKeys.LastAccepted(taskId, miner)) is byte[] v ? State.LastAccepted.Decode(v) : null;

    private static byte[] Require(IStateReader s, byte[] key, string what)
    {
        ArgumentNullException.ThrowIfNull(s);
        return s.Get(key) ?? throw new PotFormatException($"state has no {what} record (key {Hex.Encode(key)}); expected a state built from a genesis");
    }
}

/// <summary>Sums every holding in a state to check the supply invariant.</summary>
public static class SupplyAudit
{
    /// <summary>Holdings by kind.</summary>
    /// <param name="Balances">Sum of account balances.</param>
    /// <param name="Stakes">Sum of account stakes.</param>
    /// <param name="Unbonding">Sum of queued unbonding amounts.</param>
    /// <param name="Escrow">Sum of task escrows.</param>
    /// <param name="Burned">Burned so far.</param>
    /// <param name="TotalSupply">The genesis total supply.</param>
    public sealed record Totals(UInt128 Balances, UInt128 Stakes, UInt128 Unbonding, UInt128 Escrow, ulong Burned, ulong TotalSupply)
    {
        /// <summary>Balances + stakes + unbonding + escrow + burned.</summary>
        public UInt128 Accounted => Balances + Stakes + Unbonding + Escrow + Burned;

        /// <summary>True when <see cref="Accounted"/> equals the total supply.</summary>
        public bool Conserved => Accounted == TotalSupply;
    }

    /// <summary>Walks the whole state (in key order) and sums the holdings.</summary>
    /// <param name="state">The state.</param>
    /// <returns>The totals.</returns>
    public static Totals Compute(ChainState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        UInt128 balances = 0, stakes = 0, unbonding = 0, escrow = 0;
        foreach (var kv in state.Entries)
        {
            switch (kv.Key[0])
            {
                case StateKeys.AccountPrefix:
                    var a = Account.Decode(kv.Value);
                    balances += a.Balance;
                    stakes += a.Stake;
                    break;
                case StateKeys.UnbondingPrefix:
                    foreach (var e in UnbondingBatch.Decode(kv.Value).Entries)
                    {
                        unbonding += e.Amount;
                    }
                    break;
                case StateKeys.TaskPrefix when kv.Key[^1] == 0x01:
                    escrow += TaskRound.Decode(kv.Value).Escrow;
                    break;
            }
        }
        var meta = StateAccess.Meta(state);
        return new Totals(balances, stakes, unbonding, escrow, meta.Burned, meta.TotalSupply);
    }
}
