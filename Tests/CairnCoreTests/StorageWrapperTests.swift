import CairnTesting
import Foundation
import Synchronization
import Testing

@testable import CairnCore

/// The wrappers around a backend: retries, injected faults, read-only and dry-run, and the
/// registry that picks a backend from a destination.
@Suite("Storage wrappers and registry")
struct StorageWrapperTests {
    /// Fails each call of `failing` with `error` for the first `times` calls, then passes;
    /// with `applyFirst`, the failing call is carried out before its error (a lost answer).
    final class Flaky: StorageBackend, Sendable {
        let base: any StorageBackend = MemoryStorage()
        let times: Int
        let error: StorageError
        let applyFirst: Bool
        let calls = Mutex(0)

        init(times: Int, error: StorageError = .transient("x", "503"), applyFirst: Bool = false) {
            self.times = times
            self.error = error
            self.applyFirst = applyFirst
        }

        var location: String { "flaky" }
        var capabilities: StorageCapabilities { base.capabilities }

        func fail() throws {
            let call = calls.withLock { count in
                count += 1
                return count
            }
            if call <= times { throw error }
        }

        func get(_ key: String) async throws -> [UInt8] {
            try fail()
            return try await base.get(key)
        }
        func read(_ key: String, range: Range<Int>) async throws -> StorageBuffer { try await base.read(key, range: range) }
        func put(_ key: String, _ data: [UInt8]) async throws {
            if applyFirst { try await base.put(key, data) }
            try fail()
            try await base.put(key, data)
        }
        func putIfAbsent(_ key: String, _ data: [UInt8]) async throws -> Bool {
            if applyFirst, calls.withLock({ $0 }) < times {
                let stored = try await base.putIfAbsent(key, data)
                try fail()
                return stored
            }
            try fail()
            return try await base.putIfAbsent(key, data)
        }
        func stat(_ key: String) async throws -> StorageItem? { try await base.stat(key) }
        func list(prefix: String, after: String?, limit: Int) async throws -> [StorageItem] { try await base.list(prefix: prefix, after: after, limit: limit) }
        func delete(_ key: String) async throws { try await base.delete(key) }
    }

    /// Records the waits instead of waiting, on a clock that moves only by them.
    final class Waits: Sendable {
        let recorded = Mutex<[Duration]>([])
        let start = ContinuousClock.now
        var sleep: @Sendable (Duration) async throws -> Void { { wait in self.recorded.withLock { $0.append(wait) } } }
        var now: @Sendable () -> ContinuousClock.Instant { { self.start + self.recorded.withLock { $0.reduce(.zero, +) } } }
        var all: [Duration] { recorded.withLock { $0 } }
    }

