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
        let byPack = index.entriesByPack()
        var reference: [ObjectID: Set<PackEntry>] = [:]
        for (pack, entry) in expected.values { reference[pack, default: []].insert(entry) }
        #expect(byPack.mapValues(Set.init) == reference)
    }
}
