import Foundation

/// A password kept as an scrypt hash in the PHC string format that OpenSSL's KDF fills:
/// `$scrypt$ln=15,r=8,p=1$SALT$HASH` (salt and hash in base64 without padding). `cairn server
/// hash-password` makes one; the server's accounts keep it in `password-hash:`.
///
/// scrypt rather than bcrypt: OpenSSL has scrypt (EVP_PBE_scrypt, already used for set keys)
/// and no bcrypt, and scrypt's memory cost is what a GPU attacker pays for.
public struct PasswordHash: Hashable, Sendable, CustomStringConvertible {
    public var parameters: ScryptParameters
    public var salt: [UInt8]
    public var hash: [UInt8]

    /// N = 2^15, r = 8, p = 1: 32 MiB and about a tenth of a second. The server checks a
    /// password once per connection's credentials and remembers the answer.
    public static let standard = ScryptParameters(logN: 15, r: 8, p: 1)

    public init(parameters: ScryptParameters, salt: [UInt8], hash: [UInt8]) {
        self.parameters = parameters
        self.salt = salt
        self.hash = hash
    }

    /// A new hash of `password` with a random salt.
    public static func make(_ password: [UInt8], parameters: ScryptParameters = standard) throws -> PasswordHash {
        let salt = try SecureRandom.bytes(16)
        return PasswordHash(parameters: parameters, salt: salt, hash: try parameters.deriveKey(passphrase: password, salt: salt, length: 32))
    }

    /// Whether `password` is the one hashed (compared in constant time).
    public func matches(_ password: [UInt8]) -> Bool {
        guard !password.isEmpty, let derived = try? parameters.deriveKey(passphrase: password, salt: salt, length: hash.count) else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(derived, hash) { difference |= a ^ b }
        return difference == 0 && derived.count == hash.count
    }

    public var description: String {
        "$scrypt$ln=\(parameters.logN),r=\(parameters.r),p=\(parameters.p)$\(Self.base64(salt))$\(Self.base64(hash))"
    }

    /// Why `text` is not a hash this cairn can check.
    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    public init(parsing text: String) throws {
        let parts = text.split(separator: "$", omittingEmptySubsequences: false)
        if parts.count >= 3, parts[0].isEmpty, ["2a", "2b", "2y"].contains(parts[1]) {
            throw Invalid(description: "bcrypt hashes cannot be checked: OpenSSL has no bcrypt; make an scrypt hash with 'cairn server hash-password'")
        }
        guard parts.count == 5, parts[0].isEmpty else {
            throw Invalid(description: "a password hash looks like $scrypt$ln=15,r=8,p=1$SALT$HASH (made by 'cairn server hash-password')")
        }
        guard parts[1] == "scrypt" else {
            throw Invalid(description: "'\(parts[1])' hashes cannot be checked: cairn makes and checks scrypt hashes ('cairn server hash-password')")
        }
        var values: [String: Int] = [:]
        for pair in parts[2].split(separator: ",") {
            let field = pair.split(separator: "=", maxSplits: 1)
            guard field.count == 2, let value = Int(field[1]) else { throw Invalid(description: "'\(parts[2])' is not scrypt's ln=N,r=R,p=P") }
            values[String(field[0])] = value
        }
        guard let logN = values["ln"], let r = values["r"], let p = values["p"], values.count == 3 else {
            throw Invalid(description: "'\(parts[2])' is not scrypt's ln=N,r=R,p=P")
        }
        let parameters = ScryptParameters(logN: logN, r: r, p: p)
        // At most 256 MiB a check: a server checks passwords as clients connect.
        guard (10...20).contains(logN), (1...32).contains(r), (1...4).contains(p), parameters.memory <= 1 << 28 else {
            throw Invalid(description: "scrypt parameters ln=\(logN),r=\(r),p=\(p) are outside what the server checks (ln 10 to 20, r 1 to 32, p 1 to 4, at most 256 MiB)")
        }
        guard let salt = Self.unbase64(parts[3]), salt.count >= 8, let hash = Self.unbase64(parts[4]), hash.count >= 16 else {
            throw Invalid(description: "the salt or hash of the password hash is not base64 of at least 8 and 16 bytes")
        }
        self.init(parameters: parameters, salt: salt, hash: hash)
    }

    static func base64(_ bytes: [UInt8]) -> String {
        var text = Data(bytes).base64EncodedString()
        while text.hasSuffix("=") { text.removeLast() }
        return text
    }

    static func unbase64(_ text: Substring) -> [UInt8]? {
        var padded = String(text)
        while padded.count % 4 != 0 { padded += "=" }
        return Data(base64Encoded: padded).map { [UInt8]($0) }
    }
}
