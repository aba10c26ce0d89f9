import CairnTesting
import Testing

@testable import CairnCore

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Directory entries")
struct DirectoryEntryTests {
    /// `readdir` packs entries: the last one in its buffer may end a few bytes after its name,
    /// right before memory that is not mapped. Its name is read without touching that memory
    /// (copying the 256-byte `d_name` field crashed a backup's scan now and then).
    @Test func aNameIsReadUpToItsEndOnly() throws {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let memory = try #require(mmap(nil, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
        #expect(memory != MAP_FAILED)
        defer { munmap(memory, 2 * page) }
        #expect(mprotect(memory + page, page, PROT_NONE) == 0)
        let offset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        // An entry whose name ("notes.txt" and its NUL) ends exactly at the unmapped page.
        let name = Array("notes.txt".utf8) + [0]
        let start = page - name.count - offset
        let entry = (memory + start).bindMemory(to: dirent.self, capacity: 1)
        (memory + start + offset).copyMemory(from: name, byteCount: name.count)
        #expect(directoryEntryName(entry) == Array("notes.txt".utf8))
    }

    /// A read of a directory that fails ends `readdir` as its end does: the failure is told
    /// apart (a listing cut short would make the entries not read look removed). Here a
    /// regular file takes the stream's descriptor number (dup2: the number stays this test's,
    /// never closed twice), so the read fails with ENOTDIR.
    @Test func aFailedReadIsAnErrorNotTheEnd() throws {
        let directory = try TemporaryDirectory()
        for index in 0..<3 { try directory.write("f\(index)", "\(index)") }
        let whole = try #require(opendir(directory.path))
        var names = 0
        while case .success(let entry?) = nextDirectoryEntry(whole) { names += directoryEntryName(entry).first == 0x2E ? 0 : 1 }
        if case .failure = nextDirectoryEntry(whole) { Issue.record("the end of a listing read as a failure") }
        closedir(whole)
        #expect(names == 3)

        let broken = try #require(opendir(directory.path))
        let file = open(directory.subpath("f0"), O_RDONLY | O_CLOEXEC)
        #expect(file >= 0 && dup2(file, dirfd(broken)) == dirfd(broken))
        close(file)
        switch nextDirectoryEntry(broken) {
        case .success(let entry): Issue.record("a read of a file as a folder gave \(entry == nil ? "the end" : "an entry")")
        case .failure(let failure): #expect(failure.code == ENOTDIR)
        }
        closedir(broken)
    }
}
