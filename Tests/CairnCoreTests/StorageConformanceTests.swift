import CairnTesting
import Foundation
import Testing

@testable import CairnCore

/// The contract of `StorageBackend`, run against every backend.
@Suite("Storage backend conformance")
struct StorageConformanceTests {
    enum Kind: String, CaseIterable, CustomTestStringConvertible {
        case memory, localFolder
        var testDescription: String { rawValue }
    }

    /// A fresh, empty backend; the folder, if any, lives as long as the returned holder.
    static func make(_ kind: Kind) throws -> (backend: any StorageBackend, holder: TemporaryDirectory?) {
        switch kind {
        case .memory: return (MemoryStorage(), nil)
        case .localFolder:
            let directory = try TemporaryDirectory()
            return (LocalFolderStorage(root: directory.subpath("repo")), directory)
        }
    }

    @Test(arguments: Kind.allCases)
    func putThenGetReturnsTheBytes(kind: Kind) async throws {
        let (storage, holder) = try Self.make(kind)
        let data = (0..<10_000).map { UInt8($0 % 251) }
        try await storage.put("data/ab/abcdef", data)
        #expect(try await storage.get("data/ab/abcdef") == data)
        #expect(try await storage.get("data/ab/abcdef", range: 100..<200) == Array(data[100..<200]))
        #expect(try await storage.get("data/ab/abcdef", range: 0..<0) == [])
        #expect(try await storage.stat("data/ab/abcdef") == StorageItem(key: "data/ab/abcdef", size: 10_000))
        // Large files (packs) are written past the page cache in 4 KiB-aligned pieces, the
        // rest through it: every byte comes back, whatever the length.
        for length in [1 << 20, (3 << 20) + 4095, (2 << 20) + 1] {
            let large = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) }
            try await storage.put("data/cd/large", large)
            #expect(try await storage.get("data/cd/large") == large, "\(length) bytes")
        }
        _ = holder
    }

    @Test(arguments: Kind.allCases)
    func anUploadIsStoredWhenCommittedAndNotBefore(kind: Kind) async throws {
        let (storage, holder) = try Self.make(kind)
        // Pieces of any size (a pack's objects), across the local folder's 1 MiB direct-write
        // buffer and ending off its 4 KiB alignment.
        let data = (0..<((3 << 20) + 777)).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 11) }
        let upload = try storage.openUpload("data/12/pack")
        var start = 0
        for length in [1, 4095, 1 << 20, 300_000, 5, (1 << 20) + 3] + [Int.max] {
            let end = start + min(length, data.count - start)
            try data[start..<end].withUnsafeBytes { try upload.write($0) }
            start = end
        }
        #expect(try await storage.stat("data/12/pack") == nil, "nothing is visible before the commit")
        #expect(try await storage.listAll(prefix: "data/").isEmpty)
        try await upload.commit()
        #expect(try await storage.get("data/12/pack") == data)
        #expect(try await storage.listAll(prefix: "data/").map(\.key) == ["data/12/pack"])

        // Given up before its commit (an error, the end of a run): nothing is stored.
        do {
            let dropped = try storage.openUpload("data/34/pack")
            try data.withUnsafeBytes { try dropped.write($0) }
        }
        #expect(try await storage.stat("data/34/pack") == nil)
        #expect(throws: StorageError.invalidKey("../outside")) { try storage.openUpload("../outside") }
        _ = holder
    }

    @Test(arguments: Kind.allCases)
    func withBytesLendsTheRange(kind: Kind) async throws {
        let (storage, holder) = try Self.make(kind)
        // Large ranges of a local folder are read past the page cache, from 4 KiB-aligned
        // spans around them: any start and length, up to the file's last byte.
        let length = (3 << 20) + 1234
        let data = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 9) }
        try await storage.put("data/ef/pack", data)
        let ranges = [0..<10, 5..<(5 + (1 << 20)), 4096..<(4096 + (256 << 10)), 777..<length, (length - (200 << 10))..<length, 0..<length, 100..<100]
        for range in ranges {
            let lent = try await storage.withBytes("data/ef/pack", range: range) { Array($0) }
            #expect(lent == Array(data[range]), "\(range)")
        }
        await #expect(throws: StorageError.outOfRange("data/ef/pack")) {
            try await storage.withBytes("data/ef/pack", range: (length - (150 << 10))..<(length + 1)) { $0.count }
        }
        await #expect(throws: StorageError.notFound("data/ef/none")) {
            try await storage.withBytes("data/ef/none", range: 0..<(200 << 10)) { $0.count }
        }
        _ = holder
    }

    @Test(arguments: Kind.allCases)
    func putReplacesAndEmptyFilesWork(kind: Kind) async throws {
        let (storage, holder) = try Self.make(kind)
        try await storage.put("config", [1, 2, 3])
        try await storage.put("config", [])
        #expect(try await storage.get("config") == [])
        #expect(try await storage.stat("config")?.size == 0)
        _ = holder
    }

    @Test(arguments: Kind.allCases)
    func missingFilesAreNotFound(kind: Kind) async throws {
        let (storage, holder) = try Self.make(kind)
        await #expect(throws: StorageError.notFound("nothing")) { try await storage.get("nothing") }
        await #expect(throws: StorageError.notFound("a/b")) { try await storage.get("a/b", range: 0..<1) }
        #expect(try await storage.stat("nothing") == nil)
        #expect(try await storage.list(prefix: "data/", after: nil, limit: 10) == [])
        _ = holder
    }

    @Test(arguments: Kind.allCases)
    func readingPastTheEndIsOutOfRange(kind: Kind) async throws {
        let (storage, holder) = try Self.make(kind)
        try await storage.put("short", [1, 2, 3])
        await #expect(throws: StorageError.outOfRange("short")) { try await storage.get("short", range: 2..<5) }
        _ = holder
    }

    @Test(arguments: Kind.allCases)
    func putIfAbsentHasOneWinner(kind: Kind) async throws {
        let (storage, holder) = try Self.make(kind)
        #expect(try await storage.putIfAbsent("locks/x", [1]))
        #expect(try await storage.putIfAbsent("locks/x", [2]) == false)
        #expect(try await storage.get("locks/x") == [1])
        let winners = try await withThrowingTaskGroup(of: Bool.self) { group in
            for value in 0..<8 { group.addTask { try await storage.putIfAbsent("locks/race", [UInt8(value)]) } }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(winners == 1)
        _ = holder
    }

    @Test(arguments: Kind.allCases)
    func listsInKeyOrderPageByPage(kind: Kind) async throws {
        let (storage, holder) = try Self.make(kind)
        let keys = (0..<25).map { String(format: "data/%02x/%04d", $0 % 3, $0) }
        for key in keys.shuffled() { try await storage.put(key, [UInt8](repeating: 7, count: 3)) }
        try await storage.put("snapshots/one", [1])
        let firstPage = try await storage.list(prefix: "data/", after: nil, limit: 10)
        #expect(firstPage.map(\.key) == Array(keys.sorted().prefix(10)))
        #expect(firstPage.allSatisfy { $0.size == 3 })
        let secondPage = try await storage.list(prefix: "data/", after: firstPage.last!.key, limit: 10)
        #expect(secondPage.map(\.key) == Array(keys.sorted()[10..<20]))
        #expect(try await storage.listAll(prefix: "data/", pageSize: 7).map(\.key) == keys.sorted())
        #expect(try await storage.listAll(prefix: "snapshots/").map(\.key) == ["snapshots/one"])
        #expect(try await storage.listAll(prefix: "data/01/").count == 8)
        _ = holder
    }

    @Test(arguments: Kind.allCases)
    func deleteIsIdempotent(kind: Kind) async throws {
        let (storage, holder) = try Self.make(kind)
        try await storage.put("index/1", [1])
        try await storage.delete("index/1")
        try await storage.delete("index/1")
        #expect(try await storage.stat("index/1") == nil)
        _ = holder
    }

    @Test(arguments: Kind.allCases)
    func refusesKeysThatLeaveTheStorage(kind: Kind) async throws {
        let (storage, holder) = try Self.make(kind)
        for key in ["", "/abs", "a/../b", "a//b", "./a", "a/"] {
            await #expect(throws: StorageError.invalidKey(key)) { try await storage.put(key, [1]) }
        }
        _ = holder
    }
}