    @Test func transientFailuresAreTriedAgainWithGrowingWaits() async throws {
        let flaky = Flaky(times: 4)
        try await flaky.base.put("config", [1])
        let waits = Waits()
        let policy = RetryPolicy(attempts: 6, initialDelay: .milliseconds(100), maximumDelay: .milliseconds(500), deadline: .seconds(60), jitter: 0.5)
        let storage = RetryingStorage(flaky, policy: policy, sleep: waits.sleep, now: waits.now)
        #expect(try await storage.get("config") == [1])
        #expect(flaky.calls.withLock { $0 } == 5)
        // 100, 200, 400, then capped at 500 ms, each cut by up to half at random.
        let bounds: [(Duration, Duration)] = [(.milliseconds(50), .milliseconds(100)), (.milliseconds(100), .milliseconds(200)), (.milliseconds(200), .milliseconds(400)), (.milliseconds(250), .milliseconds(500))]
        #expect(waits.all.count == 4)
        for (wait, bound) in zip(waits.all, bounds) { #expect(wait >= bound.0 && wait <= bound.1, "\(wait) within \(bound)") }
    }

    @Test func retriesAreBoundedInCountAndTime() async throws {
        let flaky = Flaky(times: 100)
        let waits = Waits()
        let storage = RetryingStorage(flaky, policy: RetryPolicy(attempts: 3, initialDelay: .milliseconds(1), maximumDelay: .milliseconds(1), deadline: .seconds(60), jitter: 0), sleep: waits.sleep, now: waits.now)
        await #expect(throws: StorageError.transient("x", "503; tried 3 times over 0.0 s")) { _ = try await storage.get("config") }
        #expect(flaky.calls.withLock { $0 } == 3)

        // A deadline shorter than the next wait: no retry starts past it.
        let slow = Flaky(times: 100)
        let clock = Waits()
        let bounded = RetryingStorage(slow, policy: RetryPolicy(attempts: 50, initialDelay: .seconds(1), maximumDelay: .seconds(30), deadline: .seconds(5), jitter: 0), sleep: clock.sleep, now: clock.now)
        await #expect(throws: StorageError.self) { _ = try await bounded.get("config") }
        #expect(slow.calls.withLock { $0 } == 3, "waits of 1 and 2 s fit in 5 s; the next, 4 s, would not")
    }

    @Test func permanentFailuresAndCancellationAreNotRetried() async throws {
        for error in [StorageError.noSpace("x"), .permissionDenied("x"), .damaged("x", "bad"), .notFound("x"), .quotaExceeded("x")] {
            let flaky = Flaky(times: 1, error: error)
            let storage = RetryingStorage(flaky, sleep: { _ in })
            await #expect(throws: error) { _ = try await storage.get("config") }
            #expect(flaky.calls.withLock { $0 } == 1, "\(error) is not retried")
        }
        let flaky = Flaky(times: 1000)
        let storage = RetryingStorage(flaky, policy: RetryPolicy(attempts: 1000, initialDelay: .milliseconds(20), maximumDelay: .milliseconds(20), deadline: .seconds(600), jitter: 0))
        let task = Task { try await storage.get("config") }
        try await Task.sleep(for: .milliseconds(100))
        task.cancel()
        await #expect(throws: CancellationError.self) { _ = try await task.value }
        #expect(flaky.calls.withLock { $0 } < 20)
    }

    @Test func aPutIfAbsentWhoseAnswerWasLostIsRecognisedAsWon() async throws {
        let flaky = Flaky(times: 1, applyFirst: true)
        let storage = RetryingStorage(flaky, sleep: { _ in })
        #expect(try await storage.putIfAbsent("locks/a", [1, 2, 3]), "the first try stored it; the retry finds its own bytes")
        #expect(try await storage.putIfAbsent("locks/a", [1, 2, 3]) == false, "without a lost answer, an existing file is another's")
        let other = Flaky(times: 1)
        try await other.base.put("locks/b", [9])
        #expect(try await RetryingStorage(other, sleep: { _ in }).putIfAbsent("locks/b", [1]) == false, "another writer's file is not taken for ours")
    }

    @Test func injectedFaultsAreRepeatableAndBounded() async throws {
        func run(seed: UInt64) async -> [Bool] {
            var plan = FaultInjectingStorage.Plan()
            plan.rules = [.init([.put], probability: 0.5) { .transient($0, "injected") }]
            plan.seed = seed
            let storage = FaultInjectingStorage(MemoryStorage(), plan: plan)
            var outcomes: [Bool] = []
            for index in 0..<40 { outcomes.append((try? await storage.put("k\(index)", [1])) != nil) }
            return outcomes
        }
        let first = await run(seed: 7)
        #expect(await run(seed: 7) == first, "the same seed, the same faults")
        #expect(await run(seed: 8) != first)
        #expect(first.filter { $0 }.count > 5 && first.filter { !$0 }.count > 5)

        var full = FaultInjectingStorage.Plan()
        full.noSpaceAfter = 1000
        let filling = FaultInjectingStorage(MemoryStorage(), plan: full)
        try await filling.put("a", [UInt8](repeating: 1, count: 600))
        await #expect(throws: StorageError.noSpace("b")) { try await filling.put("b", [UInt8](repeating: 1, count: 600)) }
        let upload = try await filling.openUpload("c")
        try await upload.write([UInt8](repeating: 1, count: 300))
        await #expect(throws: StorageError.noSpace("c")) { try await upload.write([UInt8](repeating: 1, count: 300)) }
    }

    @Test func aCrashPointStopsEverythingAfterIt() async throws {
        for applying in [false, true] {
            var plan = FaultInjectingStorage.Plan()
            plan.crashAfterWrites = 3
            plan.crashAfterApplying = applying
            let base = MemoryStorage()
            let storage = FaultInjectingStorage(base, plan: plan)
            try await storage.put("a", [1])
            try await storage.put("b", [2])
            await #expect(throws: StorageError.self) { try await storage.put("c", [3]) }
            #expect(storage.crashed)
            await #expect(throws: StorageError.self) { _ = try await storage.get("a") }
            await #expect(throws: StorageError.self) { _ = try await storage.stat("a") }
            let carried = await base.stat("c") != nil
            #expect(carried == applying, "the write at the crash point is carried out only when asked")
        }
    }

    /// A repository written through retries over a storage that fails a fifth of its calls
    /// comes out whole; one written until a crash point is consistent at every point.
    @Test func aRepositoryOverFaultsStaysWhole() async throws {
        let directory = try TemporaryDirectory()
        var plan = StorageConformanceTests.flaky(seed: 11)
        plan.shortReads = 0.2
        let faulty = FaultInjectingStorage(LocalFolderStorage(root: directory.subpath("repo")), plan: plan)
        let storage = RetryingStorage(faulty, policy: StorageConformanceTests.quickRetries)
        let repository = try await Repository.create(storage: storage, algorithm: .aes256GCM, passphrase: passphrase, scrypt: testScrypt)
        var random = SeededGenerator(state: 5)
        var stored: [ObjectID: [UInt8]] = [:]
        for index in 0..<300 {
            let data = random.bytes(index % 7 == 0 ? 200_000 : 3000)
            stored[try await repository.store(.blob, data).id] = data
        }
        try await repository.flush()
        #expect(faulty.injected > 50)
        let reopened = try await Repository.open(storage: storage, passphrase: passphrase)
        for (id, data) in stored { #expect(try await reopened.load(.blob, id) == data) }
        let plain = try await Repository.open(storage: LocalFolderStorage(root: directory.subpath("repo")), passphrase: passphrase)
        #expect(await plain.objectCount == stored.count)
        #expect(await plain.warnings.isEmpty)
    }

    @Test(arguments: [1, 2, 3, 5, 8, 13])
    func aRepositoryCutAtAnyWriteIsConsistent(crashAfter: Int) async throws {
        let base = MemoryStorage()
        _ = try await Repository.create(storage: base, algorithm: .aes256GCM, passphrase: passphrase, scrypt: testScrypt)
        var plan = FaultInjectingStorage.Plan()
        plan.crashAfterWrites = crashAfter
        plan.crashAfterApplying = crashAfter % 2 == 0
        let storage = FaultInjectingStorage(base, plan: plan)
        let repository = try await Repository.open(storage: storage, passphrase: passphrase)
        var random = SeededGenerator(state: UInt64(crashAfter))
        var stored: [ObjectID: [UInt8]] = [:]
        do {
            for round in 0..<6 {
                for _ in 0..<40 {
                    let data = random.bytes(round % 2 == 0 ? 300_000 : 2000)
                    stored[try await repository.store(.blob, data).id] = data
                }
                try await repository.flush()
            }
            Issue.record("the crash point was not reached")
        } catch {
            #expect(storage.crashed, "\(error)")
        }
        // What the storage holds after the crash opens, and every object its index lists loads.
        let after = try await Repository.open(storage: base, passphrase: passphrase)
        #expect(await after.warnings.isEmpty)
        for (id, data) in stored where await after.contains(id) { #expect(try await after.load(.blob, id) == data) }
    }

    @Test func aReadOnlyStorageChangesNothing() async throws {
        let base = MemoryStorage()
        try await base.put("config", [1])
        let refusing = ReadOnlyStorage(base, mode: .refuse)
        #expect(try await refusing.get("config") == [1])
        for write in [{ try await refusing.put("config", [2]) }, { try await refusing.delete("config") }, { _ = try await refusing.putIfAbsent("x", [1]) }, { _ = try await refusing.openUpload("y") }] as [() async throws -> Void] {
            do {
                try await write()
                Issue.record("a write went through")
            } catch let error as StorageError {
                #expect(error.category == .permission)
            }
        }
        let dry = ReadOnlyStorage(base, mode: .dryRun)
        try await dry.put("data/a", [1, 2])
        try await dry.delete("config")
        #expect(try await dry.get("data/a") == [1, 2])
        #expect(try await dry.stat("config") == nil)
        #expect(try await dry.listAll(prefix: "").map(\.key) == ["data/a"])
        let changes = await dry.changes
        #expect(changes.written == [StorageItem(key: "data/a", size: 2)] && changes.removed == ["config"])
        #expect(try await base.get("config") == [1])
        #expect(await base.stat("data/a") == nil, "the base is as it was")
    }

    @Test func theRegistryPicksTheBackendByScheme() throws {
        let registry = StorageRegistry.standard
        #expect((try registry.open("/srv/backup/docs") as? LocalFolderStorage)?.root == "/srv/backup/docs")
        #expect((try registry.open("file:///srv/backup/my%20docs") as? LocalFolderStorage)?.root == "/srv/backup/my docs")
        #expect((try registry.open("/srv/a://b") as? LocalFolderStorage)?.root == "/srv/a://b", "a path is a path")
        #expect(try registry.open("memory://test/one") as? MemoryStorage === MemoryStorage.named("test/one"))
        #expect(throws: StorageRegistry.Failure.unknownScheme("s3", destination: "s3://bucket/x", known: ["file", "memory"])) { try registry.open("s3://bucket/x") }
        #expect(throws: StorageRegistry.Failure.self) { try registry.open("relative/path") }
        #expect(throws: StorageRegistry.Failure.self) { try registry.open("file://otherhost/x") }
        var extended = registry
        extended.register("S3") { _ in MemoryStorage() }
        #expect(extended.canOpen(scheme: "s3") && extended.schemes == ["file", "memory", "s3"])
        #expect("\(StorageRegistry.Failure.unknownScheme("s3", destination: "s3://b", known: ["file"]))".contains("cannot store to s3:// destinations"))
    }

    @Test func errorsSayWhetherTheyMayPass() {
        #expect(LocalFolderStorage.failure("/x", ETIMEDOUT).isTransient)
        #expect(LocalFolderStorage.failure("/x", ESTALE).isTransient)
        #expect(LocalFolderStorage.failure("/x", ENOSPC).category == .noSpace)
        #expect(LocalFolderStorage.failure("/x", EDQUOT).category == .quotaExceeded)
        #expect(LocalFolderStorage.failure("/x", EACCES).category == .permission)
        #expect(LocalFolderStorage.failure("/x", EROFS).category == .permission)
        #expect(LocalFolderStorage.failure("/x", EIO).category == .failed)
        #expect(StorageError.outOfRange("k").isDamage && !StorageError.outOfRange("k").isTransient)
    }
}

/// Packs whose commit fails while other tasks keep storing: the repository never ends up with
/// an index entry that points at the wrong bytes, and nothing crashes.
@Suite("Failed pack commits under concurrent stores")
struct FailedCommitTests {
    @Test(arguments: [UInt64(1), 2, 3, 4, 5, 6, 7, 8])
    func concurrentStoresAroundFailedCommitsLeaveAConsistentRepository(seed: UInt64) async throws {
        let base = MemoryStorage()
        _ = try await Repository.create(storage: base, algorithm: .aes256GCM, passphrase: passphrase, scrypt: testScrypt)
        var plan = FaultInjectingStorage.Plan()
        plan.rules = [.init([.uploadCommit, .put], probability: 0.3) { .io($0, "injected: the disk failed") }]
        plan.seed = seed
        let repository = try await Repository.open(storage: FaultInjectingStorage(base, plan: plan), passphrase: passphrase)
        final class Stored: Sendable { let objects = Mutex<[ObjectID: [UInt8]]>([:]) }
        let stored = Stored()
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<6 {
                group.addTask {
                    var random = SeededGenerator(state: seed * 100 + UInt64(task))
                    for _ in 0..<40 {
                        let data = random.bytes(Int.random(in: 100_000...400_000, using: &random))
                        if let result = try? await repository.store(.blob, data) { stored.objects.withLock { $0[result.id] = data } }
                    }
                }
            }
        }
        _ = try? await repository.flush()
        // Whatever was stored before a failure opens, and every object the index lists is the
        // one stored under its id.
        let after = try await Repository.open(storage: base, passphrase: passphrase)
        let warnings = await after.warnings
        #expect(warnings.isEmpty, "\(warnings)")
        // Every object of every pack, also those of stores that failed, is what its id says:
        // a later backup would take any of them for stored content.
        let report = try await Verifier(repository: after).run(readData: 1)
        #expect(report.damages.isEmpty, "\(report.damages.map(\.message))")
        let objects = stored.objects.withLock { $0 }
        #expect(!objects.isEmpty)
        for (id, data) in objects where await after.contains(id) {
            #expect(try await after.load(.blob, id) == data)
        }
    }

    @Test func aLocalUploadFailureIsNeverRetried() {
        #expect(!LocalFolderUpload.failure("/x", ETIMEDOUT).isTransient, "part of the bytes may be written")
        #expect(LocalFolderUpload.failure("/x", ENOSPC).category == .noSpace)
    }
}
