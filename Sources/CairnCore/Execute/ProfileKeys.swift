import Foundation

/// The repositories of one encryption profile, for `cairn key add|remove|change`.
///
/// A key belongs to the profile, not to one set: every set that uses the profile opens its
/// repository with the profile's key reference. So a key is added to, removed from or changed
/// in every repository whose set uses the profile, each repository once however many sets
/// share it. Every repository is opened with the current key before anything is written, and
/// a change adds the new key everywhere before it removes the old key anywhere, so that an
/// interruption leaves each repository openable with either key.
public struct ProfileKeys: Sendable {
    /// One repository of the profile and the sets that use it.
    public struct Member: Sendable, CustomStringConvertible {
        public var location: String
        public var sets: [String]
        public var repository: Repository

        /// `/srv/backup/docs (sets docs, notes)`.
        public var description: String { "\(location) (\(sets.count == 1 ? "set" : "sets") \(sets.joined(separator: ", ")))" }
    }

    /// A set of the profile without a repository to act on.
    public struct Skipped: Sendable, CustomStringConvertible {
        public var set: String
        public var reason: String

        public var description: String { "set '\(set)': \(reason)" }
    }

    /// What happened in one repository, reported as it happens.
    public enum Event: Sendable, CustomStringConvertible {
        case added(key: String, to: Member)
        case removed(key: String, from: Member)
        case notHeld(key: String, by: Member)
        case failed(action: String, Member, reason: String)

        public var description: String {
            switch self {
            case .added(let key, let member): return "added key \(key.prefix(8)) to \(member)"
            case .removed(let key, let member): return "removed key \(key.prefix(8)) from \(member)"
            case .notHeld(let key, let member): return "\(member) has no key \(key.prefix(8)); left as it is"
            case .failed(let action, let member, let reason): return "could not \(action) \(member): \(reason)"
            }
        }
    }

    public enum Failure: Error, CustomStringConvertible {
        case unknownProfile(String, suggestion: String)
        case notEncrypted(String)
        case unused(String)
        /// Repositories the current key did not open (or that could not be reached); nothing was written.
        case unopened(profile: String, [String])
        /// Some adds failed: the key is in `added` (with `id`), not in the repositories listed.
        case addFailed(profile: String, id: String, added: [String], failed: [String], change: Bool)
        /// A remove that some repository refuses (the key in use, its last key); nothing was removed.
        case removeRefused(profile: String, [String])
        case noSuchKey(profile: String, id: String)
        /// Removing keys failed in some repositories; those still open with the key.
        case removeFailed(profile: String, id: String, [String], change: Bool)

        public var description: String {
            switch self {
            case .unknownProfile(let name, let suggestion): return "no encryption profile named '\(name)' in the config\(suggestion)"
            case .notEncrypted(let name): return "encryption profile '\(name)' is 'none': its repositories are not encrypted, so they have no keys"
            case .unused(let name): return "no backup set uses encryption profile '\(name)', so it has no repositories"
            case .unopened(let profile, let problems):
                return "the current key of encryption profile '\(profile)' must open every repository of the profile before its keys change, and "
                    + (problems.count == 1 ? "one does not" : "\(problems.count) do not") + "; nothing was written:\n"
                    + problems.map { "  \($0)" }.joined(separator: "\n")
            case .addFailed(let profile, let id, let added, let failed, let change):
                var text = "the new key \(id.prefix(8)) could not be added to every repository of encryption profile '\(profile)':\n"
                    + failed.map { "  \($0)" }.joined(separator: "\n")
                if change {
                    text += "\nthe old key was removed from none of them: every repository still opens with the current key"
                }
                if !added.isEmpty {
                    text += "\nthe new key was added to " + added.joined(separator: ", ")
                        + (change ? ", which open with either key" : "")
                        + "; fix the problem and run the command again, or take the new key out with 'cairn key remove --profile \(profile) \(id.prefix(8))'"
                }
                return text
            case .removeRefused(let profile, let problems):
                return "no key was removed from the repositories of encryption profile '\(profile)':\n" + problems.map { "  \($0)" }.joined(separator: "\n")
            case .noSuchKey(let profile, let id):
                return "no repository of encryption profile '\(profile)' has a key \(id); 'cairn key list SET' shows a set's keys"
            case .removeFailed(let profile, let id, let failed, let change):
                return (change ? "the old key" : "key \(id.prefix(8))") + " could not be removed from every repository of encryption profile '\(profile)':\n"
                    + failed.map { "  \($0)" }.joined(separator: "\n")
                    + (change ? "\nthose still open with the old key as well as the new one; run 'cairn key remove' there once the problem is fixed" : "")
            }
        }
    }

    public let profile: EncryptionProfile
    /// The repositories, in the order of their first set's name.
    public let members: [Member]
    /// Sets of the profile that have no repository yet (never backed up), or none that this
    /// version can reach.
    public let skipped: [Skipped]
    /// The key derivation of new keys (tests use a cheap one).
    public var scrypt = ScryptParameters.standard

