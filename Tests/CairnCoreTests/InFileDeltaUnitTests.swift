import CairnTesting
import Foundation
import Testing

@testable import CairnCore

@Suite("In-file delta: decisions, signatures and the search")
struct InFileDeltaUnitTests {
    let utc = TimeZone(identifier: "UTC")!
    /// Sunday 2026-11-22 12:00 UTC.
    let sunday = Date(timeIntervalSince1970: 1_795_348_800)

    func id(_ byte: UInt8) -> ObjectID { ObjectID([UInt8](repeating: byte, count: 32)) }

    func previous(deltas: Int, own: Bool = true, daysAgo: Int = 2) -> TreeEntry {
        var entry = TreeEntry(name: Array("mail.pst".utf8), kind: .file)
        let stored = Timestamp(seconds: 1_795_348_800 - Int64(daysAgo) * 86_400, nanoseconds: 0)
        let full = Timestamp(seconds: 1_795_348_800 - 30 * 86_400, nanoseconds: 0)
        entry.delta = DeltaInfo(
            isFull: deltas == 0, deltas: deltas, signature: own ? id(1) : nil, fullSignature: id(2), stored: stored, fullStored: full, newBytes: 10)
        return entry
    }

    func policy(_ settings: InFileDelta, _ override: DeltaModeOverride? = nil, at now: Date? = nil) -> DeltaPolicy {
        DeltaPolicy(settings: settings, override: override, now: now ?? sunday, timeZone: utc)
    }