@Suite("The local folder backend on a real file system")
struct LocalFolderStorageTests {
    @Test func leavesNoTemporaryFilesAndHidesThemFromListing() async throws {
        let directory = try TemporaryDirectory()
        let storage = LocalFolderStorage(root: directory.subpath("repo"))
        try await storage.put("data/aa/x", [1, 2])
        #expect(try await storage.putIfAbsent("data/aa/y", [3]))
        #expect(try await storage.putIfAbsent("data/aa/y", [4]) == false)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.subpath("repo/data/aa")).sorted()
        #expect(names == ["x", "y"])
        try Data([9]).write(to: URL(fileURLWithPath: directory.subpath("repo/data/aa/.tmp-leftover")))
        #expect(try await storage.listAll(prefix: "data/").map(\.key) == ["data/aa/x", "data/aa/y"])
    }

    @Test func anUnfinishedUploadLeavesNothingAndLeftoversOfKilledRunsAreRemoved() async throws {
        let directory = try TemporaryDirectory()
        let storage = LocalFolderStorage(root: directory.subpath("repo"))
        func temporaries(_ folder: String) throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: directory.subpath("repo/" + folder)).filter { $0.hasPrefix(".tmp-") }
        }
        do {
            let upload = try storage.openUpload("data/aa/pack")
            try [UInt8](repeating: 5, count: 3 << 20).withUnsafeBytes { try upload.write($0) }
            #expect(try temporaries("data/aa").count == 1, "written to a temporary file as it comes")
        }
        #expect(try temporaries("data/aa").isEmpty, "and removed when given up")

        // What a killed run leaves: temporary files, which listing hides and prune removes.
        try await storage.put("data/aa/x", [1])
        try await storage.put("index/y", [2])
        for leftover in ["data/aa/.tmp-1", "data/aa/.tmp-2", "index/.tmp-3"] {
            try Data([9]).write(to: URL(fileURLWithPath: directory.subpath("repo/" + leftover)))
        }
        #expect(try await storage.removeUnfinished(prefix: "data/") == 2)
        #expect(try temporaries("data/aa").isEmpty && temporaries("index") == [".tmp-3"])
        #expect(try await storage.get("data/aa/x") == [1])
        #expect(try await storage.removeUnfinished(prefix: "index/") == 1)
        #expect(try await storage.get("index/y") == [2])
        #expect(try await storage.removeUnfinished(prefix: "snapshots/") == 0, "a folder that does not exist has none")
    }

    @Test func aReadOnlyFolderIsAClearError() async throws {
        guard getuid() != 0 else { return }  // root writes anywhere; the check needs a normal user
        let directory = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.subpath("repo"), withIntermediateDirectories: true)
        chmod(directory.subpath("repo"), 0o500)
        defer { chmod(directory.subpath("repo"), 0o700) }
        let storage = LocalFolderStorage(root: directory.subpath("repo"))
        await #expect(throws: StorageError.permissionDenied(directory.subpath("repo"))) {
            try await storage.put("config", [1])
        }
    }
}
