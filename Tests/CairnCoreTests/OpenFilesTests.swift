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
        let descriptors = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count
        for _ in 0..<50 { _ = try await storage.read("locks/a", range: 0..<100) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count <= descriptors)
    }
}
