import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A lease on a repository: who holds it, since when, last refreshed when.
///
/// Readers (restore, ls, verify) take shared leases and run together; a backup takes a writer
/// lease, so a second backup of the set is refused while the first runs; prune takes an
/// exclusive one. A lease is stale when its process is gone on this host, or when it has not
/// been refreshed for 30 minutes; stale leases are removed.
public struct LockRecord: Codable, Sendable, Equatable {
    public enum Mode: String, Codable, Sendable {
        case shared
        case writer
        case exclusive

        func conflicts(with other: Mode) -> Bool {
            switch (self, other) {
            case (.shared, .shared), (.shared, .writer), (.writer, .shared): return false
            default: return true
            }
        }
    }

    public var mode: Mode
    public var host: String
    public var pid: Int32
    public var user: String
    public var command: String
    public var start: Timestamp
    public var refreshed: Timestamp

    public static let staleAfter: TimeInterval = 30 * 60
    public static let refreshEvery: TimeInterval = 5 * 60

    public func isStale(now: Date, host currentHost: String) -> Bool {
        if now.timeIntervalSince(refreshed.date) > Self.staleAfter { return true }
        return host == currentHost && kill(pid, 0) != 0 && errno == ESRCH
    }

    public var holder: String {
        "\(command) by \(user)@\(host), pid \(pid), since \(start) (lease refreshed \(refreshed))"
    }
}

/// A lease this process holds; `release()` removes it.
public final class RepositoryLock: @unchecked Sendable {
    public let repository: Repository
    public let id: ObjectID
    private var record: LockRecord
    private var refresher: Task<Void, Never>?

    init(repository: Repository, id: ObjectID, record: LockRecord, held: Bool = true) {
        self.repository = repository
        self.id = id
        self.record = record
        guard held else { return }
        refresher = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(LockRecord.refreshEvery * 1e9))
                guard let self, !Task.isCancelled else { return }
                self.record.refreshed = Timestamp(repository.run.now)
                _ = try? await repository.writeLock(self.record, id: self.id)
            }
        }
    }

    public func release() async {
        guard let refresher else { return }
        refresher.cancel()
        self.refresher = nil
        try? await repository.storage.delete("locks/\(id.hex)")
    }

    deinit { refresher?.cancel() }
}

extension Repository {
    func writeLock(_ record: LockRecord, id: ObjectID) async throws -> ObjectID {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try await saveFile(.lock, in: "locks", Array(try encoder.encode(record)), id: id)
    }

    /// The leases in the repository, removing stale ones.
    public func locks(now: Date? = nil, removingStale: Bool = true) async throws -> [(id: ObjectID, record: LockRecord)] {
        var result: [(ObjectID, LockRecord)] = []
        for id in try await fileIDs(in: "locks") {
            guard let plaintext = try? await loadFile(.lock, in: "locks", id: id),
                let record = try? JSONDecoder().decode(LockRecord.self, from: Data(plaintext))
            else { continue }
            if record.isStale(now: now ?? run.now, host: run.hostName) {
                if removingStale { try? await storage.delete("locks/\(id.hex)") }
                continue
            }
            result.append((id, record))
        }
        return result
    }

    /// Takes a lease, or fails naming the holder of a conflicting one.
    public func lock(_ mode: LockRecord.Mode, command: String, now: Date? = nil) async throws -> RepositoryLock {
        let now = now ?? run.now
        func conflict(_ others: [(id: ObjectID, record: LockRecord)], except mine: ObjectID?) -> LockRecord? {
            others.first { $0.id != mine && mode.conflicts(with: $0.record.mode) }?.record
        }
        if let holder = conflict(try await locks(now: now), except: nil) {
            throw RepositoryError.locked("the repository at \(storage.location) is locked: \(holder.holder); try again when it has finished")
        }
        let record = LockRecord(
            mode: mode, host: run.hostName, pid: getpid(), user: run.userName, command: command,
            start: Timestamp(now), refreshed: Timestamp(now))
        let id: ObjectID
        do {
            id = try await writeLock(record, id: try .random())
        } catch let error as StorageError where mode == .shared {
            // Reading from a read-only copy (a mounted disk, a DVD) needs no lease: nobody can
            // change what cannot be written.
            guard case .readOnly = error else { throw error }
            return RepositoryLock(repository: self, id: try .random(), record: record, held: false)
        }
        // Someone may have taken a lease at the same moment: look again, and step back if so.
        if let holder = conflict(try await locks(now: now), except: id) {
            try? await storage.delete("locks/\(id.hex)")
            throw RepositoryError.locked("the repository at \(storage.location) is locked: \(holder.holder); try again when it has finished")
        }
        return RepositoryLock(repository: self, id: id, record: record)
    }
}
