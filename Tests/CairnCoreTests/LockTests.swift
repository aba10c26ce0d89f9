import Foundation
import Testing

@testable import CairnCore

@Suite("Locks are leases")
struct LockTests {
    func repository() async throws -> (Repository, MemoryStorage) {
        let storage = MemoryStorage()
        return (try await Repository.create(storage: storage, algorithm: .aes256GCM, passphrase: passphrase, scrypt: testScrypt), storage)
    }

    @Test func aSecondWriterIsRefusedNamingTheHolder() async throws {
        let (repository, storage) = try await repository()
        let first = try await repository.lock(.writer, command: "cairn backup docs")
        do {
            _ = try await repository.lock(.writer, command: "cairn backup docs")
            Issue.record("a second writer got the lock")
        } catch let RepositoryError.locked(message) {
            #expect(message.contains("cairn backup docs by"))
            #expect(message.contains("@\(RunEnvironment.live().hostName), pid \(getpid()), since"))
        }
        let reader = try await repository.lock(.shared, command: "cairn restore docs")
        await reader.release()
        await first.release()
        #expect(try await storage.listAll(prefix: "locks/").isEmpty)
        let again = try await repository.lock(.writer, command: "cairn backup docs")
        await again.release()
    }

    @Test func exclusiveExcludesEveryone() async throws {
        let (repository, _) = try await repository()
        let reader = try await repository.lock(.shared, command: "cairn restore")
        await #expect(throws: RepositoryError.self) { try await repository.lock(.exclusive, command: "cairn prune") }
        await reader.release()
        let pruning = try await repository.lock(.exclusive, command: "cairn prune")
        await #expect(throws: RepositoryError.self) { try await repository.lock(.shared, command: "cairn restore") }
        await pruning.release()
    }

    @Test func staleLeasesAreRemoved() async throws {
        let (repository, storage) = try await repository()
        let now = Date()
        // A process of this host that no longer exists.
        let dead = LockRecord(
            mode: .exclusive, host: RunEnvironment.live().hostName, pid: Int32.max - 1, user: "u", command: "cairn prune",
            start: Timestamp(now), refreshed: Timestamp(now))
        _ = try await repository.writeLock(dead, id: try .random())
        // Another host's lease not refreshed for 31 minutes.
        let old = LockRecord(
            mode: .exclusive, host: "elsewhere", pid: 1, user: "u", command: "cairn prune",
            start: Timestamp(now.addingTimeInterval(-3600)), refreshed: Timestamp(now.addingTimeInterval(-31 * 60)))
        _ = try await repository.writeLock(old, id: try .random())
        // Another host's live lease.
        let live = LockRecord(
            mode: .writer, host: "elsewhere", pid: 1, user: "u", command: "cairn backup",
            start: Timestamp(now), refreshed: Timestamp(now))
        _ = try await repository.writeLock(live, id: try .random())

        #expect(try await repository.locks(now: now).map(\.record) == [live])
        #expect(try await storage.listAll(prefix: "locks/").count == 1)
        let reader = try await repository.lock(.shared, command: "cairn restore", now: now)
        await reader.release()
    }

    @Test func aLeaseNotRefreshedInTimeOrRemovedByAnotherProcessIsLostAndCommitsAreRefused() async throws {
        let clock = ManualClock(Date(timeIntervalSince1970: 1_900_000_000))
        let run = RunEnvironment.live().with(clock: clock, hostName: RunEnvironment.live().hostName)
        let storage = MemoryStorage()
        let repository = try await Repository.create(storage: storage, algorithm: .aes256GCM, passphrase: passphrase, scrypt: testScrypt, run: run)
        let lease = try await repository.lock(.writer, command: "cairn backup docs")
        try await repository.confirmLeases()
        // 26 minutes without a refresh (the refresher sleeps in real time): others may take it for stale.
        clock.advance(by: 26 * 60)
        do {
            try await repository.confirmLeases()
            Issue.record("a lease not refreshed for 26 minutes was confirmed")
        } catch let RepositoryError.locked(message) {
            #expect(message.contains("could not be refreshed for 26 minutes"), "\(message)")
        }
        await lease.release()
        // Released leases are not confirmed any more.
        try await repository.confirmLeases()

        let second = try await repository.lock(.writer, command: "cairn backup docs")
        for item in try await storage.listAll(prefix: "locks/") { try await storage.delete(item.key) }
        do {
            try await repository.confirmLeases()
            Issue.record("a lease removed by another process was confirmed")
        } catch let RepositoryError.locked(message) {
            #expect(message.contains("removed by another process"), "\(message)")
        }
        // Lost stays lost: a lease file that shows up again (a late write) does not bring it back.
        _ = try await repository.writeLock(LockRecord(
            mode: .writer, host: run.hostName, pid: getpid(), user: "u", command: "cairn backup docs", start: Timestamp(clock.now()),
            refreshed: Timestamp(clock.now())), id: second.id)
        await #expect(throws: RepositoryError.self) { try await repository.confirmLeases() }
        await second.release()
        #expect(try await storage.listAll(prefix: "locks/").isEmpty)
    }

    @Test func aBackupUnderItsLeaseSeesThePackAPruneDeletedAfterItsPlan() async throws {
        let storage = MemoryStorage()
        let creator = try await Repository.create(storage: storage, algorithm: .aes256GCM, passphrase: passphrase, scrypt: testScrypt)
        let stored = try await creator.store(.blob, Array("only an expired snapshot used this".utf8))
        try await creator.flush()
        // Planned with this index...
        let planner = try await Repository.open(storage: storage, passphrase: passphrase)
        #expect(await planner.contains(stored.id))
        // ...then a prune deleted the pack and wrote an index without it.
        let pruner = try await Repository.open(storage: storage, passphrase: passphrase)
        let old = try await storage.listAll(prefix: "index/") + storage.listAll(prefix: "data/")
        _ = try await pruner.store(.blob, Array("a kept snapshot uses this".utf8))
        try await pruner.flush()
        for item in old { try await storage.delete(item.key) }
        // Under its lease, the backup reads the index again and stores the object anew.
        try await planner.reloadIndexIfChanged()
        #expect(await !planner.contains(stored.id))
        #expect(try await planner.store(.blob, Array("only an expired snapshot used this".utf8)).isNew)
    }
}
