import CairnCore
import Foundation
import Synchronization

/// The replication server's feed: every object this server stores or deletes (but locks) is
/// written to a queue in the state folder before the client hears it was stored, and a worker
/// forwards the queue in order to the replica (`replicate-to:`: another cairn server, or an S3
/// bucket), each object read back from this server's storage and checked against the SHA-256
/// it arrived with, then sent with its hash for the replica to check again. The queue is files
/// (crash-safe like the repositories' own): a restart of either side resumes where it stopped.
final class Replicator: Sendable {
    /// One queued operation: a file `queue/TIME-PID-COUNTER` holding this as JSON.
    struct Entry: Codable, Sendable, Equatable {
        enum Operation: String, Codable, Sendable {
            case put, delete
        }
        var operation: Operation
        var account: String
        var repository: String
        var key: String
        var size: Int
        /// Hex SHA-256 of a put's bytes.
        var sha256: String?
        /// When it was queued, in seconds since 1970.
        var queued: Double
    }

    /// What `cairn server replication status` reads besides the queue.
    struct Status: Codable, Sendable {
        var forwarded: Int = 0
        var forwardedBytes: Int = 0
        var lastForwarded: Double?
        var lastError: String?
        var lastErrorAt: Double?
        var target: String = ""
    }

    let target: any ReplicaTarget
    let queue: LocalFolderStorage
    let folder: String
    private let sequence = Mutex<UInt64>(0)
    private let wake: Mutex<CheckedContinuation<Void, Never>?> = Mutex(nil)
    private let status: Mutex<Status>
    private let clock: any WallClock

    static func queueFolder(state: String) -> String { state + "/replication/queue" }
    static func statusFile(state: String) -> String { state + "/replication/status.json" }

    init(state: String, target: any ReplicaTarget, clock: any WallClock = SystemClock()) throws {
        folder = state + "/replication"
        try FileManager.default.createDirectory(atPath: Self.queueFolder(state: state), withIntermediateDirectories: true)
        queue = LocalFolderStorage(root: Self.queueFolder(state: state))
        self.target = target
        self.clock = clock
        var status = (try? Data(contentsOf: URL(fileURLWithPath: Self.statusFile(state: state)))).flatMap { try? JSONDecoder().decode(Status.self, from: $0) } ?? Status()
        status.target = target.description
        self.status = Mutex(status)
    }

    /// A new entry's name: the time in nanoseconds, this process, a counter. Names sort in the
    /// order entries were queued, by this server and by a `cairn server prune` beside it.
    private func next() -> String {
        let number = sequence.withLock { value in
            value += 1
            return value
        }
        let nanoseconds = UInt64(max(0, clock.now().timeIntervalSince1970) * 1_000_000_000)
        return String(format: "%020llu-%d-%08llu", nanoseconds, getpid(), number)
    }

    /// Whether a file of the queue folder is an entry (not a temporary file of one being written).
    static func isEntry(_ name: String) -> Bool {
        name.count > 21 && name.prefix(20).allSatisfy(\.isNumber) && name.dropFirst(20).first == "-"
    }

    /// Queues what a request did, durably; a queue that cannot be written is logged and
    /// remembered, and the next start compares both sides in full.
    @discardableResult
    func stored(_ place: ObjectAPI.Place, size: Int, sha256: [UInt8], log: ServerLog) async -> String? {
        await enqueue(
            Entry(
                operation: .put, account: place.account, repository: place.repository, key: place.key, size: size,
                sha256: sha256.map { String(format: "%02x", $0) }.joined(), queued: clock.now().timeIntervalSince1970), log: log)
    }

    func deleted(_ place: ObjectAPI.Place, log: ServerLog) async {
        _ = await enqueue(
            Entry(operation: .delete, account: place.account, repository: place.repository, key: place.key, size: 0, sha256: nil, queued: clock.now().timeIntervalSince1970),
            log: log)
    }

    /// Queues an entry; its name, or nil when it was not queued.
    func enqueue(_ entry: Entry, log: ServerLog) async -> String? {
        guard !entry.key.hasPrefix("locks/") else { return nil }
        let name = next()
        do {
            try await queue.put(name, Array(try JSONEncoder().encode(entry)))
        } catch {
            log.note("replication: \(entry.account)/\(entry.repository)/\(entry.key) could not be queued (\(error)); the next start queues everything again")
            try? FileManager.default.removeItem(atPath: folder + "/synced")
            return nil
        }
        wake.withLock { continuation in
            continuation?.resume()
            continuation = nil
        }
        return name
    }

