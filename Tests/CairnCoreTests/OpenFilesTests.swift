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
            _ = try files.acquire(path, opening: opening(path))
            files.release(path)
        }
        #expect(fcntl(held, F_GETFD) != -1, "the file in use is still open")
        var buffer = [UInt8](repeating: 0, count: 9)
        #expect(pread(held, &buffer, 9, 0) == 9)
        #expect(String(decoding: buffer, as: UTF8.self) == "content 0")
        files.release(paths[0])

        // A recent file is open already; an old one is opened again.
        let before = opened
        _ = try files.acquire(paths.last!, opening: opening(paths.last!))
        files.release(paths.last!)
        #expect(opened == before)
        _ = try files.acquire(paths[1], opening: opening(paths[1]))
        files.release(paths[1])
        #expect(opened == before + 1)
    }
}
