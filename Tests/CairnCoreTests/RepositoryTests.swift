import CairnTesting
import Foundation
import Synchronization
import Testing

@testable import CairnCore

#if canImport(Glibc)
    import Glibc
#endif

/// Cheap scrypt for tests; the standard parameters are tested in CryptoTests.
let testScrypt = ScryptParameters(logN: 10, r: 8, p: 1)
let passphrase = Array("correct horse battery staple".utf8)

@Suite("The repository: objects, packs, index, keys")
struct RepositoryTests {
    func create(_ storage: any StorageBackend, _ algorithm: AEAD.Algorithm? = .aes256GCM) async throws -> Repository {
        try await Repository.create(storage: storage, algorithm: algorithm, passphrase: algorithm == nil ? nil : passphrase, scrypt: testScrypt)
    }

    @Test(arguments: [AEAD.Algorithm.aes256GCM, .chacha20Poly1305, nil])
    func storesDeduplicatesAndReopens(algorithm: AEAD.Algorithm?) async throws {
        let storage = MemoryStorage()
        let repository = try await create(storage, algorithm)
        let data = Array(String(repeating: "some file content ", count: 500).utf8)
        let first = try await repository.store(.blob, data)
        #expect(first.isNew && first.storedSize > 0 && first.storedSize < data.count)
        let again = try await repository.store(.blob, data)
        #expect(!again.isNew && again.id == first.id)
        #expect(try await repository.load(.blob, first.id) == data, "readable before the pack is written")
        try await repository.flush()

        let reopened = try await Repository.open(storage: storage, passphrase: algorithm == nil ? nil : passphrase)
        #expect(try await reopened.load(.blob, first.id) == data)
        #expect(try await reopened.store(.blob, data).isNew == false)
        #expect(await reopened.objectCount == 1)
    }

    /// The trees are asked for ahead when they all fit the budget (joined ranges of their
    /// packs), and not at all when they do not: which the scan needs cannot be told apart.
    @Test func treesAreReadAheadOnlyWhenTheyAllFit() async throws {
        let storage = MemoryStorage()
        let repository = try await create(storage)
        #expect(await repository.prefetchTrees() == 0, "no trees yet")
        for index in 0..<20 {
            let entry = TreeEntry(name: Array("file-\(index)".utf8), kind: .file)
            _ = try await repository.store(Tree(entries: [entry]))
            _ = try await repository.store(.blob, Array(String(repeating: "content \(index) ", count: 4_000).utf8))
        }
        try await repository.flush()
        let asked = await repository.prefetchTrees()
        #expect(asked > 0 && asked < 1 << 20, "\(asked)")
        #expect(await repository.prefetchTrees(budget: asked) == asked)
        #expect(await repository.prefetchTrees(budget: asked - 1) == 0)
    }

    /// The index files and packs are listed while the key is derived. When an index file is
    /// gone by the time it is read (another host's prune replaced it), packs were written since
    /// the listing: they are listed again and read from their headers, so no object of theirs
    /// is missing from the index.
    @Test func anIndexFileGoneSinceTheListingListsThePacksAgain() async throws {
        let storage = MemoryStorage()
        let repository = try await create(storage)
        let first = Array(String(repeating: "listed before ", count: 300).utf8)
        let later = Array(String(repeating: "written after the listing ", count: 300).utf8)
        let firstID = try await repository.store(.blob, first).id
        try await repository.flush()
        let before = Set(try await storage.listAll(prefix: "").map(\.key))
        let laterID = try await repository.store(.blob, later).id
        try await repository.flush()
        // What the other host writes after the listing: the pack and index of `later`.
        var written: [(String, [UInt8])] = []
        for item in try await storage.listAll(prefix: "") where !before.contains(item.key) {
            written.append((item.key, try await storage.get(item.key)))
            await storage.delete(item.key)
        }
        #expect(written.count == 2 && written.contains { $0.0.hasPrefix("data/") } && written.contains { $0.0.hasPrefix("index/") })
        let listedIndex = try #require(before.first { $0.hasPrefix("index/") })
        var plan = FaultInjectingStorage.Plan()
        let moved = Mutex(false)
        plan.beforeCall = { [written] operation, key in
            // The first read of the listed index file finds it replaced.
            guard operation == .get, key == listedIndex, !moved.withLock({ $0 }) else { return }
            moved.withLock { $0 = true }
            for (key, bytes) in written { try? await storage.put(key, bytes) }
            await storage.delete(listedIndex)
        }
        let reopened = try await Repository.open(storage: FaultInjectingStorage(storage, plan: plan), passphrase: passphrase)
        #expect(moved.withLock { $0 })
        #expect(try await reopened.load(.blob, laterID) == later)
        #expect(try await reopened.load(.blob, firstID) == first)
    }

