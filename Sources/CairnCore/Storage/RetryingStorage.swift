import Foundation

/// How often and how long to try again after a transient failure.
public struct RetryPolicy: Sendable, Equatable {
    /// Tries in all, the first included.
    public var attempts: Int
    /// The wait before the first retry; each next wait doubles, up to `maximumDelay`.
    public var initialDelay: Duration
    public var maximumDelay: Duration
    /// No retry starts once this much time has passed since the first try.
    public var deadline: Duration
    /// The share of each wait that is random (0: none, 1: anywhere between 0 and the wait),
    /// so that clients that failed together do not retry together.
    public var jitter: Double

    public init(attempts: Int, initialDelay: Duration, maximumDelay: Duration, deadline: Duration, jitter: Double) {
        self.attempts = attempts
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
        self.deadline = deadline
        self.jitter = jitter
    }

    /// Six tries over at most two minutes: waits of about 0.2, 0.4, 0.8, 1.6 and 3.2 s.
    public static let standard = RetryPolicy(attempts: 6, initialDelay: .milliseconds(200), maximumDelay: .seconds(10), deadline: .seconds(120), jitter: 0.5)

    /// The wait before retry `retry` (1 for the first), with `random` in 0..<1.
    public func delay(beforeRetry retry: Int, random: Double) -> Duration {
        var wait = initialDelay
        for _ in 1..<max(1, retry) where wait < maximumDelay { wait *= 2 }
        wait = min(wait, maximumDelay)
        return wait * (1 - jitter * random)
    }
}

/// A backend that tries again, with exponential backoff and jitter, when its base fails with
/// a transient error (`StorageError.isTransient`): bounded in tries and time. Any other
/// failure, and a cancelled task, stops at once. A read that returns fewer bytes than asked
/// (a connection cut short) counts as transient.
public struct RetryingStorage: StorageBackend {
    public let base: any StorageBackend
    public let policy: RetryPolicy
    private let sleep: @Sendable (Duration) async throws -> Void
    private let now: @Sendable () -> ContinuousClock.Instant

    /// `sleep` waits between tries and `now` tells the time (tests pass a clock that moves only
    /// when they sleep).
    public init(
        _ base: any StorageBackend, policy: RetryPolicy = .standard, sleep: (@Sendable (Duration) async throws -> Void)? = nil,
        now: (@Sendable () -> ContinuousClock.Instant)? = nil
    ) {
        self.base = base
        self.policy = policy
        self.sleep = sleep ?? { try await Task.sleep(for: $0) }
        self.now = now ?? { ContinuousClock.now }
    }

    public var location: String { base.location }
    /// The base's, except that a wait between tries ends with its task's cancellation.
    public var capabilities: StorageCapabilities {
        var capabilities = base.capabilities
        capabilities.writesRunToCompletion = false
        return capabilities
    }

    /// Runs `body` until it succeeds, fails with a permanent error, or the policy gives up;
    /// `retried` is true from the second try on.
    func retrying<Value>(_ body: (_ retried: Bool) async throws -> Value) async throws -> Value {
        let start = now()
        var attempt = 1
        while true {
            do {
                return try await body(attempt > 1)
            } catch let error as StorageError where error.isTransient {
                let wait = policy.delay(beforeRetry: attempt, random: Double.random(in: 0..<1))
                let spent = start.duration(to: now())
                guard attempt < policy.attempts, spent + wait <= policy.deadline else {
                    guard case .transient(let place, let reason) = error else { throw error }
                    throw StorageError.transient(place, "\(reason); tried \(attempt) times over \(Self.format(spent))")
                }
                try await sleep(wait)
                attempt += 1
            }
        }
    }

    static func format(_ duration: Duration) -> String {
        String(format: "%.1f s", Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
    }

    public func get(_ key: String) async throws -> [UInt8] {
        try await retrying { _ in try await base.get(key) }
    }

    public func prefetch(_ key: String, ranges: [Range<Int>]) { base.prefetch(key, ranges: ranges) }

    public func read(_ key: String, range: Range<Int>) async throws -> StorageBuffer {
        try await retrying { _ in
            let buffer = try await base.read(key, range: range)
            guard buffer.count == range.count else {
                throw StorageError.transient(key, "a read of \(range.count) bytes returned \(buffer.count)")
            }
            return buffer
        }
    }

    public func put(_ key: String, _ data: [UInt8]) async throws {
        try await retrying { _ in try await base.put(key, data) }
    }

    /// A retry after a failure whose answer was lost may find the first try's file: it counts
    /// as this writer's when it holds exactly these bytes (lock files hold a random id).
    public func putIfAbsent(_ key: String, _ data: [UInt8]) async throws -> Bool {
        try await retrying { retried in
            if try await base.putIfAbsent(key, data) { return true }
            guard retried else { return false }
            return try await base.get(key) == data
        }
    }

    public func stat(_ key: String) async throws -> StorageItem? {
        try await retrying { _ in try await base.stat(key) }
    }

    public func list(prefix: String, after: String?, limit: Int) async throws -> [StorageItem] {
        try await retrying { _ in try await base.list(prefix: prefix, after: after, limit: limit) }
    }

    public func delete(_ key: String) async throws {
        try await retrying { _ in try await base.delete(key) }
    }

    public func delete(_ keys: [String]) async throws {
        try await retrying { _ in try await base.delete(keys) }
    }

    public func openUpload(_ key: String) async throws -> any StorageUpload {
        RetryingUpload(upload: try await retrying { _ in try await base.openUpload(key) }, storage: self)
    }

    public func removeAbandonedUploads(prefix: String) async throws -> Int {
        try await retrying { _ in try await base.removeAbandonedUploads(prefix: prefix) }
    }
}

/// An upload whose writes and commit are tried again: a write or commit that failed with a
/// transient error changed nothing (the `StorageUpload` contract).
final class RetryingUpload: StorageUpload, @unchecked Sendable {
    let upload: any StorageUpload
    let storage: RetryingStorage

    init(upload: any StorageUpload, storage: RetryingStorage) {
        self.upload = upload
        self.storage = storage
    }

    func write(_ bytes: [UInt8]) async throws {
        try await storage.retrying { _ in try await upload.write(bytes) }
    }

    func commit() async throws {
        try await storage.retrying { _ in try await upload.commit() }
    }
}