    @Test func decisionsFollowTheGuidesRules() {
        var settings = InFileDelta(mode: .incremental)
        let size: UInt64 = 100_000_000
        let plain = policy(settings)
        #expect(plain.decide(size: 1_000, previous: previous(deltas: 3)) == nil, "under min-size: stored whole, no signature")
        #expect(plain.decide(size: size, previous: nil)?.reason == "full: new file")
        #expect(plain.decide(size: size, previous: TreeEntry(name: [0x61], kind: .file))?.reason == "full: no signature of the last version")

        let delta = plain.decide(size: size, previous: previous(deltas: 3))
        #expect(delta?.decision == .delta)
        #expect(delta?.summary == "delta on 2026-11-20 version, full if over 50%")
        #expect(delta?.base?.signature == id(1), "incremental: against the last version's own signature")

        // max-deltas 100: the 100th delta is made, the 101st is a full upload (the guide's day 102).
        #expect(plain.decide(size: size, previous: previous(deltas: 99))?.decision == .delta)
        #expect(plain.decide(size: size, previous: previous(deltas: 100))?.reason == "full: 101 deltas > max 100")
        settings.maxDeltas = nil
        #expect(policy(settings).decide(size: size, previous: previous(deltas: 5000))?.decision == .delta, "max-deltas off")
        settings.maxDeltaRatio = nil
        #expect(policy(settings).decide(size: size, previous: previous(deltas: 1))?.summary == "delta on 2026-11-20 version")

        settings.mode = .differential
        let differential = policy(settings).decide(size: size, previous: previous(deltas: 4, own: false))
        #expect(differential?.base?.signature == id(2), "differential: against the last full upload's signature")
        #expect(differential?.reason == "delta on 2026-10-23 version")
        // Switching to incremental after a differential delta needs a signature it does not have.
        #expect(policy(settings, .incremental).decide(size: size, previous: previous(deltas: 4, own: false))?.reason
            == "full: the last version, a differential delta, has no signature")
        #expect(policy(settings, .full).decide(size: size, previous: previous(deltas: 1))?.reason == "full: --delta-mode full")
        #expect(policy(InFileDelta.off, .incremental).decide(size: size, previous: previous(deltas: 1)) == nil, "an override does not turn delta on")
    }

    @Test func fullOnDaysAreReadInTheConfigsZone() {
        var settings = InFileDelta(mode: .incremental)
        settings.fullOn = [.weekday(.sunday)]
        #expect(policy(settings).decide(size: 1 << 30, previous: previous(deltas: 1))?.reason == "full: forced on sunday")
        // Saturday 23:30 UTC is already Sunday in Berlin.
        let saturdayNight = sunday.addingTimeInterval(-12.5 * 3600)
        #expect(policy(settings, at: saturdayNight).decide(size: 1 << 30, previous: previous(deltas: 1))?.decision == .delta)
        let berlin = DeltaPolicy(settings: settings, override: nil, now: saturdayNight, timeZone: TimeZone(identifier: "Europe/Berlin")!)
        #expect(berlin.decide(size: 1 << 30, previous: previous(deltas: 1))?.reason == "full: forced on sunday")
        settings.fullOn = [.dayOfMonth(22)]
        #expect(policy(settings).decide(size: 1 << 30, previous: previous(deltas: 1))?.reason == "full: forced on day 22 of the month")
        settings.fullOn = [.weekday(.monday), .dayOfMonth(1)]
        #expect(policy(settings).decide(size: 1 << 30, previous: previous(deltas: 1))?.decision == .delta)
    }

    @Test func blockSizesFollowTheFAQsTable() {
        let table: [(UInt64, Int)] = [
            (0, 4096), (499_999_999, 4096), (500_000_000, 8192), (1_999_999_999, 8192), (2_000_000_000, 16384),
            (7_999_999_999, 16384), (8_000_000_000, 32768), (14_999_999_999, 32768), (15_000_000_000, 65536), (1 << 40, 65536),
        ]
        for (size, block) in table { #expect(BlockSignature.automaticBlockSize(forFileSize: size) == block, "\(size)") }
        #expect(BlockSignature.strongLength(fileSize: 1 << 30, blockSize: 8192) == 8)
        #expect(BlockSignature.strongLength(fileSize: 1 << 40, blockSize: 4096) == 9, "41 + 29 bits")
        #expect(BlockSignature.strongLength(fileSize: 10, blockSize: 4096) == 8)
    }

    @Test func signaturesRoundTripAndDamagedOnesAreRefused() throws {
        var generator = SeededGenerator(state: 1)
        let data = (0..<100_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        var builder = SignatureBuilder(hasher: BlockHasher(key: [1, 2, 3]), blockSize: 4096, expectedSize: 100_000)
        // Fed in uneven pieces: the blocks are the same.
        for range in [0..<1, 1..<5000, 5000..<5000, 5000..<77_777, 77_777..<100_000] {
            data[range].withUnsafeBufferPointer { builder.update($0) }
        }
        let extents = [Extent(object: id(7), offset: 10, length: 60_000), Extent(object: id(8), offset: 0, length: 40_000)]
        let signature = builder.finish(extents: extents)
        #expect(signature.blockCount == 25)
        var whole = SignatureBuilder(hasher: BlockHasher(key: [1, 2, 3]), blockSize: 4096, expectedSize: 100_000)
        data.withUnsafeBufferPointer { whole.update($0) }
        #expect(whole.finish(extents: extents) == signature)
        #expect(try BlockSignature.decode(signature.encoded(), what: "s") == signature)
        var other = SignatureBuilder(hasher: BlockHasher(key: [9]), blockSize: 4096, expectedSize: 100_000)
        data.withUnsafeBufferPointer { other.update($0) }
        #expect(other.finish(extents: extents).strong != signature.strong, "the strong hash is keyed")

        var short = signature
        short.extents.removeLast()
        #expect(throws: FormatError.self) { try BlockSignature.decode(short.encoded(), what: "s") }
        #expect(throws: FormatError.self) { try BlockSignature.decode(Array(signature.encoded().dropLast()), what: "s") }
    }

    @Test func theSearchFindsShiftedBlocksAndPrefersRuns() throws {
        var generator = SeededGenerator(state: 2)
        let base = (0..<64 * 1024).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let hasher = BlockHasher(key: [4])
        var builder = SignatureBuilder(hasher: hasher, blockSize: 1024, expectedSize: UInt64(base.count))
        base.withUnsafeBufferPointer { builder.update($0) }
        let index = DeltaIndex(builder.finish(extents: [Extent(object: id(1), offset: 0, length: base.count)]), hasher: hasher)
        // Seven new bytes in front: every block is found seven bytes later.
        let shifted = [1, 2, 3, 4, 5, 6, 7] + base
        var found: [(Int, Int)] = []
        var position = 0
        shifted.withUnsafeBufferPointer { data in
            var prefer = 0
            while let (at, block) = index.find(in: data, from: position, prefer: prefer) {
                found.append((at, block))
                position = at + 1024
                prefer = block + 1
            }
        }
        #expect(found.map(\.1) == Array(0..<64))
        #expect(found.allSatisfy { $0.0 == 7 + $0.1 * 1024 })
    }

    @Test func copiesResolveToRangesOfTheBasesExtents() throws {
        let base = BlockSignature(
            fileSize: 300, blockSize: 100, strongLength: 8,
            extents: [Extent(object: id(1), offset: 0, length: 150), Extent(object: id(2), offset: 20, length: 150)],
            weak: [0, 0, 0], strong: [UInt8](repeating: 0, count: 24))
        let pieces: [DeltaPiece] = [.copy(baseOffset: 100, length: 100), .literal(batch: 0, offset: 0, length: 5), .copy(baseOffset: 0, length: 100)]
        let extents = try FileReader.resolve(pieces, base: base.extents, batches: [id(9)])
        #expect(extents == [
            Extent(object: id(1), offset: 100, length: 50), Extent(object: id(2), offset: 20, length: 50),
            Extent(object: id(9), offset: 0, length: 5), Extent(object: id(1), offset: 0, length: 100),
        ])
        // Neighbouring ranges of one object are joined.
        let joined = try FileReader.resolve([.copy(baseOffset: 0, length: 100), .copy(baseOffset: 100, length: 50)], base: base.extents, batches: [])
        #expect(joined == [Extent(object: id(1), offset: 0, length: 150)])
        #expect(throws: RepositoryError.self) { try FileReader.resolve([.copy(baseOffset: 250, length: 100)], base: base.extents, batches: []) }
    }
}
