import CairnTesting
import Foundation
import Synchronization
import Testing

@testable import CairnCore

/// The contract of `StorageBackend` (CairnTesting's `StorageConformance`), run against every
/// backend and wrapper.
@Suite("Storage backend conformance")
struct StorageConformanceTests {
    /// Retries that do not wait, for faults injected by the hundred.
    static let quickRetries = RetryPolicy(attempts: 12, initialDelay: .milliseconds(1), maximumDelay: .milliseconds(1), deadline: .seconds(60), jitter: 1)

    /// Transient errors on every operation and short reads, each a fifth of the calls.
    static func flaky(seed: UInt64) -> FaultInjectingStorage.Plan {
        var plan = FaultInjectingStorage.Plan()
        plan.rules = [.init(Set(FaultInjectingStorage.Operation.allCases), probability: 0.2) { .transient($0, "injected: 503 Slow Down") }]
        plan.shortReads = 0.2
        plan.seed = seed
        return plan
    }

    @Test func memory() async {
        let failures = await StorageConformance.run { MemoryStorage() }
        #expect(failures.isEmpty, "\(failures)")
    }

    @Test func localFolder() async throws {
        let directory = try TemporaryDirectory()
        let failures = await StorageConformance.run { LocalFolderStorage(root: directory.subpath("repo-\(UUID().uuidString)")) }
        #expect(failures.isEmpty, "\(failures)")
    }

    @Test func localFolderBehindRetriesAndTransientFaults() async throws {
        let directory = try TemporaryDirectory()
        let injectors = Mutex<[FaultInjectingStorage]>([])
        let failures = await StorageConformance.run {
            let faulty = FaultInjectingStorage(LocalFolderStorage(root: directory.subpath("repo-\(UUID().uuidString)")), plan: Self.flaky(seed: UInt64(injectors.withLock { $0.count }) + 1))
            injectors.withLock { $0.append(faulty) }
            return RetryingStorage(faulty, policy: Self.quickRetries)
        }
        #expect(failures.isEmpty, "\(failures)")
        #expect(injectors.withLock { $0.reduce(0) { $0 + $1.injected } } > 20, "faults were injected")
    }

    @Test func aDryRunOverlay() async {
        let failures = await StorageConformance.run { ReadOnlyStorage(MemoryStorage(), mode: .dryRun) }
        #expect(failures.isEmpty, "\(failures)")
    }

    @Test func theSuiteFindsABrokenBackend() async {
        // A backend that loses uploads' last byte and lists in reverse: the suite must say so.
        let failures = await StorageConformance.run(only: ["an upload is stored when committed and not before", "listing is in key order, page by page"]) {
            var plan = FaultInjectingStorage.Plan()
            plan.shortReads = 1
            return BrokenListing(FaultInjectingStorage(MemoryStorage(), plan: plan))
        }
        #expect(Set(failures.map(\.check)) == ["listing is in key order, page by page"], "\(failures)")
        let reads = await StorageConformance.run(only: ["ranged reads return exactly the range"]) {
            var plan = FaultInjectingStorage.Plan()
            plan.shortReads = 1
            return FaultInjectingStorage(MemoryStorage(), plan: plan)
        }
        #expect(reads.count == 1, "short reads are found: \(reads)")
    }
}