    /// A local folder's packs are written past the page cache; the trees of each pack stored
    /// are asked back into it, so the next command does not read them from the disk one small
    /// range at a time. The file data beside them stays out of the cache.
    @Test func treesOfAStoredPackAreAskedBackIntoTheCache() async throws {
        let directory = try TemporaryDirectory()
        let repository = try await create(LocalFolderStorage(root: directory.path))
        var random = SystemRandomNumberGenerator()
        for index in 0..<20 {
            let entry = TreeEntry(name: Array("file-\(index)".utf8), kind: .file)
            _ = try await repository.store(Tree(entries: [entry]))
            _ = try await repository.store(.blob, (0..<(96 << 10)).map { _ in UInt8.random(in: 0...255, using: &random) })
        }
        try await repository.flush()
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let index = await repository.index
        let trees = index.ranges(of: .tree, gap: 0)
        let blobs = index.ranges(of: .blob, gap: 0)
        #expect(trees.count == 1 && trees[0].ranges.count == 20, "one pack, its trees apart: \(trees.map(\.ranges.count))")
        let path = directory.subpath(PackFormat.key(for: trees[0].pack))
        func pages(_ ranges: [Range<Int>]) -> Set<Int> {
            Set(ranges.flatMap { $0.lowerBound / page...($0.upperBound - 1) / page })
        }
        let treePages = pages(trees[0].ranges)
        // Only the pages that hold nothing but file data.
        let dataPages = pages(blobs.first { $0.pack == trees[0].pack }?.ranges ?? []).subtracting(treePages)
        var resident: [Bool] = []
        for _ in 0..<500 {
            resident = residentPages(of: path) ?? []
            if !resident.isEmpty, treePages.allSatisfy({ $0 < resident.count && resident[$0] }) { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(treePages.allSatisfy { $0 < resident.count && resident[$0] }, "the trees' pages are in the cache")
        #expect(dataPages.count > 400)
        #expect(dataPages.filter { $0 < resident.count && resident[$0] }.count < dataPages.count / 4, "the file data was written past the cache")
    }

    @Test func nothingInTheDestinationRevealsNamesOrContent() async throws {
        let storage = MemoryStorage()
        let repository = try await create(storage)
        let secret = Array("a-very-recognisable-file-name.txt and its content".utf8)
        _ = try await repository.store(.blob, secret)
        try await repository.flush()
        for item in try await storage.listAll(prefix: "") {
            let bytes = try await storage.get(item.key)
            #expect(bytes.firstRange(of: Array("recognisable".utf8)) == nil, "\(item.key) shows plaintext")
        }
    }

    @Test func aWrongKeySaysSoAndChangesNothing() async throws {
        let storage = MemoryStorage()
        _ = try await create(storage)
        let before = try await storage.listAll(prefix: "")
        await #expect(throws: RepositoryError.wrongKey("memory", tried: 1)) {
            try await Repository.open(storage: storage, passphrase: Array("wrong".utf8))
        }
        await #expect(throws: RepositoryError.keyNeeded("memory")) { try await Repository.open(storage: storage, passphrase: nil) }
        #expect(try await storage.listAll(prefix: "") == before)
    }

    @Test func anotherFolderIsNotARepositoryAndAnUnknownVersionIsRefused() async throws {
        let storage = MemoryStorage()
        await #expect(throws: RepositoryError.notARepository("memory")) { try await Repository.open(storage: storage, passphrase: nil) }
        try await storage.put("cairn-repository", Array(#"{"format": "cairn-repository", "version": 99}"#.utf8))
        await #expect(throws: FormatError.unsupportedVersion("the repository at memory", 99)) {
            try await Repository.open(storage: storage, passphrase: nil)
        }
        // An encrypted creation writes its key file first: where a repository is found after
        // all, the key file goes again, and the folder is as it was.
        let before = try await storage.listAll(prefix: "")
        await #expect(throws: RepositoryError.alreadyExists("memory")) { try await create(storage) }
        #expect(try await storage.listAll(prefix: "") == before)
    }

    @Test func damageIsFoundOnRead() async throws {
        let storage = MemoryStorage()
        let repository = try await create(storage)
        let stored = try await repository.store(.blob, Array(repeating: 42, count: 5000))
        try await repository.flush()
        let pack = try #require(try await storage.listAll(prefix: "data/").first)
        await storage.corrupt(pack.key, at: 20)
        let reopened = try await Repository.open(storage: storage, passphrase: passphrase)
        await #expect(throws: RepositoryError.self) { try await reopened.load(.blob, stored.id) }
    }

    @Test func objectsReadBackWhileTheirPacksAreWrittenAndCommitted() async throws {
        // Eight tasks store objects of 300 KB (a pack fills every 28) and read each back at
        // once: from the pack being filled, one being committed, or one already stored.
        let storage = MemoryStorage()
        let repository = try await create(storage)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    var random = SeededGenerator(state: UInt64(task + 1))
                    for _ in 0..<20 {
                        let data = random.bytes(300_000)
                        let stored = try await repository.store(.blob, data)
                        #expect(try await repository.load(.blob, stored.id) == data)
                    }
                }
            }
            try await group.waitForAll()
        }
        try await repository.flush()
        let reopened = try await Repository.open(storage: storage, passphrase: passphrase)
        #expect(await reopened.objectCount == 160)
    }

    /// Storing tasks stopped midway (a stop cancels them) cut no pack short: on a local
    /// folder, whose writes run to their end, the pack is filled on the storing task; behind a
    /// latency (a sleep, which a cancellation ends) on a task of its own.
    @Test(arguments: [false, true])
    func storingTasksCancelledMidwayCutNoPackShort(latency: Bool) async throws {
        let directory = try TemporaryDirectory()
        let local = LocalFolderStorage(root: directory.path)
        var plan = FaultInjectingStorage.Plan()
        plan.latency = .milliseconds(2)
        let storage: any StorageBackend = latency ? FaultInjectingStorage(local, plan: plan) : local
        #expect(storage.capabilities.writesRunToCompletion == !latency)
        #expect(RetryingStorage(local).capabilities.writesRunToCompletion == false)
        let repository = try await create(storage)
        // Cancelled once 200 objects (20 MB: past two full packs, so packs are finished and
        // committed meanwhile) are stored.
        let count = StoredCount()
        let storers = (0..<8).map { task in
            Task { () -> (stored: [(ObjectID, [UInt8])], failure: (any Error)?) in
                var random = SeededGenerator(state: UInt64(task + 1))
                var stored: [(ObjectID, [UInt8])] = []
                while !Task.isCancelled {
                    let data = random.bytes(100_000)
                    do { stored.append((try await repository.store(.blob, data).id, data)) } catch { return (stored, error) }
                    count.value.add(1, ordering: .relaxed)
                }
                return (stored, nil)
            }
        }
        while count.value.load(ordering: .relaxed) < 200 { try await Task.sleep(for: .milliseconds(2)) }
        for storer in storers { storer.cancel() }
        var everything: [(ObjectID, [UInt8])] = []
        for storer in storers {
            let (stored, failure) = await storer.value
            #expect(failure == nil, "a store failed: \(failure!)")
            everything += stored
        }
        // The pack being filled is whole: more goes into it, and everything stored reads back.
        let after = try await repository.store(.blob, Array("after the stop".utf8))
        try await repository.flush()
        let reopened = try await Repository.open(storage: local, passphrase: passphrase)
        #expect(!everything.isEmpty)
        for (id, data) in everything { #expect(try await reopened.load(.blob, id) == data) }
        #expect(try await reopened.load(.blob, after.id) == Array("after the stop".utf8))
        #expect(await reopened.objectCount == everything.count + 1)
    }

    @Test func aPackWhoseWriteFailedIsNeverStored() async throws {
        // The destination fills up during the second object and has room again after it: the
        // pack's bytes no longer match its entries, so it must not be finished.
        let storage = ShortOfSpace(failingAfter: 3000)
        let repository = try await create(storage)
        var random = SeededGenerator(state: 9)
        _ = try await repository.store(.blob, random.bytes(2000))
        await #expect(throws: StorageError.noSpace("test")) { try await repository.store(.blob, random.bytes(2000)) }
        await #expect(throws: StorageError.noSpace("test")) { try await repository.store(.blob, random.bytes(100)) }
        await #expect(throws: StorageError.noSpace("test")) { try await repository.flush() }
        #expect(try await storage.listAll(prefix: "data/").isEmpty)
    }

    @Test func anObjectCannotPassForAnotherKind() async throws {
        let repository = try await create(MemoryStorage())
        let stored = try await repository.store(.blob, Array("x".utf8))
        await #expect(throws: RepositoryError.damaged("object \(stored.id.short) is a data, not a tree")) {
            try await repository.tree(stored.id)
        }
    }

    @Test func packsWithoutAnIndexAreFoundAgain() async throws {
        let storage = MemoryStorage()
        let repository = try await create(storage)
        let stored = try await repository.store(.blob, Array(repeating: 7, count: 1000))
        try await repository.writePacks()  // a crash here: the pack is written, its index is not
        #expect(try await storage.listAll(prefix: "index/").isEmpty)
        let reopened = try await Repository.open(storage: storage, passphrase: passphrase)
        #expect(await reopened.contains(stored.id))
        #expect(try await reopened.store(.blob, Array(repeating: 7, count: 1000)).isNew == false)
        try await reopened.flush()
        #expect(try await storage.listAll(prefix: "index/").count == 1)
    }

    @Test func manySmallObjectsShareFewPacks() async throws {
        let storage = MemoryStorage()
        let repository = try await create(storage)
        for number in 0..<3000 { _ = try await repository.store(.blob, Array("small file number \(number)".utf8)) }
        try await repository.flush()
        #expect(try await storage.listAll(prefix: "data/").count == 1)
        let reopened = try await Repository.open(storage: storage, passphrase: passphrase)
        #expect(await reopened.objectCount == 3000)
    }

    @Test func treesAndSnapshotsRoundTrip() async throws {
        let repository = try await create(MemoryStorage())
        var file = TreeEntry(name: [0x66, 0xFF, 0xFE], kind: .file)  // not valid UTF-8
        file.size = 5
        file.mtime = Timestamp(seconds: -86_400, nanoseconds: 123_456_789)
        file.xattrs = [.init(name: Array("user.note".utf8), value: [0, 1, 2])]
        file.content = [Extent(object: try .random(), offset: 3, length: 5)]
        var directory = TreeEntry(name: Array("sub".utf8), kind: .directory)
        directory.subtree = try .random()
        let tree = Tree(entries: [file, directory])
        let stored = try await repository.store(tree)
        #expect(try await repository.tree(stored.id) == tree)

        let snapshot = Snapshot(
            set: "docs", host: "h", user: "u", start: Timestamp(seconds: 10, nanoseconds: 5), end: Timestamp(seconds: 20, nanoseconds: 0),
            status: .partial, tree: stored.id, parent: nil, sources: ["/home"], statistics: .init())
        let id = try await repository.save(snapshot)
        try await repository.flush()
        #expect(try await repository.snapshots() == [SnapshotRecord(id: id, snapshot: snapshot)])
    }

    @Test func aContentHashTheIdsGiveIsLeftOutAndGivenBack() throws {
        let prefix = try SecureRandom.bytes(32)
        let chunks = [Extent(object: try .random(), offset: 0, length: 9), Extent(object: try .random(), offset: 0, length: 4)]
        var plain = TreeEntry(name: Array("plain".utf8), kind: .file)
        plain.content = chunks
        plain.contentHash = ContentHasher.hash(ofChunks: chunks, prefix: prefix)
        var empty = TreeEntry(name: Array("empty".utf8), kind: .file)
        empty.contentHash = ContentHasher.hash(ofChunks: [], prefix: prefix)
        var other = TreeEntry(name: Array("other".utf8), kind: .file)  // a hash the ids do not give
        other.content = chunks
        other.contentHash = try .random()
        var delta = TreeEntry(name: Array("delta".utf8), kind: .file)  // a delta version: recorded
        delta.content = [Extent(object: chunks[0].object, offset: 2, length: 5)]
        delta.contentHash = ContentHasher.hash(ofChunks: delta.content, prefix: prefix)
        delta.delta = DeltaInfo(
            isFull: false, deltas: 1, signature: nil, fullSignature: try .random(), stored: Timestamp(seconds: 2, nanoseconds: 0),
            fullStored: Timestamp(seconds: 1, nanoseconds: 0), newBytes: 3)
        let tree = Tree(entries: [plain, empty, other, delta, TreeEntry(name: Array("none".utf8), kind: .file)])

        let bytes = tree.encoded(contentHashPrefix: prefix)
        #expect(try Tree.decode(bytes, what: "t", contentHashPrefix: prefix) == tree)
        for entry in [plain, empty] { #expect(bytes.firstRange(of: entry.contentHash!.bytes) == nil, "\(entry.name) hash left out") }
        for entry in [other, delta] { #expect(bytes.firstRange(of: entry.contentHash!.bytes) != nil, "\(entry.name) hash recorded") }
        // Another repository's prefix gives other hashes: the hash is keyed, never stored.
        let elsewhere = try Tree.decode(bytes, what: "t", contentHashPrefix: try SecureRandom.bytes(32))
        #expect(elsewhere.entry(named: Array("plain".utf8))?.contentHash != plain.contentHash)
        #expect(elsewhere.entry(named: Array("other".utf8))?.contentHash == other.contentHash)

        // Version 2 trees (every hash recorded, no carried-over mark) are still read; a derived
        // hash needs version 3. A one-entry tree's last byte is its carried-over mark.
        for entry in [other, delta] {
            let recorded = Tree(entries: [entry])
            var version2 = recorded.encoded(contentHashPrefix: prefix)
            #expect(version2[0] == 4 && version2.last == 0)
            version2[0] = 2
            version2.removeLast()
            #expect(try Tree.decode(version2, what: "t", contentHashPrefix: prefix) == recorded)
        }
        var derivedInVersion2 = Tree(entries: [plain]).encoded(contentHashPrefix: prefix)
        derivedInVersion2[0] = 2
        derivedInVersion2.removeLast()
        #expect(throws: FormatError.malformed("t", "unknown content hash marker")) {
            try Tree.decode(derivedInVersion2, what: "t", contentHashPrefix: prefix)
        }
    }

    @Test func carriedOverMarksRoundTripAndVersion3TreesReadWithout() throws {
        let prefix = try SecureRandom.bytes(32)
        var entries: [TreeEntry] = []
        for (index, mark) in ([nil] + [TreeEntry.CarriedOver.notReached, .sourceAbsent, .readFailed]).enumerated() {
            var entry = TreeEntry(name: Array("e\(index)".utf8), kind: index == 2 ? .directory : .file)
            entry.carried = mark
            if index == 2 { entry.subtree = try .random() }
            entries.append(entry)
        }
        let tree = Tree(entries: entries)
        let bytes = tree.encoded(contentHashPrefix: prefix)
        #expect(try Tree.decode(bytes, what: "t", contentHashPrefix: prefix) == tree)

        var version3 = Tree(entries: [entries[0]]).encoded(contentHashPrefix: prefix)
        version3[0] = 3
        version3.removeLast()
        #expect(try Tree.decode(version3, what: "t", contentHashPrefix: prefix).entries[0].carried == nil)
        var unknown = Tree(entries: [entries[1]]).encoded(contentHashPrefix: prefix)
        unknown[unknown.count - 1] = 9
        #expect(throws: FormatError.malformed("t", "unknown carried-over mark")) { try Tree.decode(unknown, what: "t", contentHashPrefix: prefix) }
    }

    @Test func keysCanBeAddedChangedAndRemovedWithoutRewritingData() async throws {
        let storage = MemoryStorage()
        let repository = try await create(storage)
        let stored = try await repository.store(.blob, Array("data".utf8))
        try await repository.flush()
        let dataBefore = try await storage.listAll(prefix: "data/")

        let recovery = try await repository.addKey(passphrase: Array("recovery".utf8), label: "offline", scrypt: testScrypt)
        #expect(try await repository.keys().count == 2)
        let viaRecovery = try await Repository.open(storage: storage, passphrase: Array("recovery".utf8))
        #expect(try await viaRecovery.load(.blob, stored.id) == Array("data".utf8))
        #expect(viaRecovery.openedWith == "keys/\(recovery)")

        await #expect(throws: RepositoryError.self) { try await viaRecovery.removeKey(recovery) }
        _ = try await viaRecovery.changeKey(to: Array("new recovery".utf8), label: nil, scrypt: testScrypt)
        await #expect(throws: RepositoryError.self) { try await Repository.open(storage: storage, passphrase: Array("recovery".utf8)) }
        let viaNew = try await Repository.open(storage: storage, passphrase: Array("new recovery".utf8))
        let first = try #require(try await viaNew.keys().first { !$0.isCurrent })
        try await viaNew.removeKey(first.id)
        await #expect(throws: RepositoryError.self) { try await Repository.open(storage: storage, passphrase: passphrase) }
        await #expect(throws: RepositoryError.self) { try await viaNew.removeKey(String(try await viaNew.keys()[0].id)) }
        #expect(try await storage.listAll(prefix: "data/") == dataBefore)
    }
}

