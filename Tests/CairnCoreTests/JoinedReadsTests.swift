import CairnTesting
import Foundation
import Synchronization
import Testing

@testable import CairnCore

/// Objects announced ahead are read a run of neighbours at a time, and every object comes back
/// whole and checked, whatever the order, the bounds, or damage.
@Suite("Joined reads of neighbouring objects")
struct JoinedReadsTests {
    /// A repository of `count` small objects (and a few large ones), stored in order, opened
    /// again through a storage that counts its reads.
    func repository(count: Int, size: (Int) -> Int = { $0 % 50 == 49 ? 300_000 : 2000 + $0 % 7 * 500 }) async throws -> (Repository, FaultInjectingStorage, [(ObjectID, [UInt8])], MemoryStorage) {
        let base = MemoryStorage()
        let writer = try await Repository.create(storage: base, algorithm: .aes256GCM, passphrase: passphrase, scrypt: testScrypt)
        var random = SeededGenerator(state: 3)
        var objects: [(ObjectID, [UInt8])] = []
        for index in 0..<count {
            let data = random.bytes(size(index))
            objects.append((try await writer.store(.blob, data).id, data))
        }
        try await writer.flush()
        let counting = FaultInjectingStorage(base, plan: FaultInjectingStorage.Plan())
        return (try await Repository.open(storage: counting, passphrase: passphrase), counting, objects, base)
    }