/// Lists in reverse key order: not a storage.
struct BrokenListing: StorageBackend {
    let base: any StorageBackend
    init(_ base: any StorageBackend) { self.base = base }
    var location: String { base.location }
    var capabilities: StorageCapabilities { base.capabilities }
    func get(_ key: String) async throws -> [UInt8] { try await base.get(key) }
    func read(_ key: String, range: Range<Int>) async throws -> StorageBuffer { try await base.read(key, range: range) }
    func put(_ key: String, _ data: [UInt8]) async throws { try await base.put(key, data) }
    func putIfAbsent(_ key: String, _ data: [UInt8]) async throws -> Bool { try await base.putIfAbsent(key, data) }
    func stat(_ key: String) async throws -> StorageItem? { try await base.stat(key) }
    func list(prefix: String, after: String?, limit: Int) async throws -> [StorageItem] {
        Array(try await base.list(prefix: prefix, after: after, limit: limit).reversed())
    }
    func delete(_ key: String) async throws { try await base.delete(key) }
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
            let upload = try await storage.openUpload("data/aa/pack")
            try await upload.write([UInt8](repeating: 5, count: 3 << 20))
            #expect(try temporaries("data/aa").count == 1, "written to a temporary file as it comes")
        }
        #expect(try temporaries("data/aa").isEmpty, "and removed when given up")

        // What a killed run leaves: temporary files, which listing hides and prune removes.
        try await storage.put("data/aa/x", [1])
        try await storage.put("index/y", [2])
        for leftover in ["data/aa/.tmp-1", "data/aa/.tmp-2", "index/.tmp-3"] {
            try Data([9]).write(to: URL(fileURLWithPath: directory.subpath("repo/" + leftover)))
        }
        #expect(try await storage.removeAbandonedUploads(prefix: "data/") == 2)
        #expect(try temporaries("data/aa").isEmpty && temporaries("index") == [".tmp-3"])
        #expect(try await storage.get("data/aa/x") == [1])
        #expect(try await storage.removeAbandonedUploads(prefix: "index/") == 1)
        #expect(try await storage.get("index/y") == [2])
        #expect(try await storage.removeAbandonedUploads(prefix: "snapshots/") == 0, "a folder that does not exist has none")
    }

}

/// The S3 backend against a real S3 server on loopback (moto, signatures checked).
@Suite("S3 storage against moto")
struct S3StorageTests {
    static let server = Result { try S3TestServer() }

    /// As runs use it: behind the retry wrapper (moto's threaded server answers 500 now and
    /// then to requests on one key at once, as S3 answers 500 and 503).
    @Test func conforms() async throws {
        let server = try Self.server.get()
        // Not the race of conditional writes: moto's threaded server checks If-None-Match and
        // stores in two steps, so now and then two racing writers both get 200 (one CI run saw
        // it). That atomicity is the server's (S3's, MinIO's); what cairn checks of a server is
        // that it refuses a second conditional write (S3Storage.requireConditionalWrites).
        let failures = await StorageConformance.run(except: ["put-if-absent has one winner"]) {
            RetryingStorage(server.storage(), policy: StorageConformanceTests.quickRetries)
        }
        #expect(failures.isEmpty, "\(failures)")
    }

    @Test func aWrongSecretIsRefusedWithAClearMessageThatNamesNoSecret() async throws {
        let server = try Self.server.get()
        var wrong = server.credentials
        wrong.secretKey = "not-the-secret-key"
        let storage = server.storage(credentials: wrong)
        do {
            try await storage.put("keys/a", [1])
            Issue.record("a wrong secret stored a file")
        } catch let error as StorageError {
            #expect(error.category == .permission, "\(error)")
            #expect("\(error)".contains("SignatureDoesNotMatch"), "\(error)")
            #expect(!"\(error)".contains("not-the-secret-key"))
        }
        var unknown = server.credentials
        unknown.accessKey = "AKIAUNKNOWNKEY000000"
        await #expect(throws: StorageError.self) { _ = try await server.storage(credentials: unknown).list(prefix: "", after: nil, limit: 10) }
    }

    @Test func anIPEndpointIsAddressedByPathEvenWithoutPathStyle() async throws {
        let server = try Self.server.get()
        let storage = S3Storage(
            S3Storage.Settings(
                endpoint: server.endpoint, bucket: server.bucket, prefix: "virtual-\(UUID().uuidString)/", region: "us-east-1", pathStyle: false,
                credentials: server.credentials))
        try await storage.put("keys/a", [7])
        #expect(try await storage.get("keys/a") == [7])
        #expect(try await storage.putIfAbsent("keys/a", [8]) == false)
    }

