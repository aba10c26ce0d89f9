import CairnTesting
import Foundation
import Testing

@testable import CairnCore

@Suite("Aligned file writer: direct and buffered writes, holes, tails")
struct AlignedFileWriterTests {
    /// Writes `content` in pieces of random sizes, some as a pack is written (from a thread)
    /// and some as a restore writes (from a task), and returns what the file holds and the
    /// bytes it has allocated.
    func roundTrip(_ content: [UInt8], direct: Bool, sparse: Bool, seed: UInt64, in directory: String) async throws -> (bytes: [UInt8], allocated: Int) {
        let path = directory + "/file-\(seed)-\(direct)-\(sparse)"
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        #expect(descriptor >= 0)
        defer { close(descriptor) }
        var random = SeededGenerator(state: seed)
        var writer = try AlignedFileWriter(descriptor: descriptor, size: content.count, direct: direct, sparse: sparse, bufferSize: 256 << 10)
        var done = 0
        while done < content.count {
            let piece = min(content.count - done, 1 + Int(random.next() % UInt64(300 << 10)))
            if random.next() % 2 == 0 {
                try content[done..<done + piece].withUnsafeBytes { try writer.write($0) }
            } else {
                try await writer.write(content[done..<done + piece])
            }
            done += piece
        }
        let size = try writer.finish()
        #expect(size == content.count)
        if writer.end < size { #expect(ftruncate(descriptor, off_t(size)) == 0) }
        var info = stat()
        #expect(fstat(descriptor, &info) == 0)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        return (bytes, Int(info.st_blocks) * 512)
    }

    @Test(arguments: [0, 1, 4095, 4096, 4097, (256 << 10) - 1, 256 << 10, (3 << 20) + 123])
    func everySizeComesBackExact(size: Int) async throws {
        let directory = try TemporaryDirectory()
        var random = SeededGenerator(state: UInt64(size))
        let content = random.bytes(size)
        for direct in [true, false] {
            for sparse in [true, false] {
                let (bytes, _) = try await roundTrip(content, direct: direct, sparse: sparse, seed: UInt64(size), in: directory.path)
                #expect(bytes == content, "size \(size), direct \(direct), sparse \(sparse)")
            }
        }
    }

    @Test func zeroBlocksBecomeHolesWhenSparse() async throws {
        let directory = try TemporaryDirectory()
        var random = SeededGenerator(state: 7)
        // Data, 2 MiB of zeros, data, and 1 MiB of zeros at the end.
        let content = random.bytes(300_000) + [UInt8](repeating: 0, count: 2 << 20) + random.bytes(70_000) + [UInt8](repeating: 0, count: 1 << 20)
        for direct in [true, false] {
            let sparse = try await roundTrip(content, direct: direct, sparse: true, seed: 1, in: directory.path)
            #expect(sparse.bytes == content)
            #expect(sparse.allocated < 1 << 20, "holes left (\(sparse.allocated) bytes allocated, direct \(direct))")
            let dense = try await roundTrip(content, direct: direct, sparse: false, seed: 2, in: directory.path)
            #expect(dense.bytes == content)
            #expect(dense.allocated >= content.count, "everything written (\(dense.allocated) bytes allocated)")
        }
    }
    /// Through the page cache, a task's pieces of 4 KiB or more are written from where they
    /// are (never copied into the buffer), smaller ones are buffered, and zero blocks in either
    /// still become holes, at any offset.
    @Test func largePiecesArePassedThroughAndStillLeaveHoles() async throws {
        let directory = try TemporaryDirectory()
        var random = SeededGenerator(state: 11)
        let pieces: [[UInt8]] = [
            [UInt8](repeating: 0, count: 256 << 10), random.bytes(5000), [UInt8](repeating: 0, count: 2 << 20), random.bytes(100),
            random.bytes(70_000), [UInt8](repeating: 0, count: 4096), random.bytes(4096), [UInt8](repeating: 0, count: 300 << 10),
        ]
        let path = directory.path + "/restored"
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        #expect(descriptor >= 0)
        defer { close(descriptor) }
        let content = pieces.flatMap { $0 }
        var writer = try AlignedFileWriter(descriptor: descriptor, size: content.count, direct: false, sparse: true)
        for (number, piece) in pieces.enumerated() {
            try await writer.write(piece)
            // Until the first small piece, nothing went through the buffer.
            #expect(writer.hasBuffer == (number >= 3), "piece \(number)")
        }
        let size = try writer.finish()
        #expect(size == content.count)
        #expect(writer.end < size, "the last bytes are zeros, not written")
        #expect(ftruncate(descriptor, off_t(size)) == 0)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(bytes == content)
        var info = stat()
        #expect(fstat(descriptor, &info) == 0)
        #expect(Int(info.st_blocks) * 512 < 1 << 20, "the zero runs are holes (\(Int(info.st_blocks) * 512) bytes allocated)")
    }
    /// A full buffer written out empties it, and the large pieces after it are passed through
    /// again, zeros of exactly 4 KiB included; the file is whole and its zero runs are holes.
    @Test func afterAFullBufferLargePiecesArePassedThroughAgain() async throws {
        let directory = try TemporaryDirectory()
        var random = SeededGenerator(state: 12)
        // Small pieces that fill the 64 KiB buffer exactly, then large ones.
        var pieces: [[UInt8]] = (0..<16).map { _ in random.bytes(4095) } + [random.bytes(16)]
        pieces += [[UInt8](repeating: 0, count: 4096), random.bytes(10_000), [UInt8](repeating: 0, count: 1 << 20), random.bytes(4096)]
        let path = directory.path + "/restored"
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        #expect(descriptor >= 0)
        defer { close(descriptor) }
        let content = pieces.flatMap { $0 }
        #expect(content.count > 1 << 20)
        var writer = try AlignedFileWriter(descriptor: descriptor, size: content.count, direct: false, sparse: true, bufferSize: 64 << 10)
        for piece in pieces { try await writer.write(piece) }
        #expect(try writer.finish() == content.count)
        #expect(writer.end == content.count, "the file ends in data")
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))) == content)
        var info = stat()
        #expect(fstat(descriptor, &info) == 0)
        #expect(Int(info.st_blocks) * 512 < 512 << 10, "the megabyte of zeros is a hole (\(Int(info.st_blocks) * 512) bytes allocated)")
    }
}
