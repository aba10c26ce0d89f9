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

    @Test func theOldestGoOnceMoreBytesWaitThanTheLimit() throws {
        let directory = try TemporaryDirectory()
        let dropBehind = DropBehind(limit: 1 << 20, files: 100)
        var paths: [String] = []
        for index in 0..<5 {
            let (path, descriptor) = try written(directory, "file-\(index)", 512 << 10)
            #expect(cached(path) == 128, "written pages are in the cache to start with")
            dropBehind.add(descriptor, bytes: 512 << 10)
            paths.append(path)
        }
        // 2.5 MiB handed over, 1 MiB may wait: the three oldest went, the two newest wait.
        #expect(dropBehind.count == 2)
        #expect(paths[..<3].map(cached) == [0, 0, 0])
        #expect(paths[3...].map(cached) == [128, 128])
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
    /// at 64 or less (each is then let go of as it comes).
    @Test func aLowLimitOfOpenFilesKeepsFewerWaiting() throws {
        #expect(DropBehind.files(openLimit: 1024) == 64)
        #expect(DropBehind.files(openLimit: 256) == 48)
        #expect(DropBehind.files(openLimit: 100) == 9)
        #expect(DropBehind.files(openLimit: 64) == 0)
        #expect(DropBehind.files(openLimit: 20) == 0)
        let directory = try TemporaryDirectory()
        let none = DropBehind(limit: 1 << 30, files: DropBehind.files(openLimit: 40))
        let (path, descriptor) = try written(directory, "file", 64 << 10)
        none.add(descriptor, bytes: 64 << 10)
        #expect(none.count == 0)
        #expect(cached(path) == 0)
    }

    @Test func theOldestGoOnceMoreFilesWait() throws {
        let directory = try TemporaryDirectory()
        let dropBehind = DropBehind(limit: 1 << 30, files: 2)
        var paths: [String] = []
        for index in 0..<4 {
            let (path, descriptor) = try written(directory, "file-\(index)", 64 << 10)
            dropBehind.add(descriptor, bytes: 64 << 10)
            paths.append(path)
        }
        #expect(dropBehind.count == 2)
        #expect(paths.map(cached) == [0, 0, 16, 16])
        // Whatever still waits goes when it does.
        var others: [String] = []
        do {
            let other = DropBehind(limit: 1 << 30, files: 100)
            for index in 0..<3 {
                let (path, descriptor) = try written(directory, "other-\(index)", 64 << 10)
                other.add(descriptor, bytes: 64 << 10)
                others.append(path)
            }
            withExtendedLifetime(other) {
                #expect(other.count == 3)
                #expect(others.map(cached) == [16, 16, 16])
            }
        }
        #expect(others.map(cached) == [0, 0, 0])
    }
}