    @Test func listedKeysAreDecodedAsS3EncodesThem() {
        // encoding-type=url is form encoding on AWS: a space as '+', a '+' as %2B.
        #expect(S3Storage.listedKey("data/a+b%2Bc%C3%A9", urlEncoded: true) == "data/a b+cé")
        #expect(S3Storage.listedKey("data/a%20b", urlEncoded: true) == "data/a b")
        #expect(S3Storage.listedKey("data/a+b", urlEncoded: false) == "data/a+b")
    }

    @Test func credentialsNeverPrintTheirSecret() throws {
        let credentials = SigV4Signer.Credentials(accessKey: "AKIDPRINTED", secretKey: "s3cr3t-value", sessionToken: "t0ken-value")
        for text in ["\(credentials)", String(reflecting: credentials), "\(S3Storage.Settings(endpoint: URL(string: "http://127.0.0.1:1")!, bucket: "b-1", prefix: "", region: "us-east-1", pathStyle: true, credentials: credentials))"] {
            #expect(text.contains("AKIDPRINTED") && !text.contains("s3cr3t") && !text.contains("t0ken"), "\(text)")
        }
    }

    @Test func listingsPageThroughMoreThanAThousandObjectsAndKeysOfAnyKind() async throws {
        let server = try Self.server.get()
        let plain = server.storage()
        let storage = RetryingStorage(plain, policy: StorageConformanceTests.quickRetries)
        let names = (0..<1203).map { String(format: "data/%02x/object-%04d", $0 % 7, $0) } + ["snapshots/a b+c=d&e<f>", "snapshots/\u{00e9}t\u{00e9}~x"]
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, name) in names.enumerated() {
                group.addTask { try await storage.put(name, [UInt8(index & 0xff)]) }
                if index % 16 == 15 { try await group.next() }
            }
            try await group.waitForAll()
        }
        let listed = try await storage.list(prefix: "", after: nil, limit: 5000).map(\.key)
        #expect(listed == names.sorted(), "\(Set(names).symmetricDifference(listed).prefix(5))")
        let afterSome = try await storage.list(prefix: "data/03/", after: "data/03/object-0500", limit: 5000).map(\.key)
        #expect(afterSome == names.filter { $0.hasPrefix("data/03/") && $0 > "data/03/object-0500" }.sorted())
        #expect(try await storage.get("snapshots/a b+c=d&e<f>") == [UInt8(1203 & 0xff)])

        // Removed a thousand per request (a missing key among them is no error).
        let traffic = StorageTraffic()
        let counted = RetryingStorage(S3Storage(plain.settings, traffic: traffic), policy: StorageConformanceTests.quickRetries)
        try await counted.delete(names + ["data/00/never-stored"])
        #expect(try await storage.list(prefix: "", after: nil, limit: 5000).isEmpty)
        #expect(traffic.summary.requests["DeleteObjects"] == 2 && traffic.summary.requests["DeleteObject"] == nil, "\(traffic.summary)")
    }

    @Test func aLargeUploadGoesInPartsAndWhatAKilledRunLeftIsAborted() async throws {
        let server = try Self.server.get()
        var settings = server.storage().settings
        settings.multipartThreshold = 6 << 20
        settings.partSize = 5 << 20
        let traffic = StorageTraffic()
        let storage = RetryingStorage(S3Storage(settings, traffic: traffic), policy: StorageConformanceTests.quickRetries)
        // 12 MiB and a bit, in writes of an odd size: parts of 5, 5 and 2 MiB.
        let bytes = (0..<(12 << 20) + 1234).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
        let upload = try await storage.openUpload("data/ab/large")
        for start in stride(from: 0, to: bytes.count, by: 999_983) { try await upload.write(Array(bytes[start..<min(start + 999_983, bytes.count)])) }
        #expect(try await storage.stat("data/ab/large") == nil, "nothing is visible before the commit")
        try await upload.commit()
        #expect(try await storage.get("data/ab/large") == bytes)
        #expect(try await storage.read("data/ab/large", range: (5 << 20) - 10..<(5 << 20) + 10).bytes == Array(bytes[(5 << 20) - 10..<(5 << 20) + 10]))
        let requests = traffic.summary.requests
        #expect(requests["CreateMultipartUpload"] == 1 && requests["UploadPart"] == 3 && requests["CompleteMultipartUpload"] == 1 && requests["PutObject"] == nil, "\(requests)")

        // A small upload is one PUT.
        let small = try await storage.openUpload("data/ab/small")
        try await small.write([1, 2, 3])
        try await small.commit()
        #expect(try await storage.get("data/ab/small") == [1, 2, 3] && traffic.summary.requests["PutObject"] == 1)

        // What a killed run left: a multipart upload with a part, never completed. Prune aborts it.
        let base = S3Storage(settings, traffic: traffic)
        let id = try await base.createMultipartUpload("data/cd/killed")
        _ = try await base.uploadPart("data/cd/killed", uploadID: id, number: 1, Array(bytes[0..<(5 << 20)]))
        #expect(try await storage.removeAbandonedUploads(prefix: "data/") == 1)
        #expect(try await storage.removeAbandonedUploads(prefix: "data/") == 0)
        #expect(try await storage.stat("data/cd/killed") == nil)
        #expect(try await storage.get("data/ab/large") == bytes, "completed uploads are not touched")
    }

    @Test func aCancelledJobCancelsItsRequestsInsteadOfWaitingForAnAnswer() async throws {
        // A server that takes connections (the kernel's backlog) and never answers.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try #require(withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) } } == 0)
        try #require(listen(listener, 16) == 0)
        try #require(withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } } == 0)
        let port = Int(UInt16(bigEndian: address.sin_port))
        let storage = S3Storage(
            S3Storage.Settings(
                endpoint: URL(string: "http://127.0.0.1:\(port)")!, bucket: "silent", prefix: "", region: "us-east-1", pathStyle: true,
                credentials: SigV4Signer.Credentials(accessKey: "AKIDSILENT", secretKey: "secret"), timeout: 600))
        let request = Task { try await storage.get("snapshots/never") }
        try await Task.sleep(for: .milliseconds(300))
        request.cancel()
        // Raced against a minute: without cancelling the request it would wait out the 600 s timeout.
        let outcome = await withTaskGroup(of: String.self) { group in
            group.addTask {
                do {
                    _ = try await request.value
                    return "answered"
                } catch is CancellationError {
                    return "cancelled"
                } catch {
                    return "\(error)"
                }
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(60))
                return "still waiting after a minute"
            }
            let first = await group.next()!
            group.cancelAll()
            return first
        }
        #expect(outcome == "cancelled")
    }

    @Test func aServerThatSaysItDeletedWithoutSayingWhatOrListsForeverIsNotBelieved() async throws {
        let hostile = try S3TestServer.hostile()
        let storage = S3Storage(
            S3Storage.Settings(
                endpoint: hostile.endpoint, bucket: "lies", prefix: "repo/", region: "us-east-1", pathStyle: true,
                credentials: SigV4Signer.Credentials(accessKey: "AKIDLIES", secretKey: "secret")))
        do {
            try await storage.delete(["index/a", "index/b"])
            Issue.record("a batch delete that removed nothing was taken for done")
        } catch let error as StorageError {
            #expect("\(error)".contains("without saying it removed"), "\(error)")
        }
        do {
            _ = try await storage.removeAbandonedUploads(prefix: "data/")
            Issue.record("a listing of uploads that never moves on ended")
        } catch let error as StorageError {
            #expect("\(error)".contains("not past it"), "\(error)")
        }
        do {
            _ = try await storage.list(prefix: "data/", after: nil, limit: 5000)
            Issue.record("a listing that never moves on ended")
        } catch let error as StorageError {
            #expect("\(error)".contains("does not move on"), "\(error)")
        }
    }

    /// A server that takes a second conditional write of an object (the lying server answers
    /// every PUT 200) would let two hosts create one repository or take one lock: the first
    /// conditional write finds it out and is refused, with a message that says why.
    @Test func aServerThatIgnoresConditionalWritesIsRefused() async throws {
        let hostile = try S3TestServer.hostile()
        let storage = S3Storage(
            S3Storage.Settings(
                endpoint: hostile.endpoint, bucket: "lies", prefix: "repo/", region: "us-east-1", pathStyle: true,
                credentials: SigV4Signer.Credentials(accessKey: "AKIDLIES", secretKey: "secret")))
        for _ in 0..<2 {
            do {
                _ = try await storage.putIfAbsent("cairn-repository", [1])
                Issue.record("a server that ignores If-None-Match was trusted")
            } catch let error as StorageError {
                #expect("\(error)".contains("ignores conditional writes (If-None-Match: *)"), "\(error)")
            }
        }
    }

    /// A reset in the middle of a large PUT on a reused keep-alive connection is noticed by
    /// URLSession only when the request times out (measured: the whole timeout, every time).
    /// Uploads of a megabyte or more go on connections of their own, which the server
    /// (Tests/Servers/hostile_s3.py) lets through: on a reused one it resets them, and these
    /// PUTs would fail after the timeout.
    @Test func largeUploadsGoOnConnectionsOfTheirOwn() async throws {
        let hostile = try S3TestServer.hostile()
        let storage = S3Storage(
            S3Storage.Settings(
                endpoint: hostile.endpoint, bucket: "lies", prefix: "repo/", region: "us-east-1", pathStyle: true,
                credentials: SigV4Signer.Credentials(accessKey: "AKIDLIES", secretKey: "secret"), timeout: 20))
        // A small PUT: its connection is kept alive, for the next requests.
        try await storage.put("keys/small", [UInt8](repeating: 1, count: 4096))
        for index in 0..<3 {
            try await storage.put("data/pack\(index)", [UInt8](repeating: UInt8(index), count: 2 << 20))
            try await storage.put("keys/small\(index)", [UInt8](repeating: 1, count: 4096))
        }
    }
}

