import CairnTesting
import Foundation
import Testing

@testable import CairnCore

/// A file read for a backup: its content whole at any size (a small file's end is known from
/// its size, with no read of nothing after it), a file that grew since it was opened read to
/// its real end, and what is no longer a regular file (a fifo or a device swapped in since the
/// scan) not read at all, at once.
@Suite("Reading a file for a backup")
struct FileReaderTests {
    func reader() async throws -> (FileReader, Repository) {
        let repository = try await Repository.create(storage: MemoryStorage(), algorithm: .aes256GCM, passphrase: passphrase, scrypt: testScrypt)
        let reader = FileReader(
            repository: repository, chunker: Chunker(key: repository.chunkerKey), compressor: Compressor(.default), followSymlinks: false,
            progress: nil, delta: nil)
        return (reader, repository)
    }

    /// The file at `path` as the scan saw it.
    func scanned(_ path: String) throws -> ScannedFile {
        let info = try FileMetadata.lstat(FilePath(path))
        let entry = try #require(FileMetadata.entry(name: Array((path as NSString).lastPathComponent.utf8), info: info, names: NameCache()))
        return ScannedFile(path: FilePath(path), entry: entry, change: .new, previous: nil)
    }

    /// The content an entry's extents hold.
    func content(of entry: TreeEntry, in repository: Repository) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        for extent in entry.content {
            bytes += try await repository.load(.blob, extent.object)[extent.offset..<extent.offset + extent.length]
        }
        return bytes
    }

    @Test(arguments: [0, 1, 4095, 4096, 65_536, (64 << 10) + 1, 300_000, 3 << 20])
    func everySizeIsReadWhole(size: Int) async throws {
        let directory = try TemporaryDirectory()
        var random = SeededGenerator(state: UInt64(size) + 1)
        let bytes = random.bytes(size)
        let path = directory.subpath("file")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let (reader, repository) = try await reader()
        let result = try await reader.read(try scanned(path))
        #expect(result.problems.isEmpty, "\(result.problems)")
        let entry = try #require(result.entry)
        #expect(entry.size == UInt64(size))
        #expect(try await content(of: entry, in: repository) == bytes)
        #expect(result.statistics.bytesRead == UInt64(size))
    }

    /// A file that grew between the scan and its reading is read to its end, and said to have
    /// changed (the scan's size is not what was read).
    @Test func aFileThatGrewSinceTheScanIsReadToItsEnd() async throws {
        let directory = try TemporaryDirectory()
        var random = SeededGenerator(state: 9)
        let first = random.bytes(5000)
        let path = directory.subpath("growing")
        try Data(first).write(to: URL(fileURLWithPath: path))
        let file = try scanned(path)
        let more = random.bytes(70_000)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(more))
        try handle.close()
        let (reader, repository) = try await reader()
        let result = try await reader.read(file)
        let entry = try #require(result.entry)
        #expect(try await content(of: entry, in: repository) == first + more)
        #expect(entry.size == UInt64(first.count + more.count))
        #expect(result.problems.map(\.message) == ["changed while it was read; stored as read (it had no earlier version), and read again next time"])
    }

    /// A read that stops short exactly at the size the file had when opened is its end: no
    /// read of nothing follows. (A pipe shows it: with its writer still open, another read
    /// finds nothing; the reading end does not block, so that read fails at once.)
    @Test func aShortReadAtTheOpenedSizeIsTheEnd() throws {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        #expect(fcntl(ends[0], F_SETFL, fcntl(ends[0], F_GETFL) | O_NONBLOCK) == 0)
        defer { close(ends[0]); close(ends[1]) }
        let bytes = [UInt8](repeating: 7, count: 5000)
        #expect(write(ends[1], bytes, bytes.count) == bytes.count)
        let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 70_000)
        defer { buffer.deallocate() }
        var filled = 0
        #expect(try FileReader.fill(ends[0], buffer, filled: &filled, end: 5000, path: FilePath("/pipe")))
        #expect(filled == 5000)
    }

    /// A file that grows after it is opened is read past the size it had then, to its end.
    @Test func aFileThatGrowsAfterItIsOpenedIsReadToItsEnd() throws {
        let directory = try TemporaryDirectory()
        let path = directory.subpath("growing")
        try Data([UInt8](repeating: 1, count: 5000)).write(to: URL(fileURLWithPath: path))
        let descriptor = open(path, O_RDONLY)
        #expect(descriptor >= 0)
        defer { close(descriptor) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data([UInt8](repeating: 2, count: 3000)))
        try handle.close()
        let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 70_000)
        defer { buffer.deallocate() }
        var filled = 0
        #expect(try FileReader.fill(descriptor, buffer, filled: &filled, end: 5000, path: FilePath(path)))
        #expect(filled == 8000)
        #expect(Array(buffer[4999..<5001]) == [1, 2])
    }

    /// A small file is read whole into the array that is stored, given the size it had when
    /// opened. When it holds more by then (it grew after it was opened, even past the chunker's
    /// least cut) or less, what it holds is what is stored, with the same object a read by
    /// chunks gives.
    @Test(arguments: [
        (said: 5000, holds: 5000), (said: 4096, holds: 4096), (said: 0, holds: 0), (said: 0, holds: 3000), (said: 5000, holds: 5001),
        (said: 8192, holds: 12_000), (said: 5000, holds: 4000), (said: 8192, holds: 100), (said: 5000, holds: Chunker.minimumSize + 70_000),
        (said: Chunker.minimumSize - 1, holds: Chunker.minimumSize - 1), (said: Chunker.minimumSize - 1, holds: Chunker.minimumSize),
    ])
    func aSmallFileIsReadWholeAsItIsNow(said: Int, holds: Int) async throws {
        let directory = try TemporaryDirectory()
        var random = SeededGenerator(state: UInt64(said * 31 + holds))
        let bytes = random.bytes(holds)
        let path = directory.subpath("file")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let descriptor = open(path, O_RDONLY)
        #expect(descriptor >= 0)
        defer { close(descriptor) }
        let (reader, repository) = try await reader()
        var statistics = Snapshot.Statistics()
        let (extents, hash, size) = try await reader.readContent(descriptor, path: FilePath(path), size: said, statistics: &statistics)
        #expect(size == UInt64(holds))
        #expect(statistics.bytesRead == UInt64(holds))
        var entry = TreeEntry(name: Array("file".utf8), kind: .file)
        entry.content = extents
        #expect(try await content(of: entry, in: repository) == bytes)
        // The same as a read by chunks: a buffer past the whole-file size says nothing of the size.
        let chunked = open(path, O_RDONLY)
        try #require(chunked >= 0)
        defer { close(chunked) }
        var again = Snapshot.Statistics()
        let byChunks = try await reader.readContent(chunked, path: FilePath(path), size: FileReader.wholeFileSize, statistics: &again)
        #expect(byChunks.0 == extents)
        #expect(byChunks.1 == hash)
    }

    /// Read whole: the bytes of a file as large as it was or smaller; nil for one that grew,
    /// with what was read handed on and the file not sought back (a pipe cannot seek).
    @Test func aFileReadWholeGivesWhatItHoldsOrHandsOnWhatWasRead() async throws {
        let (reader, _) = try await reader()
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        defer { close(ends[0]) }
        let bytes = (0..<9000).map { UInt8($0 % 251) }
        #expect(write(ends[1], bytes, bytes.count) == bytes.count)
        close(ends[1])
        var started: [UInt8] = []
        #expect(try reader.readWhole(ends[0], path: FilePath("/pipe"), expected: 5000, started: &started) == nil)
        #expect(started == Array(bytes[0..<5001]))
        // A shorter file, then one of the size it said, read whole.
        var rest: [UInt8] = []
        #expect(try reader.readWhole(ends[0], path: FilePath("/pipe"), expected: 5000, started: &rest) == Array(bytes[5001...]))
        #expect(rest.isEmpty)
    }

    /// A fifo or a device where the scan saw a regular file is not opened for reading, read
    /// forever or waited on: a problem, at once. (The limit counts from the test's start, and
    /// in the whole suite's parallel run a test can wait behind the end-to-end suites for
    /// minutes: one minute was exceeded in CI with nothing wrong.)
    @Test(.timeLimit(.minutes(20)), arguments: ["fifo", "/dev/zero", "/dev/null"])
    func whatIsNoLongerARegularFileIsNotRead(replacement: String) async throws {
        let directory = try TemporaryDirectory()
        let path = directory.subpath("file")
        try Data("regular".utf8).write(to: URL(fileURLWithPath: path))
        let file = try scanned(path)
        #expect(unlink(path) == 0)
        if replacement == "fifo" {
            #expect(mkfifo(path, 0o600) == 0)
        } else {
            #expect(symlink(replacement, path) == 0)
        }
        // Through a link, as a backup that follows them opens it (resolved first, the device
        // never opened), and without following links (a link is refused, a fifo not waited on).
        let (plain, repository) = try await reader()
        let following = FileReader(
            repository: repository, chunker: plain.chunker, compressor: plain.compressor, followSymlinks: true, progress: nil, delta: nil)
        let result = try await following.read(file)
        #expect(result.entry == nil)
        #expect(result.problems.map(\.message) == ["is no longer a regular file"])
        #expect(result.statistics.problems == 1)
        let notFollowing = try await plain.read(file)
        #expect(notFollowing.entry == nil)
        #expect(notFollowing.problems.count == 1)
        let expected = replacement == "fifo" ? "is no longer a regular file" : "cannot be read: Too many levels of symbolic links"
        #expect(notFollowing.problems.map(\.message) == [expected])
    }
}
