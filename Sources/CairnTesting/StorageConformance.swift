import CairnCore
import Foundation

/// The contract of `StorageBackend`, as checks any backend's tests run:
///
///     let failures = await StorageConformance.run { MyBackend(...) }
///     #expect(failures.isEmpty, "\(failures)")
///
/// Each check gets a fresh, empty backend from `make`. Nothing is skipped: a check that cannot
/// run is a failure. The checks use only the protocol (no backend's own details).
public enum StorageConformance {
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var check: String
        public var message: String
        public var description: String { "\(check): \(message)" }
    }

    struct Mismatch: Error {
        var message: String
    }

    public typealias Check = @Sendable (any StorageBackend) async throws -> Void

    /// Runs every check (or those named in `only`); returns the failures, empty when the
    /// backend conforms.
    public static func run(
        only: Set<String>? = nil, except: Set<String> = [], _ make: @Sendable () async throws -> any StorageBackend
    ) async -> [Failure] {
        var failures: [Failure] = []
        for (name, check) in checks where (only.map({ $0.contains(name) }) ?? true) && !except.contains(name) {
            do {
                try await check(try await make())
            } catch let mismatch as Mismatch {
                failures.append(Failure(check: name, message: mismatch.message))
            } catch {
                failures.append(Failure(check: name, message: "unexpected error: \(error)"))
            }
        }
        return failures
    }

    static func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        if !condition { throw Mismatch(message: message()) }
    }

    /// `body` fails with a `StorageError` of `category`.
    static func expectFailure(_ category: StorageError.Category, _ what: String, _ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as StorageError {
            try expect(error.category == category, "\(what): \(error) is \(error.category), not \(category)")
            return
        }
        throw Mismatch(message: "\(what) succeeded; it should fail with \(category)")
    }

    static func pattern(_ count: Int, _ salt: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: ($0 &+ salt) &* 2_654_435_761 >> 11) }
    }

    public static let checks: [(String, Check)] = [
        ("capabilities are usable", { storage in
            let capabilities = storage.capabilities
            try expect(capabilities.concurrentRequests >= 1, "concurrentRequests \(capabilities.concurrentRequests)")
            try expect(capabilities.rangedReadOverhead >= 0, "rangedReadOverhead \(capabilities.rangedReadOverhead)")
        }),
        ("put then get returns the bytes", { storage in
            for length in [0, 1, 10_000, 1 << 20, (3 << 20) + 4095] {
                let data = pattern(length, length)
                try await storage.put("data/ab/file", data)
                try expect(try await storage.get("data/ab/file") == data, "\(length) bytes came back different")
                try expect(try await storage.stat("data/ab/file") == StorageItem(key: "data/ab/file", size: length), "stat after \(length) bytes")
            }
        }),
        ("ranged reads return exactly the range", { storage in
            let length = (3 << 20) + 1234
            let data = pattern(length, 7)
            try await storage.put("data/ef/pack", data)
            for range in [0..<10, 5..<(5 + (1 << 20)), 4096..<(4096 + (256 << 10)), 777..<length, (length - (200 << 10))..<length, 0..<length, 100..<100] {
                let buffer = try await storage.read("data/ef/pack", range: range)
                try expect(buffer.count == range.count && buffer.bytes == Array(data[range]), "range \(range)")
                if range.count > 20 {
                    try expect(buffer.slice(10..<20).bytes == Array(data[(range.lowerBound + 10)..<(range.lowerBound + 20)]), "a slice of \(range)")
                }
            }
            try expect(try await storage.get("data/ef/pack", range: 100..<200) == Array(data[100..<200]), "get of a range")
            try await expectFailure(.damaged, "a range past the end") { _ = try await storage.read("data/ef/pack", range: (length - 10)..<(length + 1)) }
            try await expectFailure(.damaged, "a large range past the end") { _ = try await storage.read("data/ef/pack", range: (length - (150 << 10))..<(length + 1)) }
        }),
        ("missing files are not found", { storage in
            try await expectFailure(.notFound, "get of a missing file") { _ = try await storage.get("nothing") }
            try await expectFailure(.notFound, "a range of a missing file") { _ = try await storage.read("a/b", range: 0..<1) }
            try await expectFailure(.notFound, "a large range of a missing file") { _ = try await storage.read("a/b", range: 0..<(200 << 10)) }
            try expect(try await storage.stat("nothing") == nil, "stat of a missing file")
            try expect(try await storage.list(prefix: "data/", after: nil, limit: 10).isEmpty, "an empty listing")
        }),
        ("put replaces, atomically", { storage in
            try await storage.put("config", [1, 2, 3])
            try await storage.put("config", [])
            try expect(try await storage.get("config") == [], "an empty file replaces")
            // Readers during replacements see one whole version or the other.
            let old = pattern(300_000, 1), new = pattern(300_001, 2)
            try await storage.put("index/x", old)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { for _ in 0..<5 { try await storage.put("index/x", new); try await storage.put("index/x", old) } }
                group.addTask {
                    for _ in 0..<20 {
                        let seen = try await storage.get("index/x")
                        try expect(seen == old || seen == new, "a reader saw a part: \(seen.count) bytes")
                    }
                }
                try await group.waitForAll()
            }
        }),
        ("an upload is stored when committed and not before", { storage in
            let data = pattern((3 << 20) + 777, 3)
            let upload = try await storage.openUpload("data/12/pack")
            var start = 0
            for length in [1, 4095, 1 << 20, 300_000, 5, (1 << 20) + 3, Int.max] {
                let end = start + min(length, data.count - start)
                try await upload.write(Array(data[start..<end]))
                start = end
            }
            try expect(try await storage.stat("data/12/pack") == nil, "visible before its commit")
            try expect(try await storage.listAll(prefix: "data/").isEmpty, "listed before its commit")
            try await upload.commit()
            try expect(try await storage.get("data/12/pack") == data, "the committed bytes differ")
            try expect(try await storage.listAll(prefix: "data/").map(\.key) == ["data/12/pack"], "listing after the commit")
            do {
                let dropped = try await storage.openUpload("data/34/pack")
                try await dropped.write(data)
            }
            try expect(try await storage.stat("data/34/pack") == nil, "an upload dropped without a commit is visible")
            try expect(try await storage.listAll(prefix: "data/").count == 1, "an upload dropped without a commit is listed")
            _ = try await storage.removeAbandonedUploads(prefix: "data/")
            try expect(try await storage.get("data/12/pack") == data, "removing abandoned uploads touched a committed file")
            try await expectFailure(.invalid, "an upload outside the storage") { _ = try await storage.openUpload("../outside") }
        }),
        ("put-if-absent has one winner", { storage in
            try expect(try await storage.putIfAbsent("locks/x", [1]), "the first put-if-absent")
            try expect(try await storage.putIfAbsent("locks/x", [2]) == false, "a second put-if-absent won")
            try expect(try await storage.get("locks/x") == [1], "a losing put-if-absent changed the file")
            let winners = try await withThrowingTaskGroup(of: Bool.self) { group in
                for value in 0..<8 { group.addTask { try await storage.putIfAbsent("locks/race", [UInt8(value)]) } }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            try expect(winners == 1, "\(winners) writers won the race")
        }),
        ("listing is in key order, page by page", { storage in
            let keys = (0..<25).map { String(format: "data/%02x/%04d", $0 % 3, $0) }
            for key in keys.shuffled() { try await storage.put(key, [7, 7, 7]) }
            try await storage.put("snapshots/one", [1])
            let first = try await storage.list(prefix: "data/", after: nil, limit: 10)
            try expect(first.map(\.key) == Array(keys.sorted().prefix(10)), "first page \(first.map(\.key))")
            try expect(first.allSatisfy { $0.size == 3 }, "sizes in a listing")
            let second = try await storage.list(prefix: "data/", after: first.last!.key, limit: 10)
            try expect(second.map(\.key) == Array(keys.sorted()[10..<20]), "second page")
            try expect(try await storage.listAll(prefix: "data/", pageSize: 7).map(\.key) == keys.sorted(), "all pages")
            try expect(try await storage.listAll(prefix: "snapshots/").map(\.key) == ["snapshots/one"], "another prefix")
            try expect(try await storage.listAll(prefix: "data/01/").count == 8, "a deeper prefix")
        }),
        ("delete is idempotent", { storage in
            try await storage.put("index/1", [1])
            try await storage.delete("index/1")
            try await storage.delete("index/1")
            try expect(try await storage.stat("index/1") == nil, "a deleted file is there")
            try await expectFailure(.notFound, "get of a deleted file") { _ = try await storage.get("index/1") }
        }),
        ("keys that leave the storage are refused", { storage in
            for key in ["", "/abs", "a/../b", "a//b", "./a", "a/", "..", "a/\0b"] {
                try await expectFailure(.invalid, "put of '\(key)'") { try await storage.put(key, [1]) }
                try await expectFailure(.invalid, "put-if-absent of '\(key)'") { _ = try await storage.putIfAbsent(key, [1]) }
            }
        }),
        ("many requests at once", { storage in
            let width = max(2, min(storage.capabilities.concurrentRequests, 32))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<(width * 2) {
                    group.addTask {
                        let data = pattern(50_000 + index, index)
                        try await storage.put("data/\(index % 4)/\(index)", data)
                        try expect(try await storage.get("data/\(index % 4)/\(index)") == data, "file \(index) under load")
                    }
                }
                try await group.waitForAll()
            }
            try expect(try await storage.listAll(prefix: "data/").count == width * 2, "files written at once")
        }),
    ]
}
