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
            pieces.append((spill.append(bytes), bytes))
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
}