    /// Takes back an entry queued for a write that did not happen.
    func withdraw(_ name: String?) async {
        guard let name else { return }
        try? await queue.delete(name)
    }

    /// At the first start with replication (and after a queue write failed), every object of
    /// `storage` is queued, so the replica gets what was stored before.
    func queueEverythingOnce(storage: any StorageBackend, accounts: [String], log: ServerLog) async throws {
        let marker = folder + "/synced"
        guard !FileManager.default.fileExists(atPath: marker) else { return }
        var count = 0
        for account in accounts {
            let items = try await storage.listAll(prefix: account + "/")
            let descriptor = "/" + RepositoryDescriptor.fileName
            let repositories = items.filter { $0.key.hasSuffix(descriptor) }.map { String($0.key.dropFirst(account.count + 1).dropLast(descriptor.count)) }
                .sorted { $0.count > $1.count }
            for item in items {
                let inAccount = String(item.key.dropFirst(account.count + 1))
                guard let repository = repositories.first(where: { inAccount.hasPrefix($0 + "/") }) else { continue }
                let key = String(inAccount.dropFirst(repository.count + 1))
                guard !key.hasPrefix("locks/") else { continue }
                // The hash is taken when it is forwarded (nil: read and hashed then).
                try await queue.put(
                    next(),
                    Array(
                        try JSONEncoder().encode(
                            Entry(operation: .put, account: account, repository: repository, key: key, size: item.size, sha256: nil, queued: clock.now().timeIntervalSince1970))))
                count += 1
            }
        }
        FileManager.default.createFile(atPath: marker, contents: Data())
        if count > 0 { log.note("replication: queued the \(count) object\(count == 1 ? "" : "s") stored before, for \(target.description)") }
    }

