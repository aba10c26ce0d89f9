import CairnTesting
import Foundation
import Testing

@testable import CairnCore

@Suite("Open files for reading: kept a few at a time, never closed while in use")
struct OpenFilesTests {
    @Test func aFileInUseStaysOpenWhileOthersComeAndGo() throws {
        let directory = try TemporaryDirectory()
        let paths = try (0..<(OpenFiles.limit * 3)).map { try directory.write("file-\($0)", "content \($0)") }
        let files = OpenFiles()
        var opened = 0
        func opening(_ path: String) -> () throws -> Int32 {
            { opened += 1; return open(path, O_RDONLY | O_CLOEXEC) }
        }
        let held = try files.acquire(paths[0], opening: opening(paths[0]))
        for path in paths.dropFirst() {
            let descriptor = try files.acquire(path, opening: opening(path))
            files.release(path, descriptor)
        }
        #expect(fcntl(held, F_GETFD) != -1, "the file in use is still open")
        var buffer = [UInt8](repeating: 0, count: 9)
        #expect(pread(held, &buffer, 9, 0) == 9)
        #expect(String(decoding: buffer, as: UTF8.self) == "content 0")
        files.release(paths[0], held)

        // A recent file is open already; an old one is opened again.
        let before = opened
        let last = try files.acquire(paths.last!, opening: opening(paths.last!))
        files.release(paths.last!, last)
        #expect(opened == before)
        let second = try files.acquire(paths[1], opening: opening(paths[1]))
        files.release(paths[1], second)
        #expect(opened == before + 1)
    }

    /// A cairn server's storage replaces files under their keys: each read opens the file
    /// anew and closes it after, so a replaced file is never read through an old descriptor.
    @Test func withoutKeepingEachReadSeesTheFileAsItIsNow() async throws {
        let directory = try TemporaryDirectory()
        let storage = LocalFolderStorage(root: directory.path, keepsFilesOpen: false)
        try await storage.put("locks/a", Array(repeating: 1, count: 10))
        #expect(try await storage.read("locks/a", range: 0..<10).bytes == Array(repeating: 1, count: 10))
        try await storage.put("locks/a", Array(repeating: 2, count: 20_000))
        #expect(try await storage.read("locks/a", range: 0..<20_000).bytes == Array(repeating: 2, count: 20_000))
        // Descriptors of this file only (by device and inode): other tests run in this process
        // at the same time.
        var file = stat()
        #expect(stat(directory.subpath("locks/a"), &file) == 0)
        func descriptors() throws -> Int {
            try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").filter { name in
                var info = stat()
                return stat("/proc/self/fd/\(name)", &info) == 0 && info.st_dev == file.st_dev && info.st_ino == file.st_ino
            }.count
        }
        let control = open(directory.subpath("locks/a"), O_RDONLY | O_CLOEXEC)
        #expect(try descriptors() == 1, "a descriptor of the file is seen")
        close(control)
        for _ in 0..<50 { _ = try await storage.read("locks/a", range: 0..<100) }
        #expect(try descriptors() == 0, "no descriptor of the file is left open")
    }

    /// A pack's ranges asked for ahead are read into the page cache in the background (packs
    /// are written past it); a key with no file is no error.
    @Test func rangesAskedForAheadComeIntoTheCache() async throws {
        let directory = try TemporaryDirectory()
        let storage = LocalFolderStorage(root: directory.path)
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let size = 64 * page
        try await storage.put("data/ab/pack", [UInt8](repeating: 7, count: size))
        let path = directory.subpath("data/ab/pack")
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        #expect(descriptor >= 0)
        defer { close(descriptor) }
        func resident() -> [Bool] { residentPages(of: path) ?? [] }
        fsync(descriptor)
        #expect(posix_fadvise(descriptor, 0, off_t(size), POSIX_FADV_DONTNEED) == 0)
        #expect(resident().filter { $0 }.isEmpty, "out of the cache to start with")
        storage.prefetch("data/ab/pack", ranges: [page * 2..<page * 4, page * 40..<page * 41])
        var now: [Bool] = []
        for _ in 0..<200 {
            now = resident()
            if now.count == 64, now[2], now[3], now[40] { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(now.count == 64 && now[2] && now[3] && now[40], "\(now.enumerated().filter(\.element).map(\.offset))")
        storage.prefetch("data/ab/missing", ranges: [0..<10])
        storage.prefetch("../outside", ranges: [0..<10])
    }
}
