using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Pot.Commitments.Merkle;

/// <summary>Which SHA-256 implementation Merkle hashing uses.</summary>
internal enum Sha256Backend
{
    /// <summary>OpenSSL 3 <c>libcrypto.so.3</c> EVP calls with an explicitly fetched SHA-256 and a reused context.</summary>
    OpenSsl,

    /// <summary>.NET's <see cref="IncrementalHash"/> (portable fallback).</summary>
    Managed,
}

/// <summary>
/// A reusable SHA-256 context for one thread: <see cref="Append"/> any number of pieces, then
/// <see cref="Finish"/>, which writes the digest and leaves the context ready for the next message.
/// </summary>
/// <remarks>
/// Both implementations compute plain SHA-256, so they give bit-identical digests; they differ only in
/// per-message overhead, which matters because a Merkle root hashes one 4 KiB leaf and one 65-byte
/// interior node per leaf. .NET's <see cref="IncrementalHash"/> re-initialises its OpenSSL context with
/// <c>EVP_sha256()</c> after every digest, an implicit provider fetch in OpenSSL 3 that costs ~0.5 µs per
/// message (measured ~20 % of the time of a 4 KiB leaf and ~80 % of the time of a 65-byte node).
/// The OpenSSL backend fetches SHA-256 once per process (<c>EVP_MD_fetch</c>) and re-initialises with
/// <c>EVP_DigestInit_ex2</c>, which then costs nanoseconds; the compression function is the same
/// libcrypto code (SHA-NI where the CPU has it) that <c>openssl speed</c> measures.
/// </remarks>
internal abstract class Sha256Context
{
    /// <summary>Appends bytes to the current message.</summary>
    /// <param name="data">The bytes.</param>
    public abstract void Append(ReadOnlySpan<byte> data);

    /// <summary>Writes SHA-256 of the current message into <paramref name="destination"/> (32 bytes) and starts a new, empty message.</summary>
    /// <param name="destination">Receives the digest.</param>
    public abstract void Finish(Span<byte> destination);

    /// <summary>The backend this context uses.</summary>
    public abstract Sha256Backend Backend { get; }

    /// <summary>True when the OpenSSL backend loaded and passed its known-answer self-test in this process.</summary>
    public static bool OpenSslAvailable => OpenSslSha256Context.Available;

    /// <summary>The default backend: OpenSSL where available, else managed.</summary>
    public static Sha256Backend DefaultBackend => OpenSslAvailable ? Sha256Backend.OpenSsl : Sha256Backend.Managed;

    /// <summary>Creates a new context of the given backend.</summary>
    /// <param name="backend">The backend.</param>
    /// <returns>A fresh context.</returns>
    /// <exception cref="PlatformNotSupportedException">The OpenSSL backend was asked for where it is unavailable.</exception>
    public static Sha256Context Create(Sha256Backend backend) => backend switch
    {
        Sha256Backend.OpenSsl => OpenSslAvailable
            ? new OpenSslSha256Context()
            : throw new PlatformNotSupportedException("libcrypto.so.3 (OpenSSL 3) is not available in this process"),
        _ => new ManagedSha256Context(),
    };
}

/// <summary>Fallback: .NET's <see cref="IncrementalHash"/>.</summary>
internal sealed class ManagedSha256Context : Sha256Context
{
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    /// <inheritdoc />
    public override Sha256Backend Backend => Sha256Backend.Managed;

    /// <inheritdoc />
    public override void Append(ReadOnlySpan<byte> data) => _hash.AppendData(data);

    /// <inheritdoc />
    public override void Finish(Span<byte> destination) => _hash.GetHashAndReset(destination);
}

/// <summary>
/// SHA-256 through OpenSSL 3's EVP interface (<c>libcrypto.so.3</c>, the library .NET itself uses on
/// Linux), with the algorithm fetched once and one <c>EVP_MD_CTX</c> per context.
/// </summary>
internal sealed partial class OpenSslSha256Context : Sha256Context
{
    private const string Library = "libcrypto.so.3";

    // EVP_MD_fetch(NULL, "SHA256", NULL), once per process; never freed (it lives as long as libcrypto).
    private static readonly IntPtr s_sha256 = FetchSha256();