    /// Forwards the queue for ever: in order, a few at once (never two of one key), waiting
    /// for new entries when it is empty and backing off while the replica fails.
    func run(storage: any StorageBackend, log: ServerLog) async {
        var backoff: UInt64 = 1
        while !Task.isCancelled {
            let names: [String]
            do {
                names = try await queue.list(prefix: "", after: nil, limit: 256).map(\.key).filter(Self.isEntry)
            } catch {
                log.note("replication: the queue cannot be read: \(error)")
                try? await Task.sleep(nanoseconds: 5_000_000_000)
                continue
            }
            if names.isEmpty {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    wake.withLock { $0 = continuation }
                    // Woken by the next entry, or after a while anyway.
                    Task {
                        try? await Task.sleep(nanoseconds: 2_000_000_000)
                        self.wake.withLock { waiting in
                            waiting?.resume()
                            waiting = nil
                        }
                    }
                }
                continue
            }
            var failed = false
            var batch: [(String, Entry)] = []
            var keys: Set<String> = []
            for name in names {
                guard let bytes = try? await queue.get(name), let entry = try? JSONDecoder().decode(Entry.self, from: Data(bytes)) else {
                    // Damaged: what it named is unknown, so the next start queues everything.
                    log.note("replication: the queue entry \(name) is damaged and was removed; the next start of the server queues every object again")
                    try? FileManager.default.removeItem(atPath: folder + "/synced")
                    status.withLock {
                        $0.lastError = "the queue entry \(name) was damaged; restart the server to queue every object again"
                        $0.lastErrorAt = clock.now().timeIntervalSince1970
                    }
                    try? await queue.delete(name)
                    continue
                }
                let full = "\(entry.account)/\(entry.repository)/\(entry.key)"
                // A key queued twice waits for the next round, in order.
                if !keys.insert(full).inserted { break }
                batch.append((name, entry))
                // Eight at once, and at most 128 MiB of objects held (each is read whole).
                if batch.count == 8 || batch.reduce(0, { $0 + $1.1.size }) >= 128 << 20 { break }
            }
            var waiting = false
            await withTaskGroup(of: Bool?.self) { group in
                for (name, entry) in batch {
                    group.addTask { await self.forward(name, entry, storage: storage, log: log) }
                }
                for await outcome in group {
                    if outcome == false { failed = true }
                    if outcome == nil { waiting = true }
                }
            }
            if waiting, !failed { try? await Task.sleep(nanoseconds: 100_000_000) }
            if failed {
                try? await Task.sleep(nanoseconds: backoff * 1_000_000_000)
                backoff = min(backoff * 2, 10)
            } else {
                backoff = 1
            }
            saveStatus()
        }
    }

    /// Forwards one entry; true when it is done with (sent, or nothing left to send).
    /// Whether an entry after `name` is about the same key.
    private func laterEntry(for entry: Entry, after name: String) async throws -> Bool {
        try await queue.list(prefix: "", after: name, limit: 10_000).contains { item in
            guard let data = try? FileManager.default.contents(atPath: queue.root + "/" + item.key),
                let other = try? JSONDecoder().decode(Entry.self, from: data)
            else { return false }
            return other.account == entry.account && other.repository == entry.repository && other.key == entry.key
        }
    }

    /// An entry is queued before its object is stored: until it is two minutes old, an
    /// object not there yet (or not yet with its hash) is waited for, not given up.
    private func isSettled(_ entry: Entry) -> Bool {
        clock.now().timeIntervalSince1970 - entry.queued > 120
    }

    /// Forwards one entry: true when it is done with (sent, or nothing left to send), false when
    /// it failed (tried again after a pause), nil when its upload has not finished yet.
    private func forward(_ name: String, _ entry: Entry, storage: any StorageBackend, log: ServerLog) async -> Bool? {
        let full = "\(entry.account)/\(entry.repository)/\(entry.key)"
        do {
            switch entry.operation {
            case .put:
                let bytes: [UInt8]
                do {
                    bytes = try await storage.get(full)
                } catch StorageError.notFound {
                    // Deleted since (its delete is queued after it), never stored (its upload
                    // failed), or not stored yet.
                    guard try await laterEntry(for: entry, after: name) || isSettled(entry) else { return nil }
                    try await queue.delete(name)
                    return true
                }
                let hash = Hashing.sha256(bytes).map { String(format: "%02x", $0) }.joined()
                if let expected = entry.sha256, hash != expected {
                    // Replaced since (a later entry sends it), not committed yet, or damaged
                    // here: never forwarded.
                    let later = try await laterEntry(for: entry, after: name)
                    if !later, !isSettled(entry) { return nil }
                    if !later {
                        log.note(
                            "replication: \(full) does not have the SHA-256 it was queued with (damaged on this server, or its upload never completed); it is not forwarded (cairn verify finds damage)")
                        status.withLock {
                            $0.lastError = "\(full) is damaged on this server and was not forwarded"
                            $0.lastErrorAt = clock.now().timeIntervalSince1970
                        }
                    }
                    try await queue.delete(name)
                    return true
                }
                try await target.put(account: entry.account, repository: entry.repository, key: entry.key, bytes)
                status.withLock {
                    $0.forwarded += 1
                    $0.forwardedBytes += bytes.count
                    $0.lastForwarded = clock.now().timeIntervalSince1970
                    // The replica answers again: a failure to reach it is behind (damage found
                    // here stays shown).
                    if $0.lastError?.contains("damaged") != true {
                        $0.lastError = nil
                        $0.lastErrorAt = nil
                    }
                }
            case .delete:
                try await target.delete(account: entry.account, repository: entry.repository, key: entry.key)
                status.withLock {
                    $0.forwarded += 1
                    $0.lastForwarded = clock.now().timeIntervalSince1970
                }
            }
            try await queue.delete(name)
            return true
        } catch {
            let message = "\(full) could not be forwarded to \(target.description): \(error)"
            let first = status.withLock { state -> Bool in
                let fresh = state.lastError != message
                state.lastError = message
                state.lastErrorAt = clock.now().timeIntervalSince1970
                return fresh
            }
            if first { log.note("replication: \(message); it is tried again") }
            return false
        }
    }

    private func saveStatus() {
        let current = status.withLock { $0 }
        guard let data = try? JSONEncoder().encode(current) else { return }
        let path = folder + "/status.json"
        let temporary = path + ".new"
        if FileManager.default.createFile(atPath: temporary, contents: data) { _ = rename(temporary, path) }
    }
}

