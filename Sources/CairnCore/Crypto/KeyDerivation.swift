import Foundation
internal import COpenSSL

/// scrypt, which turns a user's passphrase into the key that wraps a set's master key.
public struct ScryptParameters: Codable, Hashable, Sendable {
    /// log2 of N, the CPU/memory cost.
    public var logN: Int
    public var r: Int
    public var p: Int

    /// N = 2^16, r = 8, p = 1: 64 MiB and a fraction of a second per derivation.
    public static let standard = ScryptParameters(logN: 16, r: 8, p: 1)

    public init(logN: Int, r: Int, p: Int) {
        self.logN = logN
        self.r = r
        self.p = p
    }

    /// The memory scrypt needs (128·r·N, plus slack for the p lanes), passed to OpenSSL as
    /// maxmem: its default of 32 MB is below what N = 2^16, r = 8 takes.
    var memory: UInt64 { 128 * UInt64(r) * (UInt64(1) << UInt64(logN)) + 128 * UInt64(r) * UInt64(p) + 1 << 20 }

    public func deriveKey(passphrase: [UInt8], salt: [UInt8], length: Int = 32) throws -> [UInt8] {
        guard !passphrase.isEmpty else { throw CryptoError.invalidInput("an empty passphrase cannot protect a key") }
        // At most 1 GiB of memory: a key file asking for more is damaged or hostile.
        guard (1...24).contains(logN), (1...64).contains(r), (1...16).contains(p), memory <= 1 << 30 else {
            throw CryptoError.invalidInput("scrypt parameters out of range: logN \(logN), r \(r), p \(p)")
        }
        var key = [UInt8](repeating: 0, count: length)
        let status = passphrase.withUnsafeBufferPointer { pass in
            salt.withUnsafeBufferPointer { saltBytes in
                pass.baseAddress!.withMemoryRebound(to: CChar.self, capacity: max(pass.count, 1)) { passChars in
                    EVP_PBE_scrypt(
                        passChars, pass.count, saltBytes.baseAddress, saltBytes.count,
                        UInt64(1) << UInt64(logN), UInt64(r), UInt64(p), memory, &key, length)
                }
            }
        }
        guard status == 1 else { throw CryptoError.fromQueue("scrypt") }
        return key
    }
}
