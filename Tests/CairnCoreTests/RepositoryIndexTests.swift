import Foundation
import Testing

@testable import CairnCore

/// The index in memory: a sorted table and the recent objects beside it, merged as they grow.
@Suite("Repository index in memory")
struct RepositoryIndexTests {
    /// 300,000 objects in packs of random sizes (the table merges its recent objects several
    /// times, the last ones stay recent), some added twice (the first location stays): every
    /// one is found where it was put, nothing else is, and the totals and the lists by pack
    /// are those of a dictionary given the same.
    @Test func everyObjectIsFoundWhereItWasPutAcrossMerges() throws {
        var random = SeededGenerator(state: 11)
        func id() -> ObjectID { ObjectID((0..<32).map { _ in UInt8.random(in: 0...255, using: &random) }) }
        var index = RepositoryIndex()
        var expected: [ObjectID: (pack: ObjectID, entry: PackEntry)] = [:]
        var all: [ObjectID] = []
        var snapshot: (index: RepositoryIndex, count: Int)?
        while expected.count < 300_000 {
            let pack = id()
            var entries: [PackEntry] = []
            for number in 0..<Int.random(in: 1...2_000, using: &random) {
                // Now and then an object stored already, which keeps its first place.
                let again = !all.isEmpty && Int.random(in: 0..<50, using: &random) == 0
                let object = again ? all.randomElement(using: &random)! : id()
                let kind: ObjectKind = Int.random(in: 0..<10, using: &random) == 0 ? .tree : .blob
                entries.append(PackEntry(kind: kind, id: object, offset: number * 100, length: Int.random(in: 1...5_000, using: &random)))
            }
            index.add(pack: pack, entries: entries)
            for entry in entries where expected[entry.id] == nil {
                expected[entry.id] = (pack, entry)
                all.append(entry.id)
            }
            if snapshot == nil, expected.count > 100_000 { snapshot = (index, expected.count) }
        }
        #expect(index.count == expected.count)
        for (id, (pack, entry)) in expected {
            let location = index.location(of: id)
            #expect(location == RepositoryIndex.Location(pack: pack, kind: entry.kind, offset: entry.offset, length: entry.length))
        }
        for _ in 0..<10_000 { #expect(!index.contains(id())) }
        // A copy taken earlier is not changed by what was added since.
        if let (earlier, count) = snapshot {
            #expect(earlier.count == count)
            #expect(all[..<count].allSatisfy { earlier.contains($0) } && !all[count...].contains { earlier.contains($0) })
        }
        let totals = index.totals()
        #expect(totals[.blob]?.count == expected.values.filter { $0.entry.kind == .blob }.count)
        #expect(totals[.tree]?.bytes == expected.values.filter { $0.entry.kind == .tree }.reduce(0) { $0 + $1.entry.length })
        let byPack = try index.entriesByPack()
        var reference: [ObjectID: Set<PackEntry>] = [:]
        for (pack, entry) in expected.values { reference[pack, default: []].insert(entry) }
        #expect(byPack.mapValues(Set.init) == reference)
    }

    /// Ids that share their first 7 bytes (the part the table holds) are told apart by the
    /// full ids read back, in the table and among the recent ones; one more with those bytes
    /// is not found.
    @Test func idsThatShareTheirFirstBytesAreToldApart() throws {
        var random = SeededGenerator(state: 5)
        func word() -> UInt64 { UInt64.random(in: 0...UInt64.max, using: &random) }
        let shared = word() & ~0xFF
        let twins = (0..<6).map { ObjectID(words: shared | UInt64($0), word(), word(), word()) }
        let stranger = ObjectID(words: shared | 1, word(), word(), word())
        var index = RepositoryIndex()
        // The first three go into the table with many others; the last three stay recent.
        var entries = twins[..<3].enumerated().map { PackEntry(kind: .blob, id: $1, offset: $0 * 10, length: 10) }
        entries += (0..<RepositoryIndex.recentLimit).map { PackEntry(kind: .tree, id: ObjectID(words: word(), word(), word(), word()), offset: $0, length: 1) }
        let pack = ObjectID(words: word(), word(), word(), word())
        index.add(pack: pack, entries: entries)
        index.add(pack: pack, entries: twins[3...].enumerated().map { PackEntry(kind: .tree, id: $1, offset: 100 + $0, length: 7) })
        for (number, twin) in twins.enumerated() {
            let expected = number < 3
                ? RepositoryIndex.Location(pack: pack, kind: .blob, offset: number * 10, length: 10)
                : RepositoryIndex.Location(pack: pack, kind: .tree, offset: 100 + number - 3, length: 7)
            #expect(index.location(of: twin) == expected)
        }
        #expect(!index.contains(stranger))
        #expect(index.count == entries.count + 3)
    }

    /// The trees' places, for reading them ahead: by pack, sorted, joined across small gaps,
    /// blobs left out, from the table and from the recent objects alike.
    @Test func theRangesOfAKindAreJoinedByPack() throws {
        var random = SeededGenerator(state: 9)
        func id() -> ObjectID { ObjectID(words: UInt64.random(in: 0...UInt64.max, using: &random), 1, 2, 3) }
        let first = id(), second = id()
        var index = RepositoryIndex()
        // Many blobs, so the first pack's objects are merged into the table.
        var entries = (0..<RepositoryIndex.recentLimit).map { PackEntry(kind: .blob, id: id(), offset: 1_000_000 + $0 * 10, length: 10) }
        entries += [
            PackEntry(kind: .tree, id: id(), offset: 80_000, length: 500),
            PackEntry(kind: .tree, id: id(), offset: 0, length: 100),
            PackEntry(kind: .tree, id: id(), offset: 100 + 32_768, length: 50),  // a gap of 32 KiB: joined
            PackEntry(kind: .tree, id: id(), offset: 40_000, length: 10),  // inside the gap rule of the one before
        ]
        index.add(pack: first, entries: entries)
        index.add(pack: second, entries: [PackEntry(kind: .tree, id: id(), offset: 5, length: 5), PackEntry(kind: .blob, id: id(), offset: 10, length: 90)])
        let ranges = index.ranges(of: .tree)
        #expect(ranges.map(\.pack) == [first, second])
        #expect(ranges.first?.ranges == [0..<40_010, 80_000..<80_500])
        #expect(ranges.last?.ranges == [5..<10])
        #expect(index.ranges(of: .signature).isEmpty)
    }

    /// The full ids damaged on disk match nothing: the index says the objects are not stored
    /// (a backup stores them again) rather than answering for objects it cannot confirm; added
    /// again, they are found.
    @Test func aDamagedIDFileOnlyFailsToMatch() throws {
        var random = SeededGenerator(state: 9)
        func id() -> ObjectID { ObjectID((0..<32).map { _ in UInt8.random(in: 0...255, using: &random) }) }
        var index = RepositoryIndex()
        let pack = id()
        let entries = (0..<(RepositoryIndex.recentLimit + 10)).map { PackEntry(kind: .blob, id: id(), offset: $0, length: 1) }
        index.add(pack: pack, entries: entries)
        #expect(entries.allSatisfy { index.contains($0.id) })
        let descriptor = try #require(index.ids.descriptor, "the ids went to a file")
        let garbage = [UInt8](repeating: 0xA5, count: RepositoryIndex.recentLimit * 32)
        #expect(garbage.withUnsafeBytes { pwrite(descriptor, $0.baseAddress!, $0.count, 0) } == garbage.count)
        let found = entries.filter { index.contains($0.id) }.count
        #expect(found == 10, "only the recent ones, not yet in the file, are still confirmed")
        index.add(pack: pack, entries: entries)
        #expect(entries.allSatisfy { index.contains($0.id) })
        // Verify and prune, which act on what is not listed, get an error, never wrong ids.
        #expect(throws: IDFile.Failure.self) { try index.entriesByPack() }
        do {
            _ = try index.entriesByPack()
        } catch {
            #expect(error.description.contains("is damaged"), "\(error)")
        }
    }

    /// Where the id file cannot be made, the ids stay in memory and every answer is the same.
    @Test func idsWithoutAFolderStayInMemory() throws {
        var random = SeededGenerator(state: 3)
        func id() -> ObjectID { ObjectID((0..<32).map { _ in UInt8.random(in: 0...255, using: &random) }) }
        var index = RepositoryIndex(spillFolder: "/nonexistent/cairn-ids")
        let pack = id()
        let entries = (0..<(RepositoryIndex.recentLimit * 2 + 5)).map { PackEntry(kind: .blob, id: id(), offset: $0, length: 1) }
        index.add(pack: pack, entries: entries)
        #expect(index.ids.descriptor == nil)
        #expect(entries.allSatisfy { index.location(of: $0.id)?.offset == $0.offset })
        #expect(!index.contains(id()))
        #expect(Set(try index.entriesByPack()[pack] ?? []) == Set(entries))
    }

    /// A folder that fills up part way (a 64 KiB file system, room for about 2,000 ids): what
    /// was written is read from the file, the rest stays in memory, every object is found.
    @Test(.enabled(if: getuid() == 0)) func idsThatDoNotFitStayInMemory() throws {
        var random = SeededGenerator(state: 4)
        func id() -> ObjectID { ObjectID((0..<32).map { _ in UInt8.random(in: 0...255, using: &random) }) }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("cairn-ids-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try #require(mount("tmpfs", folder, "tmpfs", 0, "size=64k") == 0, "mount a 64 KiB tmpfs: \(String(cString: strerror(errno)))")
        defer {
            umount(folder)
            try? FileManager.default.removeItem(atPath: folder)
        }
        var index = RepositoryIndex(spillFolder: folder)
        let pack = id()
        let entries = (0..<(RepositoryIndex.recentLimit * 3)).map { PackEntry(kind: .blob, id: id(), offset: $0, length: 1) }
        index.add(pack: pack, entries: entries)
        #expect(index.ids.descriptor != nil)
        #expect(entries.allSatisfy { index.location(of: $0.id)?.offset == $0.offset })
        #expect(!index.contains(id()))
        #expect(Set(try index.entriesByPack()[pack] ?? []) == Set(entries))
    }
}
