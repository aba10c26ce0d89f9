import Foundation

/// `cairn key add|list|remove|change`: several user keys can open one set; each wraps the same
/// master key, so changing keys rewrites no data.
extension Repository {
    public struct KeyInfo: Sendable, Equatable {
        /// The key file's name in `keys/`.
        public var id: String
        public var created: Date
        public var host: String
        public var user: String
        public var label: String?
        /// Whether this key opened the repository now.
        public var isCurrent: Bool
        /// Why the key file cannot be used, when it is damaged: it is listed, and can be removed.
        public var damage: String? = nil
    }

    /// Every key file, damaged ones too (with `damage` set), oldest first.
    public func keys() async throws -> [KeyInfo] {
        var result: [KeyInfo] = []
        for item in try await storage.listAll(prefix: "keys/") {
            let id = String(item.key.dropFirst("keys/".count))
            do {
                let file = try KeyFile.decode(try await storage.get(item.key), at: item.key)
                result.append(KeyInfo(
                    id: id, created: file.created, host: file.host, user: file.user, label: file.label, isCurrent: item.key == openedWith))
            } catch StorageError.notFound {
                continue
            } catch let error as StorageError where !error.isDamage {
                throw error
            } catch {
                result.append(KeyInfo(id: id, created: .distantPast, host: "?", user: "?", label: nil, isCurrent: false, damage: Self.reason(error)))
            }
        }
        return result.sorted { ($0.created, $0.id) < ($1.created, $1.id) }
    }

    /// A new key's id: random, so that one key added to several repositories (an encryption
    /// profile's) can have the same id in each.
    public static func newKeyID() throws -> String { (try ObjectID.random()).hex }

    /// Adds a user key under `id` (a new random one by default); returns its id.
    public func addKey(
        passphrase: [UInt8], label: String?, id: String? = nil, scrypt: ScryptParameters = .standard
    ) async throws -> String {
        guard let master, let algorithm = encryptionAlgorithm else {
            throw RepositoryError.unsupported("the repository at \(storage.location) is not encrypted, so it has no keys")
        }
        let file = try KeyFile.wrap(master, passphrase: passphrase, algorithm: algorithm, repositoryID: descriptor.id, parameters: scrypt, label: label, run: run)
        let id = try id ?? Self.newKeyID()
        try await storage.put("keys/\(id)", try KeyFile.encode(file))
        return id
    }

    /// The key `id` names (the whole id, or its first 8 or more characters), nil when none does.
    /// A key that cannot be removed (the one in use, the last one) is an error.
    public func removableKey(_ id: String) async throws -> KeyInfo? {
        let all = try await keys()
        let matching = all.filter { $0.id == id || ($0.id.hasPrefix(id) && id.count >= 8) }
        guard let key = matching.first else { return nil }
        guard matching.count == 1 else {
            throw RepositoryError.unsupported("\(id) is the start of several keys' ids in the repository at \(storage.location); give more of it")
        }
        guard !key.isCurrent else {
            throw RepositoryError.unsupported(
                "key \(key.id.prefix(8)) is the one in use in the repository at \(storage.location); open the set with another key to remove it, or use 'cairn key change'")
        }
        guard all.filter({ $0.damage == nil }).count > 1 || key.damage != nil else {
            throw RepositoryError.unsupported("key \(key.id.prefix(8)) is the last key of the repository at \(storage.location); it could not be opened without it")
        }
        return key
    }

    /// Removes a user key. The key in use and the last key cannot be removed.
    public func removeKey(_ id: String) async throws {
        guard let key = try await removableKey(id) else {
            throw RepositoryError.unsupported("no key \(id) in the repository at \(storage.location); 'cairn key list' shows them")
        }
        try await storage.delete("keys/\(key.id)")
    }

    /// Removes the key that opened the repository, once another key has been added (the second
    /// step of a key change).
    public func removeKeyInUse() async throws {
        guard let old = openedWith else { throw RepositoryError.unsupported("the repository at \(storage.location) is not encrypted, so it has no keys") }
        try await storage.delete(old)
    }

    /// Replaces the key in use by a new one: the new key is written before the old one goes.
    public func changeKey(to passphrase: [UInt8], label: String?, scrypt: ScryptParameters = .standard) async throws -> String {
        guard openedWith != nil else { throw RepositoryError.unsupported("the repository at \(storage.location) is not encrypted, so it has no keys") }
        let id = try await addKey(passphrase: passphrase, label: label, scrypt: scrypt)
        try await removeKeyInUse()
        return id
    }
}