/// The cairn server backend against a real `cairn server` on loopback (the built binary, TLS
/// with a test CA): the storage contract every backend meets, plain and behind transient faults.
@Suite("cairn server storage")
struct ServerStorageTests {
    static let server = Result { try CairnTestServer(accounts: [CairnTestServer.AccountSpec("alice", password: "conformance password")]) }

    func storage(_ server: CairnTestServer, repository: String = "repo-\(UUID().uuidString)", password: String = "conformance password") throws -> ServerStorage {
        guard case .success(let parsed) = ServerOptions.parse(server.destination("alice")) else { throw CairnTestServer.Failure(description: "no URL") }
        let options = ServerOptions(
            server: parsed.server, host: parsed.host, port: parsed.port, account: "alice", user: "alice", password: nil, caFile: server.caFile, proxy: nil,
            maxRequests: 8)
        return try ServerStorage(ServerStorage.Settings(options: options, repository: repository, password: password))
    }

    @Test func conforms() async throws {
        let server = try Self.server.get()
        let failures = await StorageConformance.run { RetryingStorage(try storage(server), policy: StorageConformanceTests.quickRetries) }
        #expect(failures.isEmpty, "\(failures)")
    }

    @Test func conformsBehindTransientFaults() async throws {
        let server = try Self.server.get()
        let failures = await StorageConformance.run {
            RetryingStorage(FaultInjectingStorage(try storage(server), plan: StorageConformanceTests.flaky(seed: 23)), policy: StorageConformanceTests.quickRetries)
        }
        #expect(failures.isEmpty, "\(failures)")
    }

