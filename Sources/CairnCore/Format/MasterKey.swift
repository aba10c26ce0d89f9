import Foundation

/// A set's random master key: one key encrypts, the other keys the content hash. User keys
/// only wrap it, so adding, removing or changing a user key rewrites no data.
struct MasterKey: Sendable, Equatable {
    var encryption: [UInt8]
    var identification: [UInt8]

    static func random() throws -> MasterKey {
        MasterKey(encryption: try SecureRandom.bytes(32), identification: try SecureRandom.bytes(32))
    }

    var bytes: [UInt8] { encryption + identification }

    init(encryption: [UInt8], identification: [UInt8]) {
        self.encryption = encryption
        self.identification = identification
    }

    init(bytes: [UInt8]) throws {
        guard bytes.count == 64 else { throw RepositoryError.damaged("a key file holds a master key of the wrong size") }
        self.init(encryption: Array(bytes[0..<32]), identification: Array(bytes[32..<64]))
    }
}

/// A file in `keys/`: the master key wrapped by one user key through scrypt.
public struct KeyFile: Codable, Sendable, Equatable {
    public static let currentVersion = 1

    public var version: Int
    public var kdf: String
    public var scrypt: ScryptParameters
    public var salt: Data
    /// AEAD(master key) under the scrypt-derived key, bound to the repository's id.
    public var wrapped: Data
    public var created: Date
    public var host: String
    public var user: String
    public var label: String?
    /// SHA-256 of the file's JSON without this field: damage (a flipped byte in the wrapped
    /// key, the salt or the parameters) is found without the key's secret. Absent in key files
    /// of cairn before 0.16.
    public var checksum: String?
    /// The id of the repository the key was made for (it is also bound into the wrapped key):
    /// tells a damaged descriptor from a wrong key. Absent in older key files.
    public var repository: String?

    /// The checksum of this file's other fields, as `encode` writes them.
    func computedChecksum() throws -> String {
        var bare = self
        bare.checksum = nil
        return Hashing.sha256(Array(try RepositoryDescriptor.encoder.encode(bare))).map { String(format: "%02x", $0) }.joined()
    }

    /// Nil when the file is whole (or has no checksum); otherwise why it is damaged.
    func damage() -> String? {
        guard let checksum else { return nil }
        guard let computed = try? computedChecksum(), computed == checksum else { return "its checksum does not match its contents" }
        return nil
    }

    static func associatedData(repositoryID: String) -> [UInt8] {
        Array("cairn-key-v1:\(repositoryID)".utf8)
    }

    static func wrap(
        _ master: MasterKey, passphrase: [UInt8], algorithm: AEAD.Algorithm, repositoryID: String,
        parameters: ScryptParameters, label: String?, run: RunEnvironment
    ) throws -> KeyFile {
        let salt = try SecureRandom.bytes(32)
        let wrappingKey = try parameters.deriveKey(passphrase: passphrase, salt: salt)
        let sealed = try AEAD(algorithm, key: wrappingKey).seal(master.bytes, associatedData: associatedData(repositoryID: repositoryID))
        var file = KeyFile(
            version: currentVersion, kdf: "scrypt", scrypt: parameters, salt: Data(salt), wrapped: Data(sealed),
            created: run.now, host: run.hostName, user: run.userName, label: label, checksum: nil,
            repository: repositoryID)
        // Round-tripped first, so the checksum is of what a reader decodes (times in seconds).
        file = try RepositoryDescriptor.decoder.decode(KeyFile.self, from: try RepositoryDescriptor.encoder.encode(file))
        file.checksum = try file.computedChecksum()
        return file
    }

    /// The master key, or nil when `passphrase` is not this file's key.
    func unwrap(passphrase: [UInt8], algorithm: AEAD.Algorithm, repositoryID: String) throws -> MasterKey? {
        guard version == Self.currentVersion, kdf == "scrypt" else {
            throw FormatError.unsupportedVersion("a key file", version)
        }
        let wrappingKey = try scrypt.deriveKey(passphrase: passphrase, salt: Array(salt))
        guard let bytes = try? AEAD(algorithm, key: wrappingKey).open(Array(wrapped), associatedData: Self.associatedData(repositoryID: repositoryID))
        else { return nil }
        return try MasterKey(bytes: bytes)
    }
}
