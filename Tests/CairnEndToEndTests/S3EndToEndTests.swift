import CairnCore
import CairnTesting
import Foundation
import Synchronization
import Testing

/// Backups to an S3 bucket through the built binary, against moto on loopback with signature
/// checking on: credentials by reference, restore and verify, two hosts' sets in one bucket at
/// once, a wrong secret.
@Suite("S3 destinations end to end")
struct S3EndToEndTests {
    static let server = Result { try S3TestServer() }

    /// A workspace whose account is the test bucket under `prefix`, credentials from S3_ID and S3_SECRET.
    func workspace(
        _ server: S3TestServer, prefix: String, sets: [String] = ["files"], secret: String? = nil, setExtra: String = "", extra: String = "", endpoint: URL? = nil
    ) throws -> Workspace {
        var workspace = try Workspace()
        var sections = ""
        for set in sets {
            let source = workspace.directory.subpath("source-\(set)")
            var generator = TreeGenerator(root: source, seed: UInt64(set.utf8.count) * 7)
            _ = try generator.generate(files: 30, depth: 3)
            try Data((0..<300_000).map { _ in UInt8.random(in: 0...255) }).write(to: URL(fileURLWithPath: source + "/random.bin"))
            sections += "  \(set): {account: cloud, sources: [./source-\(set)]\(setExtra)}\n"
        }
        try workspace.directory.write(
            "cairn.yaml",
            """
            version: 1
            accounts:
              cloud:
                destination: s3://\(server.bucket)/\(prefix)
                endpoint: \((endpoint ?? server.endpoint).absoluteString)
                region: us-east-1
                path-style: true
                credentials: {access-key-id: {env: S3_ID}, secret-access-key: {env: S3_SECRET}}
            encryption: {default: {algorithm: aes-256-gcm, key: {env: CAIRN_KEY}}}
            \(extra)
            backup-sets:
            \(sections)
            """)
        workspace.environment["S3_ID"] = server.credentials.accessKey
        workspace.environment["S3_SECRET"] = secret ?? server.credentials.secretKey
        return workspace
    }

    @Test func aBackupRestoresVerifiesAndTheNextStoresOnlyChanges() throws {
        let server = try Self.server.get()
        let workspace = try workspace(server, prefix: "one-\(UUID().uuidString)")
        let source = workspace.directory.subpath("source-files")
        let backup = try workspace.run(["backup", "files"])
        #expect(backup.status == 0, "\(backup.all)")
        let target = workspace.directory.subpath("restored")
        let restore = try workspace.run(["restore", "files", "--to", target])
        #expect(restore.status == 0, "\(restore.all)")
        #expect(TreeComparison.differences(source, target + source) == [])
        let verify = try workspace.run(["verify", "files", "--read-data"])
        #expect(verify.status == 0, "\(verify.all)")
        try Data("changed".utf8).write(to: URL(fileURLWithPath: source + "/changed.txt"))
        let again = try workspace.run(["backup", "files"])
        #expect(again.status == 0 && again.standardOutput.contains("read 1 files"), "\(again.all)")
        let snapshots = try workspace.run(["snapshots", "files", "--json"])
        #expect(((try? JSONSerialization.jsonObject(with: Data(snapshots.standardOutput.utf8))) as? [Any])?.count == 2, "\(snapshots.all)")
        let latest = workspace.directory.subpath("latest")
        #expect(try workspace.run(["restore", "files", "--to", latest]).status == 0)
        #expect(TreeComparison.differences(source, latest + source) == [])
    }