    @Test func neighboursAreReadTogether() async throws {
        let (repository, counting, objects, _) = try await repository(count: 400)
        let reads = JoinedReads(repository: repository)
        await reads.announce(objects.map(\.0))
        let before = counting.calls(.read)
        // Four at a time, as a restore writes files.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (offset, (id, data)) in objects.enumerated() {
                if offset >= 4 { try await group.next() }
                group.addTask {
                    let loaded = try await reads.load(.blob, id)
                    #expect(loaded == data)
                }
            }
            try await group.waitForAll()
        }
        let made = counting.calls(.read) - before
        #expect(await reads.served == objects.count)
        #expect(made == (await reads.reads) && made < 20, "\(made) reads for \(objects.count) objects")
    }

    @Test func neighboursAnnouncedOutOfPackOrderAreReadTogether() async throws {
        // A folder's files come in name order; they were stored in the order their reads
        // finished: the same neighbours, shuffled.
        let (repository, counting, stored, _) = try await repository(count: 60)
        var random = SeededGenerator(state: 11)
        let objects = stored.filter { $0.1.count < 100_000 }.shuffled(using: &random)
        let reads = JoinedReads(repository: repository)
        await reads.announce(objects.map(\.0))
        let before = counting.calls(.read)
        for (id, data) in objects { #expect(try await reads.load(.blob, id) == data) }
        let made = counting.calls(.read) - before
        #expect(await reads.served == objects.count)
        #expect(made <= objects.count / 4, "\(made) reads for \(objects.count) shuffled neighbours")
    }

    @Test func withTinyBoundsEveryObjectStillComesBack() async throws {
        let (repository, counting, objects, _) = try await repository(count: 120)
        let reads = JoinedReads(repository: repository, budget: 8 << 10)
        await reads.announce(objects.map(\.0))
        // Out of order: later objects first, some twice, one never announced.
        for (id, data) in objects.reversed() + objects.prefix(10) { #expect(try await reads.load(.blob, id) == data) }
        let stranger = try await repository.store(.blob, Array("not announced".utf8))
        try await repository.flush()
        #expect(try await reads.load(.blob, stranger.id) == Array("not announced".utf8))
        #expect(counting.calls(.read) <= objects.count + 12)
    }

    @Test func damageIsReportedForTheDamagedObjectOnly() async throws {
        let (repository, _, objects, base) = try await repository(count: 60)
        let packs = try await base.listAll(prefix: "data/")
        // One byte of one object's box: that object fails as a lone load would, its
        // neighbours in the same run are fine.
        let victim = objects[30].0
        let location = try #require(await repository.locations(of: [victim])[victim])
        await base.corrupt(PackFormat.key(for: location.pack), at: location.offset + 40)
        #expect(packs.count >= 1)
        let reads = JoinedReads(repository: repository)
        await reads.announce(objects.map(\.0))
        for (id, data) in objects {
            if id == victim {
                await #expect(throws: (any Error).self) { _ = try await reads.load(.blob, id) }
            } else {
                #expect(try await reads.load(.blob, id) == data)
            }
        }
        // The same kind check as a lone load: a blob is not a tree.
        let other = JoinedReads(repository: repository)
        await other.announce([objects[0].0])
        await #expect(throws: RepositoryError.self) { _ = try await other.load(.tree, objects[0].0) }
    }

    /// A run given up to stay within the bound (two files being written, each wanting a run
    /// of its own) keeps its waiting objects in a scratch file: they are not read again one by
    /// one. Damage in the scratch file only costs reading them from the storage.
    @Test(arguments: [false, true]) func givenUpRunsWaitInTheScratchFile(damaged: Bool) async throws {
        // 60 objects of 200 KB: three runs of at most 4 MiB, a bound of one run.
        let (repository, counting, objects, _) = try await repository(count: 60) { _ in 200_000 }
        let folder = try TemporaryDirectory()
        let reads = JoinedReads(repository: repository, budget: 4 << 20, scratchFolder: folder.path)
        await reads.announce(objects.map(\.0))
        let before = counting.calls(.read)
        #expect(try await reads.load(.blob, objects[0].0) == objects[0].1)
        // The second run, asked for while the first still holds objects: the first is given up.
        #expect(try await reads.load(.blob, objects[30].0) == objects[30].1)
        await reads.keptWritten()
        if damaged { try #require(await reads.damageScratch()) }
        for (index, (id, data)) in objects.enumerated() where index != 0 && index != 30 {
            #expect(try await reads.load(.blob, id) == data)
        }
        let made = counting.calls(.read) - before
        let kept = await reads.servedKept
        #expect(kept >= 15, "\(kept) objects served from the scratch file")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty, "the scratch file has no name")
        if damaged {
            // Every kept object read again, alone, and checked.
            #expect(made == (await reads.reads) + kept, "\(made) reads")
        } else {
            #expect(made == (await reads.reads) && made <= 4, "\(made) reads for \(objects.count) objects")
        }
    }

    /// Without a scratch file the same objects are read again, one at a time (what the scratch
    /// file saves).
    @Test func withoutAScratchFileGivenUpObjectsAreReadAlone() async throws {
        let (repository, counting, objects, _) = try await repository(count: 60) { _ in 200_000 }
        let reads = JoinedReads(repository: repository, budget: 4 << 20, scratchFolder: nil)
        await reads.announce(objects.map(\.0))
        let before = counting.calls(.read)
        for index in [0, 30] + Array(1..<30) + Array(31..<60) {
            #expect(try await reads.load(.blob, objects[index].0) == objects[index].1)
        }
        #expect(await reads.servedKept == 0)
        #expect(counting.calls(.read) - before >= 15 + (await reads.reads))
    }

    /// Two identical files: each object announced twice is taken twice, from the run or from the
    /// scratch file, by loads running at once, and none is read again alone (its space is
    /// handed back only after the last load read it).
    @Test func objectsAnnouncedTwiceAreTakenTwiceWithoutReadingThemAgain() async throws {
        let (repository, counting, objects, _) = try await repository(count: 60) { _ in 200_000 }
        let folder = try TemporaryDirectory()
        let reads = JoinedReads(repository: repository, budget: 4 << 20, scratchFolder: folder.path)
        await reads.announce(objects.map(\.0) + objects.map(\.0))
        let before = counting.calls(.read)
        for index in [0, 0, 30, 30] { #expect(try await reads.load(.blob, objects[index].0) == objects[index].1) }
        await reads.keptWritten()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, (id, data)) in objects.enumerated() where index != 0 && index != 30 {
                for _ in 0..<2 {
                    group.addTask {
                        let loaded = try await reads.load(.blob, id)
                        #expect(loaded == data)
                    }
                }
            }
            try await group.waitForAll()
        }
        let made = counting.calls(.read) - before
        #expect(await reads.servedKept >= 30)
        #expect(made == (await reads.reads) && made <= 4, "\(made) reads")
    }

    /// Objects announced and then forgotten (files found identical, hard links made by linking)
    /// are not read: a run that only they needed is never started.
    @Test func forgottenObjectsAreNotRead() async throws {
        let (repository, counting, objects, _) = try await repository(count: 60) { _ in 200_000 }
        let reads = JoinedReads(repository: repository, budget: 4 << 20, scratchFolder: nil)
        await reads.announce(objects.map(\.0))
        // The first run's objects (its first 20) are not wanted after all.
        await reads.forget(objects.prefix(20).map(\.0))
        let before = counting.calls(.read)
        for (id, data) in objects.dropFirst(21) { #expect(try await reads.load(.blob, id) == data) }
        let made = counting.calls(.read) - before
        #expect(made == (await reads.reads) && made <= 3, "\(made) reads")
        // Forgetting more than was announced changes nothing, and a forgotten object can still
        // be loaded (alone).
        await reads.forget(objects.map(\.0) + objects.map(\.0))
        #expect(try await reads.load(.blob, objects[0].0) == objects[0].1)
    }
}
