import CairnTesting
import Foundation
import Testing

@testable import CairnCore

@Suite("Restored files' pages let go of once written")
struct DropBehindTests {
    /// Writes `count` bytes to a new file, flushed (its pages clean, so they can go), and
    /// returns its path and a descriptor open on it.
    func written(_ directory: TemporaryDirectory, _ name: String, _ count: Int) throws -> (path: String, descriptor: Int32) {
        let path = directory.subpath(name)
        var random = SeededGenerator(state: UInt64(count) &+ UInt64(name.utf8.count))
        try Data(random.bytes(count)).write(to: URL(fileURLWithPath: path))
        let descriptor = open(path, O_RDWR | O_CLOEXEC)
        #expect(descriptor >= 0)
        #expect(fsync(descriptor) == 0)
        return (path, descriptor)
    }

    func cached(_ path: String) -> Int { residentPages(of: path)?.filter { $0 }.count ?? -1 }

    /// Writes `count` files of `bytes` bytes named `prefix-N`, each in the cache once written,
    /// and hands them to `dropBehind` in turn; returns their paths.
    func handOver(_ count: Int, of bytes: Int, named prefix: String, in directory: TemporaryDirectory, to dropBehind: DropBehind) throws -> [String] {
        try (0..<count).map { index in
            let (path, descriptor) = try written(directory, "\(prefix)-\(index)", bytes)
            #expect(cached(path) == pages(bytes), "written pages are in the cache to start with")
            dropBehind.add(descriptor, bytes: bytes)
            return path
        }
    }

    /// Pages of `bytes` bytes.
    func pages(_ bytes: Int) -> Int { (bytes + Int(sysconf(Int32(_SC_PAGESIZE))) - 1) / Int(sysconf(Int32(_SC_PAGESIZE))) }

    @Test func theOldestGoOnceMoreBytesWaitThanTheLimit() throws {
        let directory = try TemporaryDirectory()
        let dropBehind = DropBehind(limit: 1 << 20, files: 100)
        let paths = try handOver(5, of: 512 << 10, named: "file", in: directory, to: dropBehind)
        // 2.5 MiB handed over, 1 MiB may wait: the three oldest went, the two newest wait.
        dropBehind.settle()
        #expect(dropBehind.count == 2)
        #expect(paths[..<3].map(cached) == [0, 0, 0])
        #expect(paths[3...].map(cached) == [pages(512 << 10), pages(512 << 10)])
        dropBehind.finish()
        #expect(dropBehind.count == 0)
        #expect(paths.map(cached) == [0, 0, 0, 0, 0])
        // Letting pages go changes no byte.
        for (index, path) in paths.enumerated() {
            var random = SeededGenerator(state: UInt64(512 << 10) &+ UInt64("file-\(index)".utf8.count))
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(random.bytes(512 << 10)))
        }
    }

    /// The files waiting keep their descriptors: fewer under a low limit of open files, none
    /// at 256 or less (nothing is then handed over).
    @Test func aLowLimitOfOpenFilesKeepsFewerWaiting() {
        #expect(DropBehind.files(openLimit: 1024) == 64)
        #expect(DropBehind.files(openLimit: 512) == 64)
        #expect(DropBehind.files(openLimit: 300) == 11)
        #expect(DropBehind.files(openLimit: 256) == 0)
        #expect(DropBehind.files(openLimit: 20) == 0)
        #expect(DropBehind(files: DropBehind.files(openLimit: 300)).takesFiles)
        #expect(!DropBehind(files: DropBehind.files(openLimit: 200)).takesFiles)
    }

    @Test func theOldestGoOnceMoreFilesWait() throws {
        let directory = try TemporaryDirectory()
        let dropBehind = DropBehind(limit: 1 << 30, files: 2)
        let paths = try handOver(4, of: 64 << 10, named: "file", in: directory, to: dropBehind)
        dropBehind.settle()
        #expect(dropBehind.count == 2)
        #expect(paths.map(cached) == [0, 0, pages(64 << 10), pages(64 << 10)])
        // Whatever still waits goes when it does.
        var others: [String] = []
        do {
            let other = DropBehind(limit: 1 << 30, files: 100)
            others = try handOver(3, of: 64 << 10, named: "other", in: directory, to: other)
            withExtendedLifetime(other) {
                #expect(other.count == 3)
                #expect(others.map(cached) == Array(repeating: pages(64 << 10), count: 3))
            }
        }
        #expect(others.map(cached) == [0, 0, 0])
    }
}