    /// Opens every repository of `profile` with the profile's current key; fails, naming each,
    /// when one cannot be opened (a wrong key, a missing destination, damage).
    public static func open(
        config: Config, profile name: String, run: RunEnvironment
    ) async throws -> ProfileKeys {
        guard let profile = config.encryption[name] else {
            throw Failure.unknownProfile(name, suggestion: Suggestion.didYouMean(name, among: config.encryption.keys))
        }
        guard profile.algorithm != .none else { throw Failure.notEncrypted(name) }
        let sets = config.backupSets.values.filter { $0.encryption.value == name }.map(\.name).sorted()
        guard !sets.isEmpty else { throw Failure.unused(name) }

        // Sets that share a folder share a repository.
        var folders: [(location: String, sets: [String])] = []
        for set in sets {
            let location = PathExpansion.normalize(try SetContext(config: config, setName: set, run: run).repositoryPath)
            if let index = folders.firstIndex(where: { $0.location == location }) {
                folders[index].sets.append(set)
            } else {
                folders.append((location, [set]))
            }
        }

        var members: [Member] = [], skipped: [Skipped] = [], problems: [String] = []
        for folder in folders {
            let context = try SetContext(config: config, setName: folder.sets[0], run: run)
            let named = "\(folder.location) (\(folder.sets.count == 1 ? "set" : "sets") \(folder.sets.joined(separator: ", ")))"
            do {
                guard let repository = try await context.openRepository() else {
                    skipped += folder.sets.map { Skipped(set: $0, reason: "never backed up (no repository at \(folder.location))") }
                    continue
                }
                // The same repository under two names (a symbolic link, two accounts): once.
                if let index = members.firstIndex(where: { $0.repository.descriptor.id == repository.descriptor.id }) {
                    members[index].sets += folder.sets
                } else {
                    members.append(Member(location: folder.location, sets: folder.sets, repository: repository))
                }
            } catch SetContext.Failure.notBuilt(_, let feature) {
                skipped += folder.sets.map { Skipped(set: $0, reason: "uses \(feature), not built in this version, so it has no repository") }
            } catch {
                problems.append("\(named): \(error)")
            }
        }
        guard problems.isEmpty else { throw Failure.unopened(profile: name, problems) }
        return ProfileKeys(profile: profile, members: members, skipped: skipped)
    }

    /// Adds a key to every repository, under one id; returns the id.
    @discardableResult
    public func add(passphrase: [UInt8], label: String?, report: (Event) -> Void) async throws -> String {
        try await add(passphrase: passphrase, label: label, change: false, report: report)
    }

    private func add(passphrase: [UInt8], label: String?, change: Bool, report: (Event) -> Void) async throws -> String {
        let id = try Repository.newKeyID()
        var added: [String] = [], failed: [String] = []
        for member in members {
            do {
                _ = try await member.repository.addKey(passphrase: passphrase, label: label, id: id, scrypt: scrypt)
                added.append(member.description)
                report(.added(key: id, to: member))
            } catch {
                failed.append("\(member): \(error)")
                report(.failed(action: "add the key to", member, reason: "\(error)"))
            }
        }
        guard failed.isEmpty else { throw Failure.addFailed(profile: profile.name, id: id, added: added, failed: failed, change: change) }
        return id
    }

    /// Removes key `id` (or the key whose id starts with it, 8 characters or more) from every
    /// repository that has it. Nothing is removed when any repository refuses (the key is the
    /// one in use there, or its last), or when none has it.
    public func remove(_ id: String, report: (Event) -> Void) async throws {
        var found: [(Member, Repository.KeyInfo?)] = [], refused: [String] = []
        for member in members {
            do {
                found.append((member, try await member.repository.removableKey(id)))
            } catch {
                refused.append("\(member): \(error)")
            }
        }
        guard refused.isEmpty else { throw Failure.removeRefused(profile: profile.name, refused) }
        guard found.contains(where: { $0.1 != nil }) else { throw Failure.noSuchKey(profile: profile.name, id: id) }
        var failed: [String] = []
        for (member, key) in found {
            guard let key else {
                report(.notHeld(key: id, by: member))
                continue
            }
            do {
                try await member.repository.removeKey(key.id)
                report(.removed(key: key.id, from: member))
            } catch {
                failed.append("\(member): \(error)")
                report(.failed(action: "remove key \(key.id.prefix(8)) from", member, reason: "\(error)"))
            }
        }
        guard failed.isEmpty else { throw Failure.removeFailed(profile: profile.name, id: id, failed, change: false) }
    }

    /// Replaces the key in use by a new one in every repository, in two steps: the new key is
    /// added to all of them, and only once every add succeeded is the old key (the one that
    /// opened each) removed from each. Returns the new key's id, the same in every repository.
    @discardableResult
    public func change(to passphrase: [UInt8], label: String?, report: (Event) -> Void) async throws -> String {
        let id = try await add(passphrase: passphrase, label: label, change: true, report: report)
        FaultInjection.reach("keys-added")
        var failed: [String] = []
        for member in members {
            let old = member.repository.openedWith.map { String($0.dropFirst("keys/".count)) } ?? ""
            do {
                try await member.repository.removeKeyInUse()
                report(.removed(key: old, from: member))
                FaultInjection.reach("old-key-removed")
            } catch {
                failed.append("\(member): \(error)")
                report(.failed(action: "remove the old key \(old.prefix(8)) from", member, reason: "\(error)"))
            }
        }
        guard failed.isEmpty else { throw Failure.removeFailed(profile: profile.name, id: id, failed, change: true) }
        return id
    }
}