    @Test func aWrongPasswordIsAPermissionErrorThatNamesNoPassword() async throws {
        let server = try Self.server.get()
        let wrong = try storage(server, password: "not the conformance password")
        do {
            _ = try await wrong.stat("config")
            Issue.record("a wrong password was accepted")
        } catch let error as StorageError {
            #expect(error.category == .permission && "\(error)".contains("wrong user or password") && !"\(error)".contains("not the conformance"), "\(error)")
        }
    }

    /// Packs are sent from buffers kept between uploads: one filled while another is sent,
    /// a large one, and one abandoned must each arrive as written, never with another's bytes.
    @Test func uploadsThatReuseBuffersArriveAsWritten() async throws {
        let server = try Self.server.get()
        let storage = try storage(server)
        func bytes(_ count: Int) throws -> [UInt8] { try SecureRandom.bytes(count) }
        let sizes = [5 << 20, 17 << 20 + 123, 1 << 20, 40 << 20, 3 << 20, 0]
        var written: [String: [UInt8]] = [:]
        var previous: (any StorageUpload)?
        for (index, size) in sizes.enumerated() {
            let key = "data/0\(index)/pack\(index)"
            let upload = try await storage.openUpload(key)
            let content = try bytes(size)
            // Written in uneven pieces while the one before it is sent.
            let sending = Task { [previous] in try await previous?.commit() }
            var offset = 0
            while offset < content.count {
                let piece = min(content.count - offset, 700_001)
                try await upload.write(Array(content[offset..<(offset + piece)]))
                offset += piece
            }
            try await sending.value
            previous = upload
            written[key] = content
            if index == 2 {
                // Abandoned half-written: nothing of it is stored, and its buffer is not reused dirty.
                let abandoned = try await storage.openUpload("data/ff/abandoned")
                try await abandoned.write(try bytes(2 << 20))
            }
        }
        try await previous?.commit()
        for (key, content) in written {
            #expect(try await storage.get(key) == content, "\(key)")
        }
        #expect(try await storage.stat("data/ff/abandoned") == nil)
    }