    @Test func planApplyPruneAndKeyChangeWorkOnABucket() throws {
        let server = try Self.server.get()
        var workspace = try workspace(
            server, prefix: "ops-\(UUID().uuidString)", setExtra: ", retention: last", extra: "retention: {last: {keep-jobs: 1}}")
        let source = workspace.directory.subpath("source-files")
        let plan = try workspace.run(["plan", "files"])
        #expect(plan.status == 0 && plan.standardOutput.contains("Plan: "), "\(plan.all)")
        let apply = try workspace.run(["apply", "files", "--yes"])
        #expect(apply.status == 0, "\(apply.all)")
        try Data("second".utf8).write(to: URL(fileURLWithPath: source + "/second.txt"))
        let second = try workspace.run(["backup", "files"])
        #expect(second.status == 0, "\(second.all)")
        // keep-jobs: 1 expired the first job after the second; prune finds nothing more.
        let prune = try workspace.run(["prune", "files"])
        #expect(prune.status == 0, "\(prune.all)")
        let snapshots = try workspace.run(["snapshots", "files", "--json"])
        #expect(((try? JSONSerialization.jsonObject(with: Data(snapshots.standardOutput.utf8))) as? [Any])?.count == 1, "\(snapshots.all)")
        #expect(try workspace.run(["verify", "files", "--read-data"]).status == 0)
        // A key change rewrites only the key files: the new key opens, the old one no longer.
        workspace.environment["NEW"] = "a new passphrase for the bucket"
        let change = try workspace.run(["key", "change", "files", "--new-key-env", "NEW"])
        #expect(change.status == 0, "\(change.all)")
        #expect(try workspace.run(["snapshots", "files"]).status == 1, "the old key no longer opens the repository")
        workspace.environment["CAIRN_KEY"] = "a new passphrase for the bucket"
        let target = workspace.directory.subpath("restored")
        let restore = try workspace.run(["restore", "files", "--to", target])
        #expect(restore.status == 0, "\(restore.all)")
        #expect(TreeComparison.differences(source, target + source) == [])
    }

    @Test func aSeedIsImportedIntoABucketAndTheNextBackupUploadsOnlyChanges() throws {
        let server = try Self.server.get()
        let workspace = try workspace(server, prefix: "seeded-\(UUID().uuidString)")
        let source = workspace.directory.subpath("source-files")
        let seed = workspace.directory.subpath("disk/seed")
        try FileManager.default.createDirectory(atPath: workspace.directory.subpath("disk"), withIntermediateDirectories: true)
        let load = try workspace.run(["seed-load", "files", "--to", seed])
        #expect(load.status == 0, "\(load.all)")
        let imported = try workspace.run(["seed-import", seed])
        #expect(imported.status == 0, "\(imported.all)")
        // Run again: nothing twice.
        #expect(try workspace.run(["seed-import", seed]).status == 0)
        try Data("after the seed".utf8).write(to: URL(fileURLWithPath: source + "/later.txt"))
        let backup = try workspace.run(["backup", "files"])
        #expect(backup.status == 0 && backup.standardOutput.contains("read 1 files"), "\(backup.all)")
        let target = workspace.directory.subpath("restored")
        #expect(try workspace.run(["restore", "files", "--to", target]).status == 0)
        #expect(TreeComparison.differences(source, target + source) == [])
    }

    /// Through a proxy that answers 503, closes connections and drops answers: the retries
    /// keep every job whole, and the repository reads back complete without the proxy.
    @Test func retriesThroughA503AndDroppedConnectionsKeepTheRepositoryConsistent() throws {
        let server = try Self.server.get()
        let proxy = try server.flakyProxy()
        let prefix = "flaky-\(UUID().uuidString)"
        let flaky = try workspace(server, prefix: prefix, setExtra: ", retention: last", extra: "retention: {last: {keep-jobs: 1}}", endpoint: proxy.endpoint)
        let source = flaky.directory.subpath("source-files")
        for round in 0..<3 {
            try Data("round \(round)".utf8).write(to: URL(fileURLWithPath: source + "/round.txt"))
            let backup = try flaky.run(["backup", "files"])
            #expect(backup.status == 0, "round \(round): \(backup.all)")
        }
        let throughProxy = flaky.directory.subpath("restored-through-proxy")
        let restore = try flaky.run(["restore", "files", "--to", throughProxy])
        #expect(restore.status == 0, "\(restore.all)")
        #expect(TreeComparison.differences(source, throughProxy + source) == [])
        // The same repository, straight from the server: whole, and only the kept job.
        var direct = flaky
        try direct.directory.write("cairn.yaml", try String(contentsOfFile: flaky.directory.subpath("cairn.yaml"), encoding: .utf8)
            .replacingOccurrences(of: proxy.endpoint.absoluteString, with: server.endpoint.absoluteString))
        direct.environment["S3_ID"] = server.credentials.accessKey
        let verify = try direct.run(["verify", "files", "--read-data"])
        #expect(verify.status == 0, "\(verify.all)")
        let snapshots = try direct.run(["snapshots", "files", "--json"])
        #expect(((try? JSONSerialization.jsonObject(with: Data(snapshots.standardOutput.utf8))) as? [Any])?.count == 1, "\(snapshots.all)")
    }

