import Foundation
import Synchronization
internal import COpenSSL

/// SHA-256 and HMAC-SHA-256 through OpenSSL.
public enum Hashing {
    public static func sha256<D: ContiguousBytes>(_ data: D) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        data.withUnsafeBytes { bytes in
            var length: UInt32 = 0
            _ = EVP_Digest(bytes.baseAddress, bytes.count, &digest, &length, EVP_sha256(), nil)
        }
        return digest
    }

    /// MD5, only where a protocol requires it as a transfer checksum (S3's batch delete wants a
    /// Content-MD5 header): never for anything cairn trusts.
    public static func md5<D: ContiguousBytes>(_ data: D) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 16)
        data.withUnsafeBytes { bytes in
            var length: UInt32 = 0
            _ = EVP_Digest(bytes.baseAddress, bytes.count, &digest, &length, EVP_md5(), nil)
        }
        return digest
    }

    /// HMAC-SHA-256 of `data` under `key`: cairn's keyed content hash, so the destination
    /// cannot test whether a repository holds a known file.
    public static func hmacSHA256<K: ContiguousBytes, D: ContiguousBytes>(key: K, _ data: D) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        key.withUnsafeBytes { keyBytes in
            data.withUnsafeBytes { bytes in
                var length: UInt32 = 0
                let done = HMAC(
                    EVP_sha256(), keyBytes.baseAddress, Int32(keyBytes.count),
                    bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count, &digest, &length)
                // Only when memory runs out; a digest of zeros would be a wrong id, never used.
                guard done != nil, length == 32 else { fatalError("HMAC-SHA-256 failed: \(CryptoError.fromQueue("HMAC"))") }
            }
        }
        return digest
    }
}

/// HMAC-SHA-256 under one key, for many messages: the key is set once in a context that each
/// message's context is copied from. (OpenSSL 3's one-shot `HMAC` looks the algorithm up by
/// name and sets the key again for every call: about 0.7 µs more for each object a backup
/// stores, when hashing a small file takes 5 µs.) Copying is safe from several threads at once:
/// the key's context is only read.
public final class KeyedHash: @unchecked Sendable {
    private let template: OpaquePointer
    private let key: [UInt8]

    /// (A fetched algorithm is immutable and may be used from any thread.)
    nonisolated(unsafe) private static let mac: OpaquePointer? = EVP_MAC_fetch(nil, "HMAC", nil)

    public init(key: [UInt8]) throws {
        self.key = key
        guard let mac = Self.mac, let context = EVP_MAC_CTX_new(mac) else { throw CryptoError.fromQueue("HMAC setup") }
        let status = "SHA256".withCString { digest in
            "digest".withCString { name in
                var parameters = [
                    OSSL_PARAM_construct_utf8_string(name, UnsafeMutablePointer(mutating: digest), 0), OSSL_PARAM_construct_end(),
                ]
                return key.withUnsafeBufferPointer { EVP_MAC_init(context, $0.baseAddress, $0.count, &parameters) }
            }
        }
        guard status == 1 else {
            // Freed here: `template` is not set, so deinit does not run.
            EVP_MAC_CTX_free(context)
            throw CryptoError.fromQueue("HMAC key")
        }
        template = context
    }

    deinit { EVP_MAC_CTX_free(template) }

    /// HMAC-SHA-256 of `data` under the key. OpenSSL fails here only when memory runs out; the
    /// one-shot function is tried then, and if it fails too the process stops: an id that is
    /// not the content's would store one content under another's name.
    public func mac<D: ContiguousBytes>(_ data: D) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        if let context = EVP_MAC_CTX_dup(template) {
            defer { EVP_MAC_CTX_free(context) }
            var length = 0
            let done = data.withUnsafeBytes { bytes in
                EVP_MAC_update(context, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count) == 1
                    && EVP_MAC_final(context, &digest, &length, digest.count) == 1 && length == 32
            }
            if done { return digest }
        }
        ERR_clear_error()
        return Hashing.hmacSHA256(key: key, data)
    }
}

/// Incremental SHA-256, for hashing a stream without holding it.
public final class SHA256Stream {
    private let context: OpaquePointer

    public init() {
        context = EVP_MD_CTX_new()
        EVP_DigestInit_ex(context, EVP_sha256(), nil)
    }

    deinit { EVP_MD_CTX_free(context) }

    public func update<D: ContiguousBytes>(_ data: D) {
        data.withUnsafeBytes { bytes in
            _ = EVP_DigestUpdate(context, bytes.baseAddress, bytes.count)
        }
    }

    public func finish() -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &digest, &length)
        return digest
    }
}

/// Cryptographically secure random bytes.
public enum SecureRandom {
    public static func bytes(_ count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        guard count == 0 || RAND_bytes(&bytes, Int32(count)) == 1 else { throw CryptoError.fromQueue("RAND_bytes") }
        return bytes
    }

    /// Writes `count` random bytes (at most `batch`) to `destination`, from bytes OpenSSL
    /// makes a batch at a time, each handed out once and wiped from the batch as it is.
    ///
    /// For the nonce of every box sealed: a call to RAND_bytes for each cost about 1 µs (most
    /// of it OpenSSL's fork check, a getpid system call), 1.5% of the CPU of a backup of small
    /// files, against tens of nanoseconds a nonce this way. (The bytes left in a batch would be
    /// shared with a forked child; cairn starts other programs with posix_spawn, which runs
    /// nothing of it.)
    static func fill(_ destination: UnsafeMutablePointer<UInt8>, count: Int) throws {
        precondition(count <= batch)
        let taken = pool.withLock { pool -> Bool in
            guard pool.bytes.count - pool.used >= count else { return false }
            pool.bytes.withUnsafeMutableBufferPointer { bytes in
                destination.update(from: bytes.baseAddress! + pool.used, count: count)
                (bytes.baseAddress! + pool.used).update(repeating: 0, count: count)
            }
            pool.used += count
            return true
        }
        if taken { return }
        var fresh = [UInt8](repeating: 0, count: batch)
        guard RAND_bytes(&fresh, Int32(batch)) == 1 else { throw CryptoError.fromQueue("RAND_bytes") }
        fresh.withUnsafeMutableBufferPointer { bytes in
            destination.update(from: bytes.baseAddress!, count: count)
            bytes.baseAddress!.update(repeating: 0, count: count)
        }
        // The fresh batch replaces what is left of the old one (fewer bytes than a nonce).
        pool.withLock { $0 = (fresh, count) }
    }

    static let batch = 4096
    private static let pool = Mutex<(bytes: [UInt8], used: Int)>(([], 0))
}