    @Test func repositoryNamesWithSlashesAndOddKeysRoundTrip() async throws {
        let server = try Self.server.get()
        let storage = try storage(server, repository: "laptop/home é")
        try await storage.put("data/ab/a b+c%25é", [1, 2, 3])
        #expect(try await storage.get("data/ab/a b+c%25é") == [1, 2, 3])
        #expect(try await storage.list(prefix: "data/", after: nil, limit: 10).map(\.key) == ["data/ab/a b+c%25é"])
        #expect(FileManager.default.fileExists(atPath: server.storage + "/alice/laptop/home é/data/ab/a b+c%25é"))
    }

    /// The key check refuses exactly what a check over the key's bytes split at each slash
    /// refuses: every key of up to five pieces from letters, dots, slashes, NUL, a two-byte
    /// letter and combining marks. A check over `String.split` let `../\u{301}x` through: the
    /// slash and the accent after it are one Character, so that key had no `..` component.
    @Test func keyCheckMatchesTheCheckOverComponents() {
        func reference(_ key: String) -> Bool {
            let parts = Array(key.utf8).split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
            return !key.isEmpty && !parts.contains { $0.isEmpty || $0.elementsEqual([0x2E]) || $0.elementsEqual([0x2E, 0x2E]) } && !key.utf8.contains(0)
        }
        let pieces = ["a", ".", "/", "\0", "é", "b.", "\u{301}", "\u{600}"]
        var keys: [String] = [""]
        for _ in 1...5 { keys = keys + keys.flatMap { key in pieces.map { key + $0 } } }
        var refused = 0
        for key in Set(keys) {
            #expect(StorageKey.isValid(key) == reference(key), "\(key.debugDescription)")
            if !reference(key) { refused += 1 }
        }
        #expect(refused > 1000 && refused < Set(keys).count - 1000)
        for key in ["../\u{301}x", "/\u{301}", "a//\u{301}", "a/..", "data/../../x", "a/\u{600}/.."] {
            #expect(!StorageKey.isValid(key), "\(key.debugDescription)")
        }
        #expect(StorageKey.isValid("data/ab/a b+c%25é\u{301}"))
    }
}