/// Where replicated objects go.
protocol ReplicaTarget: Sendable, CustomStringConvertible {
    func put(account: String, repository: String, key: String, _ bytes: [UInt8]) async throws
    func delete(account: String, repository: String, key: String) async throws
}

/// Another cairn server, reached as a replication source it lists.
struct ServerReplica: ReplicaTarget {
    let options: ServerOptions
    let password: String

    var description: String { options.server }

    private func storage(_ account: String, _ repository: String) throws -> any StorageBackend {
        var options = options
        options.account = account
        return try ServerStorage(ServerStorage.Settings(options: options, repository: repository, password: password))
    }

    func put(account: String, repository: String, key: String, _ bytes: [UInt8]) async throws {
        try await storage(account, repository).put(key, bytes)
    }

    func delete(account: String, repository: String, key: String) async throws {
        try await storage(account, repository).delete(key)
    }
}

/// An S3 bucket: objects at PREFIX/ACCOUNT/REPOSITORY/KEY, so a client account
/// `s3://BUCKET/PREFIX/ACCOUNT` restores from it.
struct S3Replica: ReplicaTarget {
    let storage: any StorageBackend
    let name: String

    var description: String { name }

    func put(account: String, repository: String, key: String, _ bytes: [UInt8]) async throws {
        try await storage.put("\(account)/\(repository)/\(key)", bytes)
    }

    func delete(account: String, repository: String, key: String) async throws {
        try await storage.delete("\(account)/\(repository)/\(key)")
    }
}

/// A repository's storage whose writes and deletes are queued for the replica too: what
/// `cairn server prune` changes reaches the replica as what clients change does.
struct ReplicatingStorage: StorageBackend {
    let base: any StorageBackend
    let replicator: Replicator
    let account: String
    let repository: String
    let log: ServerLog

    var location: String { base.location }
    var capabilities: StorageCapabilities { base.capabilities }

    private func place(_ key: String) -> ObjectAPI.Place { ObjectAPI.Place(account: account, repository: repository, key: key) }

    func get(_ key: String) async throws -> [UInt8] { try await base.get(key) }
    func read(_ key: String, range: Range<Int>) async throws -> StorageBuffer { try await base.read(key, range: range) }
    func stat(_ key: String) async throws -> StorageItem? { try await base.stat(key) }
    func list(prefix: String, after: String?, limit: Int) async throws -> [StorageItem] { try await base.list(prefix: prefix, after: after, limit: limit) }
    func removeAbandonedUploads(prefix: String) async throws -> Int { try await base.removeAbandonedUploads(prefix: prefix) }

    func put(_ key: String, _ data: [UInt8]) async throws {
        try await base.put(key, data)
        await replicator.stored(place(key), size: data.count, sha256: Hashing.sha256(data), log: log)
    }

    func putIfAbsent(_ key: String, _ data: [UInt8]) async throws -> Bool {
        guard try await base.putIfAbsent(key, data) else { return false }
        await replicator.stored(place(key), size: data.count, sha256: Hashing.sha256(data), log: log)
        return true
    }

    func delete(_ key: String) async throws {
        try await base.delete(key)
        await replicator.deleted(place(key), log: log)
    }

    func delete(_ keys: [String]) async throws {
        for key in keys { try await delete(key) }
    }

    func openUpload(_ key: String) async throws -> any StorageUpload {
        ReplicatingUpload(upload: try await base.openUpload(key), storage: self, key: key)
    }

    func committed(_ key: String, size: Int, sha256: [UInt8]) async {
        await replicator.stored(place(key), size: size, sha256: sha256, log: log)
    }
}

final class ReplicatingUpload: StorageUpload, @unchecked Sendable {
    let upload: any StorageUpload
    let storage: ReplicatingStorage
    let key: String
    let hasher = SHA256Stream()
    var size = 0

    init(upload: any StorageUpload, storage: ReplicatingStorage, key: String) {
        self.upload = upload
        self.storage = storage
        self.key = key
    }

    func write(_ bytes: [UInt8]) async throws {
        try await upload.write(bytes)
        hasher.update(bytes)
        size += bytes.count
    }

    func commit() async throws {
        try await upload.commit()
        await storage.committed(key, size: size, sha256: hasher.finish())
    }
}