/// Memory storage whose uploads fail once, after `failingAfter` bytes of the first one, as a
/// destination that fills up and then has room again.
final class ShortOfSpace: StorageBackend {
    let inner: any StorageBackend = MemoryStorage()
    let failingAfter: Int
    let failed = Mutex(false)
    var location: String { inner.location }
    var capabilities: StorageCapabilities { inner.capabilities }

    init(failingAfter: Int) {
        self.failingAfter = failingAfter
    }

    func get(_ key: String) async throws -> [UInt8] { try await inner.get(key) }
    func read(_ key: String, range: Range<Int>) async throws -> StorageBuffer { try await inner.read(key, range: range) }
    func put(_ key: String, _ data: [UInt8]) async throws { try await inner.put(key, data) }
    func putIfAbsent(_ key: String, _ data: [UInt8]) async throws -> Bool { try await inner.putIfAbsent(key, data) }
    func stat(_ key: String) async throws -> StorageItem? { try await inner.stat(key) }
    func list(prefix: String, after: String?, limit: Int) async throws -> [StorageItem] { try await inner.list(prefix: prefix, after: after, limit: limit) }
    func delete(_ key: String) async throws { try await inner.delete(key) }

    func openUpload(_ key: String) async throws -> any StorageUpload { Upload(storage: self, key: key) }

    final class Upload: StorageUpload, @unchecked Sendable {
        let storage: ShortOfSpace
        let key: String
        var bytes: [UInt8] = []

        init(storage: ShortOfSpace, key: String) {
            self.storage = storage
            self.key = key
        }

        func write(_ bytes: [UInt8]) async throws {
            let room = storage.failed.withLock { failed in failed ? Int.max : storage.failingAfter - self.bytes.count }
            if bytes.count > room {
                self.bytes.append(contentsOf: bytes.prefix(max(room, 0)))
                storage.failed.withLock { $0 = true }
                throw StorageError.noSpace("test")
            }
            self.bytes.append(contentsOf: bytes)
        }

        func commit() async throws { try await storage.inner.put(key, bytes) }
    }
}

/// Objects stored so far, counted by the storing tasks.
final class StoredCount: Sendable {
    let value = Atomic<Int>(0)
}
