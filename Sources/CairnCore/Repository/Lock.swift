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
        "\(command) by \(user)@\(host), pid \(pid), since \(TimeText.utc(start)) (lease refreshed \(TimeText.utc(refreshed)))"
    }
}

/// A lease this process holds; `release()` removes it.
///
/// It is refreshed every 5 minutes (a failed refresh is tried again each half minute). A lease
/// that could not be refreshed for 25 minutes, or that another process removed as stale, is
/// lost: `confirm()` then throws, and what commits (a snapshot, prune's deletions) confirms
/// first, so a run that lost its lease changes nothing another lease holder relies on.
public final class RepositoryLock: @unchecked Sendable {
    public let repository: Repository
    public let id: ObjectID
    private var record: LockRecord
    private var refresher: Task<Void, Never>?
    private let state = NSLock()
    /// When the lease was last written, and why the last refresh failed, if it did.
    private var written: Date
    private var refreshFailure: String?
    /// Why the lease is lost, once it is: it is then never written again (another process may
    /// hold the repository by now), and never confirmed.
    private var lost: String?

    init(repository: Repository, id: ObjectID, record: LockRecord, held: Bool = true) {
        self.repository = repository
        self.id = id
        self.record = record
        written = record.refreshed.date
        guard held else { return }
        refresher = Task { [weak self] in
            var wait = LockRecord.refreshEvery
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(wait * 1e9))
                guard let self, !Task.isCancelled else { return }
                // Not cancelled with the refresher: a write cut off by a cancel may still land
                // on the server after release() removed the lease. release() waits for it instead.
                guard let succeeded = await Task(operation: { await self.refresh() }).value else { return }
                wait = succeeded ? LockRecord.refreshEvery : 30
            }
        }
    }

    /// The reason the lease is lost, judged now, or nil while it holds by time.
    private func lossByAge() -> String? {
        state.withLock {
            if let lost { return lost }
            let age = repository.run.now.timeIntervalSince(written)
            guard age > LockRecord.staleAfter - LockRecord.refreshEvery else { return nil }
            lost =
                "the lease on the repository at \(repository.storage.location) could not be refreshed for \(Int(age / 60)) minutes (\(refreshFailure ?? "no refresh ran")), so another process may have taken it for stale; nothing more is committed: run again"
            return lost
        }
    }

    private func markRemoved() {
        state.withLock {
            if lost == nil {
                lost =
                    "the lease on the repository at \(repository.storage.location) was removed by another process, which took it for stale (was this machine asleep, or its clock changed?); nothing more is committed: run again"
            }
        }
    }

    /// Writes the lease again with the time now: true when it did, false when that failed
    /// (tried again soon), nil when the lease is lost (no more refreshes: rewriting a lease
    /// another process removed would hide that it took the repository).
    private func refresh() async -> Bool? {
        if lossByAge() != nil { return nil }
        do {
            guard try await repository.storage.stat("locks/\(id.hex)") != nil else {
                markRemoved()
                return nil
            }
            let now = repository.run.now
            record.refreshed = Timestamp(now)
            _ = try await repository.writeLock(record, id: id)
            state.withLock {
                written = now
                refreshFailure = nil
            }
            return true
        } catch {
            state.withLock { refreshFailure = "\(error)" }
            return false
        }
    }

    /// Throws when the lease may no longer hold: not refreshed for so long that others may
    /// take it for stale, or removed from the repository by another process.
    public func confirm() async throws {
        guard state.withLock({ refresher != nil }) else { return }
        if let lost = lossByAge() { throw RepositoryError.locked(lost) }
        guard try await repository.storage.stat("locks/\(id.hex)") != nil else {
            markRemoved()
            throw RepositoryError.locked(state.withLock { lost ?? "the lease was removed" })
        }
    }

    public func release() async {
        guard let refresher = state.withLock({ () -> Task<Void, Never>? in
            defer { self.refresher = nil }
            return self.refresher
        }) else { return }
        refresher.cancel()
        // A refresh under way finishes first: its write must not land after the removal.
        await refresher.value
        await repository.forgetLease(self)
        // Removing its own lease file is safe even when the lease is lost: no one else uses its name.
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

    /// The leases in the repository, removing stale ones; `mine` (this process's own, known
    /// without reading it) is left out.
    public func locks(now: Date? = nil, removingStale: Bool = true, except mine: ObjectID? = nil) async throws -> [(id: ObjectID, record: LockRecord)] {
        var result: [(ObjectID, LockRecord)] = []
        for id in try await fileIDs(in: "locks") where id != mine {
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
        // On an object store this is safe because listings show every object written before
        // them (strong read-after-write consistency, as S3 gives since 2020): of two writers,
        // at least the later one sees the other's lease.
        if let holder = conflict(try await locks(now: now, except: id), except: id) {
            try? await storage.delete("locks/\(id.hex)")
            throw RepositoryError.locked("the repository at \(storage.location) is locked: \(holder.holder); try again when it has finished")
        }
        let lease = RepositoryLock(repository: self, id: id, record: record)
        heldLeases.append(lease)
        return lease
    }

    func forgetLease(_ lease: RepositoryLock) {
        heldLeases.removeAll { $0 === lease }
    }

    /// Throws when a lease this process holds on the repository may be lost (see
    /// `RepositoryLock.confirm`): called before committing.
    public func confirmLeases() async throws {
        for lease in heldLeases { try await lease.confirm() }
    }
}