    @Test func twoHostsBackUpTheirSetsIntoOneBucketAtOnce() throws {
        let server = try Self.server.get()
        let prefix = "shared-\(UUID().uuidString)"
        let first = try workspace(server, prefix: prefix, sets: ["laptop"])
        let second = try workspace(server, prefix: prefix, sets: ["desktop"])
        let results = Mutex<[String: CairnProcess.Output]>([:])
        DispatchQueue.concurrentPerform(iterations: 2) { index in
            let (workspace, set) = index == 0 ? (first, "laptop") : (second, "desktop")
            let output = try? workspace.run(["backup", set])
            results.withLock { $0[set] = output }
        }
        for (workspace, set) in [(first, "laptop"), (second, "desktop")] {
            let output = results.withLock { $0[set] }
            #expect(output?.status == 0, "\(output?.all ?? "did not run")")
            let target = workspace.directory.subpath("restored")
            let restore = try workspace.run(["restore", set, "--to", target])
            #expect(restore.status == 0, "\(restore.all)")
            let source = workspace.directory.subpath("source-\(set)")
            #expect(TreeComparison.differences(source, target + source) == [])
        }
    }

    @Test func aWrongSecretFailsClearlyAndNeverShowsTheSecret() throws {
        let server = try Self.server.get()
        let workspace = try workspace(server, prefix: "wrong-\(UUID().uuidString)", secret: "certainly-not-the-secret")
        let backup = try workspace.run(["backup", "files"])
        #expect(backup.status == 1, "\(backup.all)")
        #expect(backup.all.contains("SignatureDoesNotMatch"), "\(backup.all)")
        #expect(!backup.all.contains("certainly-not-the-secret"))
        #expect(!backup.all.contains(server.credentials.secretKey))
        // The normalised config shows the references, never the values.
        let shown = try workspace.run(["validate", "--show"])
        #expect(shown.status == 0 && shown.standardOutput.contains("env: S3_SECRET") && shown.standardOutput.contains("path-style: true"), "\(shown.all)")
        #expect(!shown.all.contains("certainly-not-the-secret"))
        // A reference that cannot be read says which and where.
        var unset = workspace
        unset.environment["S3_ID"] = nil
        let missing = try unset.run(["backup", "files"])
        #expect(missing.status == 1 && missing.standardError.contains("environment variable S3_ID is not set") && missing.standardError.contains("cairn.yaml:"), "\(missing.all)")
    }

