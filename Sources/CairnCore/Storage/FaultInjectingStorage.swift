import Foundation
import Synchronization

/// A backend that fails on purpose, for tests: errors by operation and probability, short
/// reads, latency, no space after a number of bytes, and a crash point after which every call
/// fails (what a killed process or a storage that went away leaves). Random choices come from
/// a seeded generator, so a failing case can be run again.
public final class FaultInjectingStorage: StorageBackend, Sendable {
    public enum Operation: String, Sendable, CaseIterable {
        case get, read, put, putIfAbsent, stat, list, delete, openUpload, uploadWrite, uploadCommit, removeAbandonedUploads

        /// Operations that change what is stored.
        public var writes: Bool {
            switch self {
            case .put, .putIfAbsent, .delete, .uploadCommit, .removeAbandonedUploads: return true
            default: return false
            }
        }
    }

    public struct Plan: Sendable {
        /// Each call of one of `operations` fails with `error` (of the key) with `probability`.
        public struct Rule: Sendable {
            public var operations: Set<Operation>
            public var probability: Double
            public var error: @Sendable (String) -> StorageError

            public init(_ operations: Set<Operation>, probability: Double, error: @escaping @Sendable (String) -> StorageError) {
                self.operations = operations
                self.probability = probability
                self.error = error
            }
        }

        public var rules: [Rule] = []
        /// The share of ranged reads that return fewer bytes than asked.
        public var shortReads: Double = 0
        /// Added before every call.
        public var latency: Duration = .zero
        /// Writes fail with `noSpace` once this many bytes were written through this storage.
        public var noSpaceAfter: Int?
        /// After this many calls that change what is stored, every call fails; the last one
        /// is carried out first when `crashAfterApplying` (a crash after the write, before its
        /// answer), or not at all.
        public var crashAfterWrites: Int?
        public var crashAfterApplying = false
        public var seed: UInt64 = 1
        /// Called before every call with its operation and key, and waited for: another
        /// host's work done at that very moment (a prune between a listing and a read).
        public var beforeCall: (@Sendable (Operation, String) async -> Void)?

        public init() {}
    }

    private struct State {
        var random: SeededGenerator
        var bytesWritten = 0
        var writes = 0
        var crashed = false
        var calls: [Operation: Int] = [:]
        var injected = 0
    }

    public let base: any StorageBackend
    public let plan: Plan
    private let state: Mutex<State>

    public init(_ base: any StorageBackend, plan: Plan) {
        self.base = base
        self.plan = plan
        state = Mutex(State(random: SeededGenerator(state: plan.seed)))
    }

    public var location: String { base.location }
    /// The base's, except that a latency is a sleep, which ends with its task's cancellation.
    public var capabilities: StorageCapabilities {
        var capabilities = base.capabilities
        if plan.latency > .zero { capabilities.writesRunToCompletion = false }
        return capabilities
    }

    /// How many faults were injected so far.
    public var injected: Int { state.withLock { $0.injected } }
    /// Whether the crash point was reached.
    public var crashed: Bool { state.withLock { $0.crashed } }
    /// How many calls of `operation` were made.
    public func calls(_ operation: Operation) -> Int { state.withLock { $0.calls[operation] ?? 0 } }

    static func crashError(_ place: String) -> StorageError { .io(place, "the storage is gone (an injected crash)") }

    /// Decides the fate of one call: throws its fault, or returns whether it is the call at
    /// the crash point (carried out, then the error).
    private func enter(_ operation: Operation, _ key: String, bytes: Int = 0) async throws -> Bool {
        if plan.latency > .zero { try await Task.sleep(for: plan.latency) }
        await plan.beforeCall?(operation, key)
        return try state.withLock { state in
            state.calls[operation, default: 0] += 1
            if state.crashed { throw Self.crashError(key) }
            for rule in plan.rules where rule.operations.contains(operation) {
                if state.random.unit() < rule.probability {
                    state.injected += 1
                    throw rule.error(key)
                }
            }
            if bytes > 0, let limit = plan.noSpaceAfter {
                guard state.bytesWritten + bytes <= limit else {
                    state.injected += 1
                    throw StorageError.noSpace(key)
                }
                state.bytesWritten += bytes
            }
            guard operation.writes, let limit = plan.crashAfterWrites else { return false }
            state.writes += 1
            guard state.writes >= limit else { return false }
            state.crashed = true
            state.injected += 1
            if plan.crashAfterApplying { return true }
            throw Self.crashError(key)
        }
    }

    private func run<Value>(_ operation: Operation, _ key: String, bytes: Int = 0, _ body: () async throws -> Value) async throws -> Value {
        let crashing = try await enter(operation, key, bytes: bytes)
        let value = try await body()
        if crashing { throw Self.crashError(key) }
        return value
    }

    public func get(_ key: String) async throws -> [UInt8] {
        try await run(.get, key) { try await base.get(key) }
    }

    public func prefetch(_ key: String, ranges: [Range<Int>]) { base.prefetch(key, ranges: ranges) }

    public func read(_ key: String, range: Range<Int>) async throws -> StorageBuffer {
        let buffer = try await run(.read, key) { try await base.read(key, range: range) }
        let short = buffer.count > 0 && state.withLock { $0.random.unit() < plan.shortReads }
        guard short else { return buffer }
        state.withLock { $0.injected += 1 }
        return buffer.slice(0..<buffer.count / 2)
    }

    public func put(_ key: String, _ data: [UInt8]) async throws {
        try await run(.put, key, bytes: data.count) { try await base.put(key, data) }
    }

    public func putIfAbsent(_ key: String, _ data: [UInt8]) async throws -> Bool {
        try await run(.putIfAbsent, key, bytes: data.count) { try await base.putIfAbsent(key, data) }
    }

    public func stat(_ key: String) async throws -> StorageItem? {
        try await run(.stat, key) { try await base.stat(key) }
    }

    public func list(prefix: String, after: String?, limit: Int) async throws -> [StorageItem] {
        try await run(.list, prefix) { try await base.list(prefix: prefix, after: after, limit: limit) }
    }

    public func delete(_ key: String) async throws {
        try await run(.delete, key) { try await base.delete(key) }
    }

    public func openUpload(_ key: String) async throws -> any StorageUpload {
        let upload = try await run(.openUpload, key) { try await base.openUpload(key) }
        return FaultInjectingUpload(upload: upload, key: key, storage: self)
    }

    public func removeAbandonedUploads(prefix: String) async throws -> Int {
        try await run(.removeAbandonedUploads, prefix) { try await base.removeAbandonedUploads(prefix: prefix) }
    }

    fileprivate func uploadWrite(_ upload: any StorageUpload, key: String, _ bytes: [UInt8]) async throws {
        try await run(.uploadWrite, key, bytes: bytes.count) { try await upload.write(bytes) }
    }

    fileprivate func uploadCommit(_ upload: any StorageUpload, key: String) async throws {
        try await run(.uploadCommit, key) { try await upload.commit() }
    }
}

final class FaultInjectingUpload: StorageUpload, Sendable {
    let upload: any StorageUpload
    let key: String
    let storage: FaultInjectingStorage

    init(upload: any StorageUpload, key: String, storage: FaultInjectingStorage) {
        self.upload = upload
        self.key = key
        self.storage = storage
    }

    func write(_ bytes: [UInt8]) async throws { try await storage.uploadWrite(upload, key: key, bytes) }
    func commit() async throws { try await storage.uploadCommit(upload, key: key) }
}
