import CairnTesting
import Foundation
import Testing

@testable import CairnCore

/// The scan's spill file: what is appended comes back byte for byte, from the file, from the
/// buffer or from both; a folder that cannot take it (none, or full) keeps it in memory.
@Suite("Spill file of a scan")
struct SpillFileTests {
    /// Pieces of random sizes (some larger than the buffer), read back in random order.
    func roundTrip(_ spill: SpillFile, seed: UInt64, total: Int) throws {
        var random = SeededGenerator(state: seed)
        var pieces: [(SpillFile.Place, [UInt8])] = []
        var appended = 0
        while appended < total {
            let count = Int.random(in: 0...(Int.random(in: 0...9, using: &random) == 0 ? 3 * SpillFile.bufferSize / 2 : 5_000), using: &random)
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
            // Some in parts, as a folder's nodes are spilled.
            let cuts = (0..<Int.random(in: 0...2, using: &random)).map { _ in Int.random(in: 0...count, using: &random) }.sorted()
            let bounds = [0] + cuts + [count]
            let parts = zip(bounds, bounds.dropFirst()).map { Array(bytes[$0..<$1]) }
            pieces.append((parts.count == 1 ? spill.append(bytes) : spill.append(parts: parts), bytes))
            appended += count
            // Now and then, something read back while more is appended.
            if let (place, expected) = pieces.randomElement(using: &random) { #expect(try spill.read(place) == expected) }
        }
        for (place, expected) in pieces.shuffled(using: &random) {
            #expect(try spill.read(place) == expected, "\(place)")
        }
    }

    @Test func piecesComeBackFromTheFileAndTheBuffer() throws {
        let directory = try TemporaryDirectory()
        let spill = SpillFile(in: directory.path)
        try roundTrip(spill, seed: 5, total: 5 * SpillFile.bufferSize)
        #expect(spill.failure == nil)
        // Unlinked at once: nothing is left in the folder.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == [])
    }

    /// A byte flipped in the file (bad luck on the disk): reading that piece back is an error
    /// that says so, and a piece elsewhere still reads back.
    @Test func aDamagedPieceIsAnErrorNotWrongBytes() throws {
        let directory = try TemporaryDirectory()
        let spill = SpillFile(in: directory.path)
        let first = (0..<(SpillFile.bufferSize + 1000)).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let second = Array("still in the buffer".utf8)
        let (damaged, kept) = (spill.append(first), spill.append(second))
        let descriptor = try #require(spill.descriptor)
        var byte: UInt8 = 0
        #expect(pread(descriptor, &byte, 1, 5_000) == 1)
        byte ^= 0x10
        #expect(pwrite(descriptor, &byte, 1, 5_000) == 1)
        #expect(throws: SpillFile.Failure.self) { try spill.read(damaged) }
        do {
            _ = try spill.read(damaged)
        } catch {
            #expect(error.description.contains("is damaged"), "\(error)")
        }
        #expect(try spill.read(kept) == second)
    }

    @Test func aFolderThatCannotHoldItKeepsItInMemory() throws {
        let directory = try TemporaryDirectory()
        let spill = SpillFile(in: directory.subpath("missing"))
        try roundTrip(spill, seed: 6, total: 3 * SpillFile.bufferSize)
        #expect(spill.failure?.description.contains("cannot make the scan's spill file in \(directory.subpath("missing"))") == true)
    }

    /// A full disk: the first write fails, and everything appended before and after is read
    /// back from memory.
    @Test(.enabled(if: getuid() == 0)) func aFullDiskKeepsTheRestInMemory() throws {
        let directory = try TemporaryDirectory()
        let small = directory.subpath("small")
        try FileManager.default.createDirectory(atPath: small, withIntermediateDirectories: true)
        #expect(mount("tmpfs", small, "tmpfs", 0, "size=512k") == 0, "mount a 512 KiB tmpfs: \(String(cString: strerror(errno)))")
        defer { umount(small) }
        let spill = SpillFile(in: small)
        try roundTrip(spill, seed: 7, total: 4 * SpillFile.bufferSize)
        #expect(spill.failure?.description.contains("No space left on device") == true, "\(String(describing: spill.failure))")
    }

    /// A folder of 8,000 entries (about 2 MiB encoded) is spilled in several pieces as its
    /// nodes come: read back one by one they are the nodes given, in order, and whole with
    /// the removed entries; a byte flipped in a middle piece is an error, never fewer nodes.
    @Test func aLargeFolderIsSpilledAndReadInPieces() throws {
        let directory = try TemporaryDirectory()
        let spill = SpillFile(in: directory.path)
        let folder = ScannedDirectory(path: FilePath("/data"), entry: TreeEntry(name: Array("data".utf8), kind: .directory))
        var sealer = ScannedDirectory.Sealer(spill: spill)
        var names: [[UInt8]] = []
        for number in 0..<8_000 {
            var entry = TreeEntry(name: Array(String(format: "link-%05d-", number).utf8) + [UInt8](repeating: 0x61, count: 200), kind: .symlink)
            entry.symlinkTarget = Array("/target/\(number)".utf8)
            names.append(entry.name)
            sealer.add(.special(entry))
        }
        let gone = TreeEntry(name: Array("gone".utf8), kind: .file)
        sealer.seal(folder, removed: [gone])

        var nodes = try folder.nodes()
        var read: [[UInt8]] = []
        while let node = try nodes.next() { read.append(node.name) }
        #expect(read == names)
        let contents = try folder.contents()
        #expect(contents.children.map(\.name) == names)
        #expect(contents.removed.map(\.name) == [gone.name])

        // 400,000 is in the second piece of 256 KiB, written to the file with the first MiB.
        let descriptor = try #require(spill.descriptor)
        var byte: UInt8 = 0
        #expect(pread(descriptor, &byte, 1, 400_000) == 1)
        byte ^= 0x01
        #expect(pwrite(descriptor, &byte, 1, 400_000) == 1)
        var damaged = try folder.nodes()
        var count = 0
        #expect(throws: SpillFile.Failure.self) {
            while try damaged.next() != nil { count += 1 }
        }
        #expect(count > 0 && count < names.count)
    }
}
