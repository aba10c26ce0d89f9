import Foundation

/// A set's local copy (user guide 5.16, `local-copy:`): a second repository on another disk,
/// kept a mirror of the set's repository file by file. Repository files never change once
/// written (packs, index files, snapshots and key files are named by what they hold), so a file
/// of the same name and size is the same file, and bringing the copy up to date copies what it
/// lacks and removes what the repository no longer has. Files are copied in the order that
/// keeps the copy whole at every moment: what later files refer to first (key files, packs,
/// index files, then the descriptor), snapshots last; removals go the other way. An interrupted copy
/// is a copy a step behind, which the next run completes.
public enum LocalCopy {
    public struct Result: Sendable, Equatable {
        public var copied = 0
        public var bytes: UInt64 = 0
        public var removed = 0

        public init() {}
    }

    /// The order a file is copied in; nil for files that are not copied (locks, uploads).
    /// The descriptor, which makes a folder a repository, comes after the keys, packs and
    /// index it needs: a copy cut short before it is no repository yet, not one without keys.
    static func rank(_ key: String) -> Int? {
        if key.hasPrefix("keys/") { return 0 }
        if key.hasPrefix("data/") { return 1 }
        if key.hasPrefix("index/") { return 2 }
        if key == RepositoryDescriptor.fileName { return 3 }
        if key.hasPrefix("snapshots/") { return 4 }
        return nil
    }

    static func listAll(_ storage: any StorageBackend) async throws -> [String: Int] {
        var items: [String: Int] = [:]
        var after: String?
        while true {
            let page = try await storage.list(prefix: "", after: after, limit: 1000)
            for item in page where rank(item.key) != nil { items[item.key] = item.size }
            guard page.count == 1000, let last = page.last?.key else { return items }
            after = last
        }
    }

    /// What the copy lacks and what it has too much of.
    public static func difference(from source: any StorageBackend, to copy: any StorageBackend) async throws
        -> (missing: [StorageItem], extra: [String])
    {
        let have = try await listAll(copy)
        let want = try await listAll(source)
        let missing = want.filter { have[$0.key] != $0.value }.map { StorageItem(key: $0.key, size: $0.value) }
            .sorted { (rank($0.key)!, $0.key) < (rank($1.key)!, $1.key) }
        let extra = have.keys.filter { want[$0] == nil }.sorted { (rank($0)!, $0) > (rank($1)!, $1) }
        return (missing, extra)
    }

    public struct Mismatch: Error, CustomStringConvertible {
        public var description: String
    }

    /// Fails when `copy` holds a repository other than `source`'s (another set's of the same
    /// name, or the set's repository from before a --new-repository): mirroring would delete it.
    public static func requireSameRepository(_ source: any StorageBackend, _ copy: any StorageBackend) async throws {
        guard try await copy.stat(RepositoryDescriptor.fileName) != nil else { return }
        let mine = try await source.get(RepositoryDescriptor.fileName)
        let theirs = try await copy.get(RepositoryDescriptor.fileName)
        guard mine != theirs else { return }
        let id = (try? RepositoryDescriptor.decode(theirs, at: copy.location).id.prefix(8)).map(String.init) ?? "unreadable"
        throw Mismatch(
            description: "\(copy.location) holds another repository (\(id)), not this one: it is left as it is; move it away (it may be the only copy of older backups) or name another local-copy folder")
    }

    /// Brings `copy` up to date with `source`; refuses a copy of another repository.
    public static func mirror(from source: any StorageBackend, to copy: any StorageBackend) async throws -> Result {
        try await requireSameRepository(source, copy)
        let (missing, extra) = try await difference(from: source, to: copy)
        var result = try await self.copy(missing, from: source, to: copy)
        for key in extra {
            try await copy.delete(key)
            result.removed += 1
        }
        return result
    }

    /// Copies `items` (in the order given) from `source` to `copy`.
    public static func copy(
        _ missing: [StorageItem], from source: any StorageBackend, to copy: any StorageBackend, progress: (any ProgressSink)? = nil
    ) async throws -> Result {
        var result = Result()
        let piece = 8 << 20
        for item in missing {
            try Task.checkCancellation()
            if item.size <= piece {
                try await copy.put(item.key, try await source.get(item.key))
            } else {
                // Large packs go through in pieces, never whole in memory.
                let upload = try await copy.openUpload(item.key)
                var offset = 0
                while offset < item.size {
                    let end = min(offset + piece, item.size)
                    try await upload.write(try await source.read(item.key, range: offset..<end).bytes)
                    offset = end
                }
                try await upload.commit()
            }
            result.copied += 1
            result.bytes += UInt64(item.size)
            progress?.read(UInt64(item.size))
            progress?.finish(.root)
            FaultInjection.reach("local-copy-file")
        }
        return result
    }
}
