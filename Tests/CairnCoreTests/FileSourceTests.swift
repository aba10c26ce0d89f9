import CairnTesting
import Foundation
import Testing

@testable import CairnCore

/// A backup reads large files past the page cache, a few blocks ahead: every byte comes back
/// in order, whatever the buffer the reader fills and wherever the file ends.
@Suite("Reading files for a backup")
struct FileSourceTests {
    @Test(arguments: [FileSource.directMinimum - 1, FileSource.directMinimum, FileSource.directMinimum + 12_345, 3 * FileSource.ReadAhead.blockSize * FileSource.ReadAhead.depth])
    func everyByteComesBackInOrder(size: Int) async throws {
        let directory = try TemporaryDirectory()
        var generator = SeededGenerator(state: UInt64(size))
        let content = generator.bytes(size)
        let path = try directory.write("file.bin", "")
        try Data(content).write(to: URL(fileURLWithPath: path))
        let descriptor = open(path, O_RDONLY)
        #expect(descriptor >= 0)
        defer { close(descriptor) }

        let source = FileSource(descriptor: descriptor, path: FilePath(path), size: size)
        var read: [UInt8] = []
        var pieces = SeededGenerator(state: 5)
        var atEnd = false
        while !atEnd {
            // Buffers of odd sizes, some larger than a block, as the chunker's leftovers leave.
            let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 1 + pieces.below(3 << 20))
            defer { buffer.deallocate() }
            var filled = 0
            atEnd = try await source.fill(buffer, filled: &filled)
            #expect(atEnd || filled == buffer.count, "only the end of the file leaves a buffer short")
            read += buffer[0..<filled]
        }
        #expect(read.count == content.count)
        #expect(read == content)
    }
}