    /// The requests a job's report counts: `storage: N requests (GetObject 1, ...)`.
    static func requests(_ output: String) -> (total: Int, kinds: [String: Int])? {
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("storage: ") }),
            let total = line.dropFirst("storage: ".count).split(separator: " ").first.flatMap({ Int($0) }),
            let open = line.firstIndex(of: "("), let close = line.firstIndex(of: ")")
        else { return nil }
        var kinds: [String: Int] = [:]
        for part in line[line.index(after: open)..<close].split(separator: ",") {
            let words = part.split(separator: " ")
            if words.count == 2, let count = Int(words[1]) { kinds[String(words[0])] = count }
        }
        return (total, kinds)
    }

    @Test func aBackupWithNothingChangedMakesTheSameFewRequestsHoweverManySnapshots() throws {
        let server = try Self.server.get()
        let workspace = try workspace(server, prefix: "requests-\(UUID().uuidString)")
        let source = workspace.directory.subpath("source-files")
        let first = try workspace.run(["backup", "files"])
        #expect(first.status == 0, "\(first.all)")
        let firstCount = Self.requests(first.standardOutput)
        #expect((firstCount?.kinds["PutObject"] ?? 0) >= 3, "\(first.all)")
        // A first backup looks for the repository once (the other HEAD confirms the lease
        // before the commit), and checks that the server honours conditional writes with the
        // descriptor's own write: no object of its own, so one delete, the lease's release.
        #expect(firstCount?.kinds["HeadObject"] == 2, "\(first.all)")
        #expect(firstCount?.kinds["DeleteObject"] == 1, "\(first.all)")
        var counts: [[String: Int]] = []
        for _ in 0..<4 {
            let run = try workspace.run(["backup", "files"])
            #expect(run.status == 0, "\(run.all)")
            counts.append(Self.requests(run.standardOutput)?.kinds ?? [:])
        }
        // One to five snapshots, their trees and index files: the same requests each time, and
        // no object read but the descriptor (the rest is in the cache on this machine).
        #expect(Set(counts).count == 1, "\(counts)")
        #expect(counts[0]["GetObject"] == 1 && counts[0]["PutObject"] == 2, "\(counts)")
        #expect(counts[0].values.reduce(0, +) <= 16, "\(counts)")

        // A cache damaged (or planted) on this machine is never believed: each entry is checked
        // like the stored file, and read again from the bucket.
        let cache = workspace.directory.subpath("cache/cairn")
        var damaged = 0
        for path in try FileManager.default.subpathsOfDirectory(atPath: cache) where path.contains("/files/") {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: cache + "/" + path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            var bytes = try Data(contentsOf: URL(fileURLWithPath: cache + "/" + path))
            bytes[bytes.count / 2] ^= 0x40
            try bytes.write(to: URL(fileURLWithPath: cache + "/" + path))
            damaged += 1
        }
        #expect(damaged >= 4, "snapshots, an index file, a key file and trees are cached")
        // Private to the user: key files are the master key under the passphrase.
        for path in try FileManager.default.subpathsOfDirectory(atPath: cache) where path.contains("/files") {
            let mode = (try FileManager.default.attributesOfItem(atPath: cache + "/" + path)[.posixPermissions] as? NSNumber)?.intValue ?? 0
            #expect(mode & 0o077 == 0, "\(path) has mode \(String(mode, radix: 8))")
        }
        try Data("changed".utf8).write(to: URL(fileURLWithPath: source + "/changed.txt"))
        let again = try workspace.run(["backup", "files"])
        #expect(again.status == 0 && again.standardOutput.contains("read 1 files") && !again.all.contains("damaged"), "\(again.all)")
        #expect((Self.requests(again.standardOutput)?.kinds["GetObject"] ?? 0) > 1, "\(again.all)")
        let target = workspace.directory.subpath("restored")
        let restore = try workspace.run(["restore", "files", "--to", target])
        #expect(restore.status == 0 && !restore.all.contains("damaged"), "\(restore.all)")
        #expect(TreeComparison.differences(source, target + source) == [])
        // verify reads every file from the bucket, not the cache.
        try FileManager.default.removeItem(atPath: cache)
        let verify = try workspace.run(["verify", "files"])
        #expect(verify.status == 0, "\(verify.all)")
        #expect(!FileManager.default.fileExists(atPath: cache + "/"), "verify filled the cache")
    }

    /// A restore from a bucket reads each pack about once, as restic does, however the files
    /// that share a pack are spread over folders and versions: the small files of 40 folders
    /// and a large file, then a version with files changed in every folder.
    @Test func aRestoreReadsEachPackOfTheBucketAboutOnce() async throws {
        let server = try Self.server.get()
        let prefix = "packs-\(UUID().uuidString)"
        let workspace = try workspace(server, prefix: prefix)
        let source = workspace.directory.subpath("source-files")
        var random = SeededGenerator(state: 21)
        func write(_ path: String, _ count: Int) throws {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data(random.bytes(count)).write(to: URL(fileURLWithPath: path))
        }
        for folder in 0..<40 {
            for file in 0..<15 { try write("\(source)/folder\(folder)/sub/file\(file).txt", 2000 + file * 900) }
        }
        try write("\(source)/large.bin", 40 << 20)
        #expect(try workspace.run(["backup", "files"]).status == 0)
        for folder in 0..<40 { try write("\(source)/folder\(folder)/sub/file\(folder % 15).txt", 5000) }
        try write("\(source)/folder7/more.bin", 3 << 20)
        let second = try workspace.run(["backup", "files"])
        #expect(second.status == 0, "\(second.all)")
        let packs = try await server.storage(prefix: "\(prefix)/files/").listAll(prefix: "data/").count
        #expect(packs >= 3)

        let target = workspace.directory.subpath("restored")
        let restore = try workspace.run(["restore", "files", "--to", target])
        #expect(restore.status == 0, "\(restore.all)")
        #expect(TreeComparison.differences(source, target + source) == [])
        // The repository's descriptor and each pack's runs: at most one more than the packs.
        let gets = Self.requests(restore.standardOutput)?.kinds["GetObject"] ?? 0
        #expect(gets >= packs && gets <= packs + 2, "\(gets) GETs for \(packs) packs: \(restore.all)")
        // Again into the same folder: every file is found identical, and no pack is read.
        let again = try workspace.run(["restore", "files", "--to", target])
        #expect(again.status == 0 && again.standardOutput.contains("wrote 0 (0 B), identical "), "\(again.all)")
        let getsAgain = Self.requests(again.standardOutput)?.kinds["GetObject"] ?? 0
        #expect(getsAgain <= 1, "\(getsAgain) GETs to find every file identical: \(again.all)")
        // Nothing is left in the cache folder but the cache (the scratch file has no name).
        let cache = workspace.directory.subpath("cache/cairn")
        for path in try FileManager.default.subpathsOfDirectory(atPath: cache) {
            #expect(!path.contains("scratch"), "\(path)")
        }
    }

    @Test func runsKilledAtEachPointAgainstABucketLeaveAValidRepositoryAndFlippedBytesAreFound() async throws {
        let server = try Self.server.get()
        let prefix = "killed-\(UUID().uuidString)"
        var workspace = try workspace(server, prefix: prefix, setExtra: ", retention: last", extra: "retention: {last: {keep-jobs: 1}}")
        let source = workspace.directory.subpath("source-files")
        var generator = SystemRandomNumberGenerator()
        for number in 0..<3 {
            let words = (0..<(6 << 20) / 8).map { _ in generator.next() as UInt64 }
            try words.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: source + "/part\(number).bin")) }
        }
        // Killed while packs go up, after the index, just before the snapshot.
        for point in ["pack-written:1", "index-written:1", "before-snapshot:1"] {
            workspace.environment["CAIRN_FAULT_INJECTION"] = point
            let killed = try workspace.run(["backup", "files", "-q"])
            #expect(killed.status != 0 && killed.status != 1, "\(point): the process was killed: \(killed.all)")
            workspace.environment["CAIRN_FAULT_INJECTION"] = nil
            let verify = try workspace.run(["verify", "files", "--read-data"])
            #expect(verify.status == 0, "\(point): \(verify.all)")
        }
        let complete = try workspace.run(["backup", "files"])
        #expect(complete.status == 0 && complete.standardOutput.contains("saved"), "\(complete.all)")
        // A prune killed between deleting packs: kept data stays whole.
        try Data((0..<3_000_000).map { _ in UInt8.random(in: 0...255) }).write(to: URL(fileURLWithPath: source + "/part0.bin"))
        #expect(try workspace.run(["backup", "files", "-q"]).status == 0)
        // Everything the last snapshot used is replaced: its packs are all dead once it expires.
        for number in 0..<3 {
            try Data((0..<3_000_000).map { _ in UInt8.random(in: 0...255) }).write(to: URL(fileURLWithPath: source + "/part\(number).bin"))
        }
        workspace.environment["CAIRN_FAULT_INJECTION"] = "prune-pack-deleted:1"
        let killedPrune = try workspace.run(["backup", "files", "-q"])
        #expect(killedPrune.status != 0 && killedPrune.status != 1, "\(killedPrune.all)")
        workspace.environment["CAIRN_FAULT_INJECTION"] = nil
        #expect(try workspace.run(["verify", "files", "--read-data"]).status == 0)
        let target = workspace.directory.subpath("restored")
        let restore = try workspace.run(["restore", "files", "--to", target])
        #expect(restore.status == 0, "\(restore.all)")
        #expect(TreeComparison.differences(source, target + source) == [])

        // A byte flipped in a pack in the bucket: verify names the pack, a restore fails clearly
        // rather than write wrong bytes.
        let storage = server.storage(prefix: prefix + "/files/")
        let packs = try await storage.listAll(prefix: "data/")
        let pack = try #require(packs.max { $0.size < $1.size })
        var bytes = try await storage.get(pack.key)
        bytes[bytes.count / 3] ^= 0x01
        try await storage.put(pack.key, bytes)
        let verify = try workspace.run(["verify", "files", "--read-data"])
        #expect(verify.status != 0 && verify.all.contains(String(pack.key.split(separator: "/").last!.prefix(8))), "\(verify.all)")
        let damaged = workspace.directory.subpath("damaged")
        let failed = try workspace.run(["restore", "files", "--to", damaged])
        #expect(failed.status != 0 && failed.all.contains("damaged"), "\(failed.all)")
    }
}