    private readonly EvpMdContextHandle _context;

    /// <summary>True when libcrypto loaded, SHA-256 was fetched and the known-answer test passed.</summary>
    internal static bool Available { get; } = s_sha256 != IntPtr.Zero && SelfTest();

    internal OpenSslSha256Context()
    {
        _context = EVP_MD_CTX_new();
        if (_context.IsInvalid)
        {
            throw new CryptographicException("EVP_MD_CTX_new failed");
        }
        Reset();
    }

    /// <inheritdoc />
    public override Sha256Backend Backend => Sha256Backend.OpenSsl;

    /// <inheritdoc />
    public override unsafe void Append(ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            if (EVP_DigestUpdate(_context, p, (nuint)data.Length) != 1)
            {
                throw new CryptographicException("EVP_DigestUpdate failed");
            }
        }
    }

    /// <inheritdoc />
    public override unsafe void Finish(Span<byte> destination)
    {
        if (destination.Length < MerkleHash.Size)
        {
            throw new ArgumentException($"destination is {destination.Length} bytes; a SHA-256 digest needs {MerkleHash.Size}", nameof(destination));
        }
        uint written = 0;
        fixed (byte* p = destination)
        {
            if (EVP_DigestFinal_ex(_context, p, &written) != 1 || written != MerkleHash.Size)
            {
                throw new CryptographicException("EVP_DigestFinal_ex failed");
            }
        }
        Reset();
    }

    private void Reset()
    {
        if (EVP_DigestInit_ex2(_context, s_sha256, IntPtr.Zero) != 1)
        {
            throw new CryptographicException("EVP_DigestInit_ex2 failed");
        }
    }

    private static IntPtr FetchSha256()
    {
        if (!OperatingSystem.IsLinux())
        {
            return IntPtr.Zero;
        }
        try
        {
            return EVP_MD_fetch(IntPtr.Zero, "SHA256", IntPtr.Zero);
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
        {
            return IntPtr.Zero;
        }
    }

    // Compares against .NET's SHA-256 on a message that spans a block boundary and on the empty message,
    // with a context reused in between, before the backend is trusted with any commitment.
    private static bool SelfTest()
    {
        try
        {
            var context = new OpenSslSha256Context();
            byte[] message = new byte[200];
            for (int i = 0; i < message.Length; i++)
            {
                message[i] = (byte)(i * 7 + 1);
            }
            Span<byte> digest = stackalloc byte[MerkleHash.Size];
            context.Append(message.AsSpan(0, 1));
            context.Append(message.AsSpan(1));
            context.Finish(digest);
            if (!digest.SequenceEqual(SHA256.HashData(message)))
            {
                return false;
            }
            context.Finish(digest);
            return digest.SequenceEqual(SHA256.HashData(ReadOnlySpan<byte>.Empty));
        }
        catch (Exception ex) when (ex is CryptographicException or DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    /// <summary>Owns an <c>EVP_MD_CTX*</c>; freed when the context is collected.</summary>
    internal sealed class EvpMdContextHandle() : Microsoft.Win32.SafeHandles.SafeHandleZeroOrMinusOneIsInvalid(ownsHandle: true)
    {
        /// <inheritdoc />
        protected override bool ReleaseHandle()
        {
            EVP_MD_CTX_free(handle);
            return true;
        }
    }

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr EVP_MD_fetch(IntPtr libraryContext, string algorithm, IntPtr properties);

    [LibraryImport(Library)]
    private static partial EvpMdContextHandle EVP_MD_CTX_new();

    [LibraryImport(Library)]
    private static partial void EVP_MD_CTX_free(IntPtr context);

    [LibraryImport(Library)]
    private static partial int EVP_DigestInit_ex2(EvpMdContextHandle context, IntPtr type, IntPtr parameters);

    [LibraryImport(Library)]
    private static unsafe partial int EVP_DigestUpdate(EvpMdContextHandle context, byte* data, nuint count);

    [LibraryImport(Library)]
    private static unsafe partial int EVP_DigestFinal_ex(EvpMdContextHandle context, byte* digest, uint* size);
}
