using System.Globalization;
using Pot.Learning.Randomness;

namespace Pot.Learning.Data;

/// <summary>
/// The embedded default task: multi-digit addition, generated on the fly (no download).
/// </summary>
/// <remarks>
/// <para>A problem (a, b) with 0 ≤ a, b &lt; 10^D is the text <c>"aa+bb="</c> (operands zero-padded
/// to D digits) followed by the sum written <em>reversed</em> with D+1 digits — for D = 2,
/// 5 + 37 = 42 is <c>"05+37=" "240"</c>. Reversed answers let a left-to-right model produce the
/// low digit first, as a person adds.</para>
/// <para>Vocabulary (12 tokens): '0'…'9' → 0…9, '+' → 10, '=' → 11. No end or pad token is needed
/// because every sequence has the same length 3D+3 and the answer always has D+1 digits.</para>
/// <para>Sequences: inputs are the first 3D+2 tokens (so <see cref="SeqLen"/> = 3D+2), targets are the
/// next token at the D+1 answer positions (input positions 2D+1 … 3D+1, i.e. from '=' on) and -1
/// elsewhere.</para>
/// <para>Held-out split: every problem gets the 64-bit hash
/// <c>h(a,b) = X0 + 2³²·X1</c> of <c>Philox.Words(HeldOutKey, D, a·10^D + b)</c>, where
/// <c>HeldOutKey = Philox.DeriveKey(0, "pot/data/addition/held-out")</c>; the problems are ordered
/// by (h, a·10^D + b) and the first exactly 10% in that order are held out (1,000 for D = 2,
/// 100,000 for D = 3). That order is also the order of <see cref="HeldOut"/> and of the validation
/// batches. Training never samples a held-out problem.</para>
/// <para>Training batch for <see cref="BatchKey"/> k: with <c>key = k.DataKey(Name)</c>, row i tries
/// candidates j = 0, 1, 2, … with <c>(X0, X1, X2, X3) = Philox.Words(key, k.Step, i·2¹⁶ + j)</c>,
/// <c>a = Uniform(X0, X1, 10^D)</c>, <c>b = Uniform(X2, X3, 10^D)</c>, and takes the first
/// candidate that is not held out (Uniform = 64-bit multiply-shift, see docs/data.md).</para>
/// </remarks>
public sealed class AdditionTask : ITokenTask
{
    /// <summary>Token of '+'.</summary>
    public const int PlusToken = 10;

    /// <summary>Token of '='.</summary>
    public const int EqualsToken = 11;

    /// <summary>The fraction of problems held out, as 1 / HeldOutDivisor.</summary>
    public const int HeldOutDivisor = 10;

    private const int MaxAttempts = 1 << 16;

    private static readonly ulong HeldOutKey = Philox.DeriveKey(0, "pot/data/addition/held-out");

    private static readonly Lazy<Split> Split2 = new(() => new Split(2));
    private static readonly Lazy<Split> Split3 = new(() => new Split(3));

    private readonly Split _split;

    /// <summary>Creates the task for D-digit operands.</summary>
    /// <param name="digits">D: 2 (the default task "addition") or 3 ("addition3").</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="digits"/> is not 2 or 3.</exception>
    public AdditionTask(int digits = 2)
    {
        if (digits != 2 && digits != 3)
        {
            throw new ArgumentOutOfRangeException(nameof(digits), digits, "addition supports 2 or 3 digits per operand");
        }

        Digits = digits;
        _split = digits == 2 ? Split2.Value : Split3.Value;
    }

    /// <summary>D: digits per operand.</summary>
    public int Digits { get; }

    /// <summary>"addition" for D = 2, "addition3" for D = 3.</summary>
    public string Name => Digits == 2 ? "addition" : "addition" + Digits.ToString(CultureInfo.InvariantCulture);

    /// <summary>12: the digits, '+' and '='.</summary>
    public int VocabSize => 12;

    /// <summary>3D+2: the whole problem except its last answer digit.</summary>
    public int SeqLen => 3 * Digits + 2;

    /// <summary>Length of the prompt "aa+bb=": 2D+2.</summary>
    public int PromptLength => 2 * Digits + 2;

