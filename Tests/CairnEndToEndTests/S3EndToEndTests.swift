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
    func workspace(_ server: S3TestServer, prefix: String, sets: [String] = ["files"], secret: String? = nil) throws -> Workspace {
        var workspace = try Workspace()
        var sections = ""
        for set in sets {
            let source = workspace.directory.subpath("source-\(set)")
            var generator = TreeGenerator(root: source, seed: UInt64(set.utf8.count) * 7)
            _ = try generator.generate(files: 30, depth: 3)
            try Data((0..<300_000).map { _ in UInt8.random(in: 0...255) }).write(to: URL(fileURLWithPath: source + "/random.bin"))
            sections += "  \(set): {account: cloud, sources: [./source-\(set)]}\n"
        }
        try workspace.directory.write(
            "cairn.yaml",
            """
            version: 1
            accounts:
              cloud:
                destination: s3://\(server.bucket)/\(prefix)
                endpoint: \(server.endpoint.absoluteString)
                region: us-east-1
                path-style: true
                credentials: {access-key-id: {env: S3_ID}, secret-access-key: {env: S3_SECRET}}
            encryption: {default: {algorithm: aes-256-gcm, key: {env: CAIRN_KEY}}}
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
    }
}
