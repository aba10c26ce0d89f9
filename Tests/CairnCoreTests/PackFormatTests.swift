import CairnTesting
import Foundation
import Testing

@testable import CairnCore

/// The pack format alone: no storage, no repository.
@Suite("Pack format")
struct PackFormatTests {
    let keys = try! RepositoryKeys(encryption: "aes-256-gcm", master: MasterKey(encryption: Array(repeating: 7, count: 32), identification: Array(repeating: 9, count: 32)), location: "test")

    /// A pack of `count` objects of 100 bytes each, and its entries.
    func pack(count: Int) throws -> (bytes: [UInt8], entries: [PackEntry]) {
        var bytes: [UInt8] = []
        var entries: [PackEntry] = []
        for number in 0..<count {
            let plaintext = Array(repeating: UInt8(number), count: 100)
            let id = keys.codec.contentID(of: plaintext)
            let box = try keys.codec.seal(.blob, id: id, plaintext: plaintext, compressor: Compressor(.default))
            entries.append(PackEntry(kind: .blob, id: id, offset: bytes.count, length: box.count))
            bytes += box
        }
        return (bytes + (try PackFormat.ending(for: entries, codec: keys.codec)), entries)
    }

    @Test func aPacksHeaderReadsBackWhatWasWritten() throws {
        let (bytes, entries) = try pack(count: 5)
        let read = try bytes.withUnsafeBytes { try PackFormat.entries(ofPack: $0, key: "data/ab/pack", codec: keys.codec) }
        #expect(read == entries)
        for entry in read {
            let plaintext = try keys.codec.open(.blob, id: entry.id, box: Array(bytes[entry.offset..<entry.offset + entry.length]), where: "pack")
            #expect(keys.codec.contentID(of: plaintext) == entry.id)
        }
    }

    @Test func everyFlippedByteOfTheHeaderOrTrailerIsFound() throws {
        let (bytes, entries) = try pack(count: 3)
        let dataEnd = entries.last!.offset + entries.last!.length
        for position in dataEnd..<bytes.count {
            var damaged = bytes
            damaged[position] ^= 0x40
            #expect(throws: (any Error).self, "byte \(position)") {
                try damaged.withUnsafeBytes { try PackFormat.entries(ofPack: $0, key: "data/ab/pack", codec: keys.codec) }
            }
        }
    }

    @Test func shortAndLyingTrailersAreDamageNotCrashes() throws {
        for bytes in [[], [1], [1, 2, 3], [0xFF, 0xFF, 0xFF, 0xFF], [0, 0, 0, 0, 5, 0, 0, 0]] as [[UInt8]] {
            #expect(throws: RepositoryError.self, "\(bytes)") {
                try bytes.withUnsafeBytes { try PackFormat.entries(ofPack: $0, key: "data/ab/pack", codec: keys.codec) }
            }
        }
    }

    @Test func aHeaderPointingPastTheDataIsRefused() throws {
        var entries = try pack(count: 2).entries
        let data = entries.last!.offset + entries.last!.length
        entries[1].length += 1
        let lying = Array(repeating: 0, count: data) + (try PackFormat.ending(for: entries, codec: keys.codec))
        #expect(throws: RepositoryError.damaged("the header of data/ab/pack points past the pack's data")) {
            try lying.withUnsafeBytes { try PackFormat.entries(ofPack: $0, key: "data/ab/pack", codec: keys.codec) }
        }
    }

    @Test func aSnapshotRecordRoundTripsAndAForeignVersionIsNamed() throws {
        let snapshot = Snapshot(
            set: "files", host: "h", user: "u", start: Timestamp(Date(timeIntervalSince1970: 1_800_000_000)),
            end: Timestamp(Date(timeIntervalSince1970: 1_800_000_060)), status: .complete, tree: ObjectID(Array(repeating: 3, count: 32)),
            parent: nil, sources: ["/data"], statistics: Snapshot.Statistics())
        #expect(try Snapshot.decode(try snapshot.encoded(), what: "snapshot x") == snapshot)
        var text = String(decoding: try snapshot.encoded(), as: UTF8.self)
        text = text.replacingOccurrences(of: "\"version\":\(Snapshot.currentVersion)", with: "\"version\":99")
        #expect(throws: FormatError.self) { try Snapshot.decode(Array(text.utf8), what: "snapshot x") }
        #expect(throws: RepositoryError.damaged("snapshot x cannot be read: its record is not valid JSON")) {
            try Snapshot.decode(Array("{".utf8), what: "snapshot x")
        }
    }
}