    /// <summary>Length of the answer: D+1.</summary>
    public int AnswerLength => Digits + 1;

    /// <summary>10^D: the number of values of each operand.</summary>
    public int OperandCount => _split.OperandCount;

    /// <summary>Number of held-out problems: exactly 10^(2D) / 10.</summary>
    public int HeldOutCount => _split.HeldOutOrder.Length;

    /// <summary>Whether (a, b) belongs to the held-out split (never used for training).</summary>
    /// <param name="a">First operand, 0 ≤ a &lt; 10^D.</param>
    /// <param name="b">Second operand, 0 ≤ b &lt; 10^D.</param>
    /// <returns>True when held out.</returns>
    public bool IsHeldOut(int a, int b)
    {
        CheckOperand(a, nameof(a));
        CheckOperand(b, nameof(b));
        return _split.IsHeldOut[a * _split.OperandCount + b];
    }

    /// <summary>The first <paramref name="count"/> held-out problems in the split's fixed order.</summary>
    /// <param name="count">0 … <see cref="HeldOutCount"/> (1,000 for the accuracy metric).</param>
    /// <returns>Prompts like "05+37=" with expected answers like "240".</returns>
    public IReadOnlyList<(string Prompt, string Answer)> HeldOut(int count)
    {
        if (count < 0 || count > HeldOutCount)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, $"{Name} has {HeldOutCount} held-out problems");
        }

        var result = new (string, string)[count];
        for (int i = 0; i < count; i++)
        {
            var (a, b) = HeldOutProblem(i);
            result[i] = (FormatPrompt(a, b, Digits), ExpectedAnswer(a, b, Digits));
        }

        return result;
    }

    /// <summary>Held-out problem number <paramref name="index"/> in the split's fixed order.</summary>
    /// <param name="index">0 … <see cref="HeldOutCount"/>-1.</param>
    /// <returns>The operands.</returns>
    public (int A, int B) HeldOutProblem(int index)
    {
        if ((uint)index >= (uint)HeldOutCount)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"{Name} has {HeldOutCount} held-out problems");
        }

        int id = _split.HeldOutOrder[index];
        return (id / _split.OperandCount, id % _split.OperandCount);
    }

    /// <summary>The prompt for (a, b): both operands zero-padded to <paramref name="digits"/>, e.g. "05+37=".</summary>
    /// <param name="a">First operand.</param>
    /// <param name="b">Second operand.</param>
    /// <param name="digits">D (2 or 3).</param>
    /// <returns>The prompt text.</returns>
    public static string FormatPrompt(int a, int b, int digits)
    {
        CheckStatic(a, b, digits);
        string format = "D" + digits.ToString(CultureInfo.InvariantCulture);
        return a.ToString(format, CultureInfo.InvariantCulture) + "+" + b.ToString(format, CultureInfo.InvariantCulture) + "=";
    }

    /// <summary>The expected answer: a+b with D+1 digits, written reversed (05+37 → "240").</summary>
    /// <param name="a">First operand, 0 ≤ a &lt; 10^D.</param>
    /// <param name="b">Second operand, 0 ≤ b &lt; 10^D.</param>
    /// <param name="digits">D (2 or 3).</param>
    /// <returns>The answer text.</returns>
    public static string ExpectedAnswer(int a, int b, int digits)
    {
        CheckStatic(a, b, digits);
        int sum = a + b;
        var chars = new char[digits + 1];
        for (int i = 0; i <= digits; i++)
        {
            chars[i] = (char)('0' + sum % 10);
            sum /= 10;
        }

        return new string(chars);
    }

    /// <summary>
    /// Parses a generated answer: exactly D+1 characters, all digits, low digit first ("240" → 42).
    /// Anything else (wrong length, '+', '=') fails. Generation produces exactly D+1 tokens after
    /// the prompt, so no end token is involved.
    /// </summary>
    /// <param name="answer">The generated answer text.</param>
    /// <param name="digits">D (2 or 3).</param>
    /// <param name="sum">The parsed sum when successful, else 0.</param>
    /// <returns>True when the text is a well-formed answer.</returns>
    public static bool TryParseAnswer(ReadOnlySpan<char> answer, int digits, out int sum)
    {
        sum = 0;
        if (digits < 1 || digits > 9 || answer.Length != digits + 1)
        {
            return false;
        }

        int value = 0;
        for (int i = answer.Length - 1; i >= 0; i--)
        {
            char c = answer[i];
            if (c < '0' || c > '9')
            {
                return false;
            }

            value = value * 10 + (c - '0');
        }

        sum = value;
        return true;
    }

    /// <summary>Parses a generated answer given as tokens (see <see cref="TryParseAnswer(ReadOnlySpan{char}, int, out int)"/>).</summary>
    /// <param name="answerTokens">Exactly D+1 tokens, each a digit token.</param>
    /// <param name="sum">The parsed sum when successful, else 0.</param>
    /// <returns>True when the tokens are a well-formed answer.</returns>
    public bool TryParseAnswer(ReadOnlySpan<int> answerTokens, out int sum)
    {
        sum = 0;
        if (answerTokens.Length != AnswerLength)
        {
            return false;
        }

        Span<char> chars = stackalloc char[answerTokens.Length];
        for (int i = 0; i < answerTokens.Length; i++)
        {
            int t = answerTokens[i];
            if (t < 0 || t > 9)
            {
                return false;
            }

            chars[i] = (char)('0' + t);
        }

        return TryParseAnswer(chars, Digits, out sum);
    }

    /// <inheritdoc />
    public TokenBatch TrainBatch(BatchKey key, int batchSize)
    {
        DataRandom.CheckBatchSize(batchSize);
        ulong dataKey = key.DataKey(Name);
        int n = _split.OperandCount;
        int t = SeqLen;
        var inputs = new int[batchSize * t];
        var targets = new int[batchSize * t];
        Span<int> seq = stackalloc int[t + 1];
        for (int i = 0; i < batchSize; i++)
        {
            int a = 0, b = 0;
            bool found = false;
            for (int j = 0; j < MaxAttempts; j++)
            {
                var (x0, x1, x2, x3) = Philox.Words(dataKey, key.Step, ((ulong)i << 16) | (uint)j);
                a = DataRandom.Uniform(x0, x1, n);
                b = DataRandom.Uniform(x2, x3, n);
                if (!_split.IsHeldOut[a * n + b])
                {
                    found = true;
                    break;
                }
            }

            if (!found)
            {
                // Probability 10^-65536: unreachable unless the split is broken.
                throw new InvalidOperationException($"{Name}: no training problem found in {MaxAttempts} candidates for row {i} of {key}");
            }

            WriteRow(a, b, seq, inputs.AsSpan(i * t, t), targets.AsSpan(i * t, t));
        }

        return new TokenBatch(batchSize, t, inputs, targets);
    }

    /// <inheritdoc />
    /// <remarks>Rows are held-out problems <c>index·batchSize</c> … in <see cref="HeldOut"/> order.</remarks>
    public TokenBatch ValidationBatch(int index, int batchSize)
    {
        DataRandom.CheckBatchSize(batchSize);
        int count = ValidationBatchCount(batchSize);
        if ((uint)index >= (uint)count)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"{Name} has {count} validation batches of {batchSize}");
        }

        int t = SeqLen;
        var inputs = new int[batchSize * t];
        var targets = new int[batchSize * t];
        Span<int> seq = stackalloc int[t + 1];
        for (int i = 0; i < batchSize; i++)
        {
            var (a, b) = HeldOutProblem(index * batchSize + i);
            WriteRow(a, b, seq, inputs.AsSpan(i * t, t), targets.AsSpan(i * t, t));
        }

        return new TokenBatch(batchSize, t, inputs, targets);
    }

    /// <inheritdoc />
    /// <remarks>Full batches only: <c>HeldOutCount / batchSize</c>.</remarks>
    public int ValidationBatchCount(int batchSize)
    {
        DataRandom.CheckBatchSize(batchSize);
        return HeldOutCount / batchSize;
    }

    /// <inheritdoc />
    public string Decode(ReadOnlySpan<int> tokens)
    {
        var chars = new char[tokens.Length];
        for (int i = 0; i < tokens.Length; i++)
        {
            int t = tokens[i];
            chars[i] = t switch
            {
                >= 0 and <= 9 => (char)('0' + t),
                PlusToken => '+',
                EqualsToken => '=',
                _ => throw new ArgumentOutOfRangeException(nameof(tokens), t, $"token {t} at position {i} is outside the {Name} vocabulary 0 … 11"),
            };
        }

        return new string(chars);
    }

    /// <inheritdoc />
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var tokens = new int[text.Length];
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            tokens[i] = c switch
            {
                >= '0' and <= '9' => c - '0',
                '+' => PlusToken,
                '=' => EqualsToken,
                _ => throw new ArgumentException($"character '{c}' (U+{(int)c:X4}) at position {i} is not in the {Name} vocabulary (digits, '+', '=')", nameof(text)),
            };
        }

        return tokens;
    }

    /// <summary>Writes one problem: its 3D+3 tokens, the inputs (all but the last) and the answer targets.</summary>
    private void WriteRow(int a, int b, Span<int> seq, Span<int> inputs, Span<int> targets)
    {
        int d = Digits;
        int p = 0;
        for (int k = d - 1, v = a; k >= 0; k--, v /= 10)
        {
            seq[p + k] = v % 10;
        }

        p += d;
        seq[p++] = PlusToken;
        for (int k = d - 1, v = b; k >= 0; k--, v /= 10)
        {
            seq[p + k] = v % 10;
        }

        p += d;
        seq[p++] = EqualsToken;
        for (int k = 0, v = a + b; k <= d; k++, v /= 10)
        {
            seq[p++] = v % 10;
        }

        int prompt = PromptLength;
        for (int i = 0; i < inputs.Length; i++)
        {
            inputs[i] = seq[i];
            targets[i] = i + 1 >= prompt ? seq[i + 1] : -1;
        }
    }

    private void CheckOperand(int value, string name)
    {
        if ((uint)value >= (uint)_split.OperandCount)
        {
            throw new ArgumentOutOfRangeException(name, value, $"operand must be in 0 … {_split.OperandCount - 1} for {Digits}-digit addition");
        }
    }

    private static void CheckStatic(int a, int b, int digits)
    {
        if (digits < 1 || digits > 8)
        {
            throw new ArgumentOutOfRangeException(nameof(digits), digits, "digits must be in 1 … 8");
        }

        int limit = 1;
        for (int i = 0; i < digits; i++)
        {
            limit *= 10;
        }

        if ((uint)a >= (uint)limit)
        {
            throw new ArgumentOutOfRangeException(nameof(a), a, $"operand must be in 0 … {limit - 1} for {digits} digits");
        }

        if ((uint)b >= (uint)limit)
        {
            throw new ArgumentOutOfRangeException(nameof(b), b, $"operand must be in 0 … {limit - 1} for {digits} digits");
        }
    }

    /// <summary>The held-out split of one digit count, computed once per process.</summary>
    private sealed class Split
    {
        public Split(int digits)
        {
            int n = 1;
            for (int i = 0; i < digits; i++)
            {
                n *= 10;
            }

            OperandCount = n;
            int total = n * n;
            var hashes = new ulong[total];
            var ids = new int[total];
            for (int id = 0; id < total; id++)
            {
                var (x0, x1, _, _) = Philox.Words(HeldOutKey, (ulong)digits, (ulong)id);
                hashes[id] = ((ulong)x1 << 32) | x0;
                ids[id] = id;
            }

            Array.Sort(hashes, ids);

            // Equal 64-bit hashes are astronomically unlikely; order them by id so the split is
            // defined by (hash, id) whatever the sort algorithm does with ties.
            for (int s = 0; s < total;)
            {
                int e = s + 1;
                while (e < total && hashes[e] == hashes[s])
                {
                    e++;
                }

                if (e - s > 1)
                {
                    Array.Sort(ids, s, e - s);
                }

                s = e;
            }

            int held = total / HeldOutDivisor;
            HeldOutOrder = ids[..held];
            IsHeldOut = new bool[total];
            foreach (int id in HeldOutOrder)
            {
                IsHeldOut[id] = true;
            }
        }

        public int OperandCount { get; }

        public int[] HeldOutOrder { get; }

        public bool[] IsHeldOut { get; }
    }
}
