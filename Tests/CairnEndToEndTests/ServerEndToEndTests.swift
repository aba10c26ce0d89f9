import CairnCore
import CairnTesting
import Foundation
import Testing

/// cairn server end to end on loopback, with a test CA made in the test: backups, restores,
/// verify and prune through it; wrong passwords and other accounts refused; quotas refused
/// before an upload is stored and raised with SIGHUP; restores from an address outside
/// restore-from refused (127.0.0.2, through a CONNECT proxy, is another client); append-only
/// deletes refused; uploads that arrive damaged never stored.
@Suite("cairn server end to end")
struct ServerEndToEndTests {
    /// A client workspace whose account `office` is `account` on `server`, with a source tree.
    func workspace(
        _ server: CairnTestServer, account: String = "alice", password: String = "alice's long password", user: String? = nil, proxy: String? = nil,
        files: Int = 30, extra: String = "", setExtra: String = ""
    ) throws -> Workspace {
        var workspace = try Workspace()
        var generator = TreeGenerator(root: workspace.source, seed: 23)
        _ = try generator.generate(files: files, depth: 3)
        try Data((0..<400_000).map { _ in UInt8.random(in: 0...255) }).write(to: URL(fileURLWithPath: workspace.source + "/random.bin"))
        try workspace.directory.write(
            "cairn.yaml",
            """
            version: 1
            accounts:
              office:
                destination: \(server.destination(account))
                password: {env: SERVER_PASSWORD}
                ca-file: \(server.caFile)
            \(user.map { "    user: \($0)" } ?? "")
            \(proxy.map { "    proxy: \($0)" } ?? "")
            encryption: {default: {algorithm: aes-256-gcm, key: {env: CAIRN_KEY}}}
            \(extra)
            backup-sets:
              files: {account: office, sources: [./source]\(setExtra)}
            """)
        workspace.environment["SERVER_PASSWORD"] = password
        return workspace
    }

    static let alice = CairnTestServer.AccountSpec("alice", password: "alice's long password")
    static let bob = CairnTestServer.AccountSpec("bob", password: "bob's long password")

    @Test func backupRestoreVerifyPruneAndSeedImportWorkThroughTheServer() throws {
        let server = try CairnTestServer(accounts: [Self.alice])
        let workspace = try workspace(server, extra: "retention: {last: {keep-jobs: 1}}", setExtra: ", retention: last")
        let backup = try workspace.run(["backup", "files"])
        #expect(backup.status == 0, "\(backup.all)")
        try Data("changed".utf8).write(to: URL(fileURLWithPath: workspace.source + "/changed.txt"))
        let again = try workspace.run(["backup", "files"])
        #expect(again.status == 0 && again.standardOutput.contains("read 1 files"), "\(again.all)")
        let target = workspace.directory.subpath("restored")
        let restore = try workspace.run(["restore", "files", "--to", target])
        #expect(restore.status == 0, "\(restore.all)")
        #expect(TreeComparison.differences(workspace.source, workspace.restored(under: target)) == [])
        let verify = try workspace.run(["verify", "files", "--read-data"])
        #expect(verify.status == 0 && verify.standardOutput.contains("no problems"), "\(verify.all)")
        let prune = try workspace.run(["prune", "files"])
        #expect(prune.status == 0, "\(prune.all)")
        let snapshots = try workspace.run(["snapshots", "files", "--json"])
        #expect(((try? JSONSerialization.jsonObject(with: Data(snapshots.standardOutput.utf8))) as? [Any])?.count == 1, "\(snapshots.all)")
        #expect(try workspace.run(["verify", "files", "--read-data"]).status == 0)
        // The objects are in the server's storage, under the account and the set's repository.
        #expect(FileManager.default.fileExists(atPath: server.storage + "/alice/files/" + RepositoryDescriptor.fileName))

        // A seed loaded to a disk and imported into a second repository through the server.
        let seeded = try self.workspace(server, setExtra: ", repository: seeded")
        let seed = seeded.directory.subpath("disk/seed")
        try FileManager.default.createDirectory(atPath: seeded.directory.subpath("disk"), withIntermediateDirectories: true)
        let load = try seeded.run(["seed-load", "files", "--to", seed])
        #expect(load.status == 0, "\(load.all)")
        let imported = try seeded.run(["seed-import", seed])
        #expect(imported.status == 0, "\(imported.all)")
        try Data("after the seed".utf8).write(to: URL(fileURLWithPath: seeded.source + "/later.txt"))
        let afterSeed = try seeded.run(["backup", "files"])
        #expect(afterSeed.status == 0 && afterSeed.standardOutput.contains("read 1 files"), "\(afterSeed.all)")
        let seededTarget = seeded.directory.subpath("restored")
        #expect(try seeded.run(["restore", "files", "--to", seededTarget]).status == 0)
        #expect(TreeComparison.differences(seeded.source, seeded.restored(under: seededTarget)) == [])
    }

    /// Every other command of the client against a server account: plan and apply, ls, diff,
    /// find, stats, dump, export, tag, forget, keys, repair, log.
    @Test func everyClientCommandWorksAgainstTheServer() throws {
        let server = try CairnTestServer(accounts: [Self.alice])
        var workspace = try workspace(server)
        let plan = try workspace.run(["plan", "files"])
        #expect(plan.status == 0 && plan.standardOutput.contains("new repository at \(server.destination("alice"))/files"), "\(plan.all)")
        let apply = try workspace.run(["apply", "files", "--yes"])
        #expect(apply.status == 0, "\(apply.all)")
        try Data("second version".utf8).write(to: URL(fileURLWithPath: workspace.source + "/note.txt"))
        #expect(try workspace.run(["backup", "files"]).status == 0)
        let ls = try workspace.run(["ls", "files", workspace.source])
        #expect(ls.status == 0 && ls.standardOutput.contains("note.txt") && ls.standardOutput.contains("random.bin"), "\(ls.all)")
        let diff = try workspace.run(["diff", "files"])
        #expect(diff.status == 0 && diff.standardOutput.contains("+ \(workspace.source)/note.txt"), "\(diff.all)")
        let find = try workspace.run(["find", "files", "note.txt"])
        #expect(find.status == 0 && find.standardOutput.contains("note.txt"), "\(find.all)")
        let stats = try workspace.run(["stats", "files"])
        #expect(stats.status == 0, "\(stats.all)")
        let dump = try workspace.run(["dump", "files", workspace.source + "/note.txt"])
        #expect(dump.status == 0 && dump.standardOutput == "second version", "\(dump.all)")
        let archive = workspace.directory.subpath("files.tar")
        let export = try workspace.run(["export", "files", "--to", archive])
        #expect(export.status == 0 && FileManager.default.fileExists(atPath: archive), "\(export.all)")
        let snapshots = try workspace.run(["snapshots", "files", "--json"])
        let ids = ((try? JSONSerialization.jsonObject(with: Data(snapshots.standardOutput.utf8))) as? [[String: Any]])?.compactMap { $0["id"] as? String } ?? []
        #expect(ids.count == 2, "\(snapshots.all)")
        let tag = try workspace.run(["tag", "files", String(ids[1].prefix(8)), "--add", "keep"])
        #expect(tag.status == 0, "\(tag.all)")
        let forget = try workspace.run(["forget", "files", String(ids[0].prefix(8))])
        #expect(forget.status == 0, "\(forget.all)")
        workspace.environment["NEW_KEY"] = "a second key for the server"
        let add = try workspace.run(["key", "add", "files", "--new-key-env", "NEW_KEY"])
        #expect(add.status == 0, "\(add.all)")
        let keys = try workspace.run(["key", "list", "files"])
        #expect(keys.status == 0 && keys.standardOutput.split(separator: "\n").count >= 3, "\(keys.all)")
        let repair = try workspace.run(["repair", "files"])
        #expect(repair.status == 0, "\(repair.all)")
        let log = try workspace.run(["log", "files"])
        #expect(log.status == 0 && log.standardOutput.contains("complete"), "\(log.all)")
        let verify = try workspace.run(["verify", "files", "--read-data"])
        #expect(verify.status == 0, "\(verify.all)")
        workspace.environment["CAIRN_KEY"] = "a second key for the server"
        let target = workspace.directory.subpath("restored")
        let restore = try workspace.run(["restore", "files", "--to", target])
        #expect(restore.status == 0, "\(restore.all)")
        #expect(TreeComparison.differences(workspace.source, workspace.restored(under: target)) == [])
    }

    @Test func aWrongPasswordAndAnotherAccountAreRefusedAndNothingLeaks() throws {
        let server = try CairnTestServer(accounts: [Self.alice, Self.bob])
        let owner = try workspace(server, account: "bob", password: "bob's long password")
        #expect(try owner.run(["backup", "files"]).status == 0)

        let wrong = try workspace(server, password: "not the password")
        let refused = try wrong.run(["backup", "files"])
        #expect(refused.status == 1)
        #expect(refused.standardError.contains("wrong user or password") && refused.standardError.contains("account 'alice'"), "\(refused.all)")
        #expect(!refused.all.contains("not the password"))

        // Alice's right password on Bob's repositories: refused, and Bob's data untouched.
        let intruder = try workspace(server, account: "bob", password: "alice's long password", user: "alice")
        for command in [["snapshots", "files"], ["backup", "files"], ["restore", "files", "--to", intruder.directory.subpath("out")]] {
            let attempt = try intruder.run(command)
            #expect(attempt.status == 1, "\(command): \(attempt.all)")
            #expect(attempt.standardError.contains("cannot reach the repositories of another account"), "\(command): \(attempt.all)")
        }
        #expect(server.log.contains("account 'alice' tried to reach account 'bob'"))
        // Raw requests that try to climb out of the account: never reach Bob's files.
        let credentials = "alice:alice's long password"
        for path in [
            "/api/v1/accounts/alice/repositories/..%2Fbob%2Ffiles/objects/\(RepositoryDescriptor.fileName)",
            "/api/v1/accounts/alice/repositories/files/objects/..%2F..%2Fbob%2Ffiles%2F\(RepositoryDescriptor.fileName)",
            "/api/v1/accounts/alice/repositories/files/objects/../../bob/files/\(RepositoryDescriptor.fileName)",
            "/api/v1/accounts/alice/../bob/repositories/files/objects/\(RepositoryDescriptor.fileName)",
        ] {
            let answer = try server.curl(["-u", credentials, server.url + path])
            #expect([400, 401, 403, 404].contains(answer.status), "\(path): \(answer)")
            #expect(!answer.body.contains("\"id\""), "\(path): \(answer.body)")
        }
        let listing = try server.curl(["-u", credentials, server.url + "/api/v1/accounts/bob/repositories/files/objects"])
        #expect(listing.status == 403)
        let check = try owner.run(["verify", "files", "--read-data"])
        #expect(check.status == 0, "\(check.all)")
    }

    @Test func anUploadOverTheQuotaIsRefusedBeforeItIsStoredAndTheRunAfterARaiseCompletes() throws {
        var quota = CairnTestServer.AccountSpec("alice", password: "alice's long password", extra: "quota: 50MB")
        let server = try CairnTestServer(accounts: [quota])
        let workspace = try workspace(server, files: 10)
        #expect(try workspace.run(["backup", "files"]).status == 0)
        // The quota lowered to what is stored and 500 kB (SIGHUP), then three megabytes more:
        // over the quota in the middle of the backup.
        let status = try server.curl(["-u", "alice:alice's long password", server.url + "/api/v1/accounts/alice"])
        let usage = ((try? JSONSerialization.jsonObject(with: Data(status.body.utf8))) as? [String: Any])?["usage"] as? Int ?? 0
        #expect(usage > 0, "\(status)")
        let limit = usage + 500_000
        quota.extra = "quota: \(limit)"
        try server.writeConfig(accounts: [quota])
        server.reload()
        try Data((0..<3_000_000).map { _ in UInt8.random(in: 0...255) }).write(to: URL(fileURLWithPath: workspace.source + "/large.bin"))
        let over = try workspace.run(["backup", "files"])
        #expect(over.status == 1, "\(over.all)")
        #expect(over.standardError.contains("quota exceeded") && over.standardError.contains("account 'alice'"), "\(over.all)")
        #expect(over.standardError.contains("of its \(ByteCountText.format(UInt64(limit))) quota"), "\(over.all)")
        #expect(server.log.contains("quota exceeded"))
        // What the server stores stays within the quota: the refused upload was never written.
        let stored = try FileManager.default.subpathsOfDirectory(atPath: server.storage).reduce(0) { total, path in
            total + ((try? FileManager.default.attributesOfItem(atPath: server.storage + "/" + path)[.type] as? FileAttributeType) == .typeRegular
                ? ((try? FileManager.default.attributesOfItem(atPath: server.storage + "/" + path)[.size] as? Int) ?? 0) : 0)
        }
        #expect(stored <= limit, "\(stored) bytes stored, quota \(limit)")
        // The repository is consistent: its one snapshot verifies.
        let snapshots = try workspace.run(["snapshots", "files", "--json"])
        #expect(((try? JSONSerialization.jsonObject(with: Data(snapshots.standardOutput.utf8))) as? [Any])?.count == 1, "\(snapshots.all)")
        #expect(try workspace.run(["verify", "files", "--read-data"]).status == 0)
        // Raised, read again with SIGHUP: the next run completes.
        quota.extra = "quota: 50MB"
        try server.writeConfig(accounts: [quota])
        server.reload()
        let raised = try workspace.run(["backup", "files"])
        #expect(raised.status == 0, "\(raised.all)\n\(server.log)")
        let target = workspace.directory.subpath("restored")
        #expect(try workspace.run(["restore", "files", "--to", target]).status == 0)
        #expect(TreeComparison.differences(workspace.source, workspace.restored(under: target)) == [])
        #expect(try workspace.run(["verify", "files", "--read-data"]).status == 0)
    }

    @Test func restoresFromAnAddressOutsideRestoreFromAreRefusedAndBackupsFromThereWork() throws {
        let server = try CairnTestServer(accounts: [
            CairnTestServer.AccountSpec("alice", password: "alice's long password", extra: "restore-from: [127.0.0.2/32, \"10.0.0.0/8\"]")
        ])
        // From 127.0.0.1: backups work, restores are refused with the reason, and logged.
        let here = try workspace(server)
        let backup = try here.run(["backup", "files"])
        #expect(backup.status == 0, "\(backup.all)")
        try Data("second".utf8).write(to: URL(fileURLWithPath: here.source + "/second.txt"))
        #expect(try here.run(["backup", "files"]).status == 0)
        let refused = try here.run(["restore", "files", "--to", here.directory.subpath("out")])
        #expect(refused.status == 1, "\(refused.all)")
        #expect(refused.standardError.contains("restore-from") && refused.standardError.contains("127.0.0.1"), "\(refused.all)")
        #expect(server.log.contains("127.0.0.1 alice restore refused"), "\(server.log)")
        // A raw read of a pack from here: 403, and logged.
        let pack = try FileManager.default.subpathsOfDirectory(atPath: server.storage + "/alice/files").first { $0.hasPrefix("data/") && $0.count > 40 }!
        let raw = try server.curl(["-u", "alice:alice's long password", server.url + "/api/v1/accounts/alice/repositories/files/objects/" + pack])
        #expect(raw.status == 403 && raw.body.contains("restore-from"), "\(raw)")
        #expect(server.log.contains("127.0.0.1 alice GET alice/files/\(pack) refused"), "\(server.log)")
        // A backup with a cold cache (another machine of the same set) still works from here.
        try FileManager.default.removeItem(atPath: here.directory.subpath("cache"))
        try Data("third".utf8).write(to: URL(fileURLWithPath: here.source + "/third.txt"))
        let cold = try here.run(["backup", "files"])
        #expect(cold.status == 0, "\(cold.all)")

        // Through a CONNECT proxy whose tunnels leave from 127.0.0.2: allowed.
        let proxy = try CairnTestServer.connectProxy(source: "127.0.0.2")
        let there = try workspace(server, proxy: "http://127.0.0.1:\(proxy.port)")
        let target = there.directory.subpath("restored")
        let restore = try there.run(["restore", "files", "--to", target])
        #expect(restore.status == 0, "\(restore.all)\n\(server.log)")
        #expect(TreeComparison.differences(here.source, target + here.source) == [])
        #expect(server.log.contains("127.0.0.2 alice"), "\(server.log)")
    }

    @Test func anAppendOnlyAccountRefusesDeletesAndReplacementsButBacksUp() throws {
        let server = try CairnTestServer(accounts: [
            CairnTestServer.AccountSpec("alice", password: "alice's long password", extra: "append-only: true")
        ])
        let workspace = try workspace(server, extra: "retention: {last: {keep-jobs: 1}}", setExtra: ", retention: last")
        #expect(try workspace.run(["backup", "files"]).status == 0)
        try Data("second".utf8).write(to: URL(fileURLWithPath: workspace.source + "/second.txt"))
        let second = try workspace.run(["backup", "files"])
        #expect(second.status == 0, "\(second.all)")
        let before = try FileManager.default.subpathsOfDirectory(atPath: server.storage + "/alice/files").filter { !$0.hasPrefix("locks") }.sorted()
        let snapshots = try workspace.run(["snapshots", "files", "--json"])
        let ids = ((try? JSONSerialization.jsonObject(with: Data(snapshots.standardOutput.utf8))) as? [[String: Any]])?.compactMap { $0["id"] as? String } ?? []
        #expect(ids.count == 2, "\(snapshots.all)")
        let forget = try workspace.run(["forget", "files", String(ids.first?.prefix(8) ?? "")])
        #expect(forget.status == 1, "\(forget.all)")
        #expect(forget.standardError.contains("append-only"), "\(forget.all)")
        // The backup's expiry was refused (the next backup or prune would do it), and so is prune's.
        #expect(second.standardOutput.contains("append-only"), "\(second.all)")
        let prune = try workspace.run(["prune", "files"])
        #expect(prune.status == 1 && prune.standardError.contains("append-only"), "\(prune.all)")
        // A raw DELETE and a PUT over an existing object: refused, and logged.
        let credentials = "alice:alice's long password"
        let snapshot = before.first { $0.hasPrefix("snapshots/") }!
        let delete = try server.curl(["-u", credentials, "-X", "DELETE", server.url + "/api/v1/accounts/alice/repositories/files/objects/" + snapshot])
        #expect(delete.status == 403 && delete.body.contains("append-only"), "\(delete)")
        let overwrite = try server.curl([
            "-u", credentials, "-X", "PUT", "--data-binary", "x", "-H", "X-Cairn-SHA256: 2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881",
            server.url + "/api/v1/accounts/alice/repositories/files/objects/" + snapshot,
        ])
        #expect(overwrite.status == 403, "\(overwrite)")
        let after = try FileManager.default.subpathsOfDirectory(atPath: server.storage + "/alice/files").filter { !$0.hasPrefix("locks") }.sorted()
        #expect(after == before)
        #expect(try workspace.run(["verify", "files", "--read-data"]).status == 0)
    }

    @Test func uploadsThatArriveDamagedShortOrUnannouncedAreNeverStored() throws {
        let server = try CairnTestServer(accounts: [Self.alice])
        let credentials = "alice:alice's long password"
        let object = server.url + "/api/v1/accounts/alice/repositories/files/objects/data/ab/abcdef"
        let good = "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"  // SHA-256 of "x"
        let damaged = try server.curl(["-u", credentials, "-X", "PUT", "--data-binary", "y", "-H", "X-Cairn-SHA256: \(good)", object])
        #expect(damaged.status == 400 && damaged.body.contains("hash-mismatch"), "\(damaged)")
        let unannounced = try server.curl(["-u", credentials, "-X", "PUT", "--data-binary", "x", object])
        #expect(unannounced.status == 400, "\(unannounced)")
        #expect(try server.curl(["-u", credentials, "-I", object]).status == 404)
        let stored = try server.curl(["-u", credentials, "-X", "PUT", "--data-binary", "x", "-H", "X-Cairn-SHA256: \(good)", object])
        #expect(stored.status == 201, "\(stored)")
        let conditional = try server.curl(["-u", credentials, "-X", "PUT", "--data-binary", "x", "-H", "X-Cairn-SHA256: \(good)", "-H", "If-None-Match: *", object])
        #expect(conditional.status == 412, "\(conditional)")
        let ranged = try server.curl(["-u", credentials, "-H", "Range: bytes=0-0", object])
        #expect(ranged.status == 206 && ranged.body == "x", "\(ranged)")
        let past = try server.curl(["-u", credentials, "-H", "Range: bytes=5-9", object])
        #expect(past.status == 416, "\(past)")
        let listing = try server.curl(["-u", credentials, server.url + "/api/v1/accounts/alice/repositories/files/objects?prefix=data/"])
        #expect(listing.status == 200 && listing.body.contains("\"key\":\"data/ab/abcdef\""), "\(listing)")
        let noPassword = try server.curl([object])
        #expect(noPassword.status == 401)
        let hidden = try server.curl(["-u", credentials, "-X", "PUT", "--data-binary", "x", "-H", "X-Cairn-SHA256: \(good)", server.url + "/api/v1/accounts/alice/repositories/files/objects/data/.tmp-x"])
        #expect(hidden.status == 400, "\(hidden)")
    }
}

/// The replication server: a primary forwards every object to a second cairn server or to an
/// S3 bucket from its queue, through the replica's restart, and a client restores from the
/// replica once the primary is gone. And an append-only account's expiry on the server.
@Suite("cairn server replication and server-side prune")
struct ServerReplicationTests {
    let cairn = CairnProcess()

    func status(_ server: CairnTestServer) throws -> [String: Any] {
        let output = try cairn.run(["server", "replication", "status", "-c", server.configFile, "--json"])
        return ((try? JSONSerialization.jsonObject(with: Data(output.standardOutput.utf8))) as? [String: Any]) ?? ["error": output.all]
    }

    /// Waits until the primary's queue is empty; the last status.
    func drained(_ server: CairnTestServer, seconds: Double = 60) throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(seconds)
        var last: [String: Any] = [:]
        while Date() < deadline {
            last = try status(server)
            if last["queued"] as? Int == 0 { return last }
            usleep(200_000)
        }
        return last
    }

    /// A client workspace with a generated tree whose account is `alice` on `server`.
    func workspace(on server: CairnTestServer, seed: UInt64, files: Int) throws -> Workspace {
        var workspace = try Workspace()
        var generator = TreeGenerator(root: workspace.source, seed: seed)
        _ = try generator.generate(files: files, depth: 3)
        try clientConfig(
            workspace,
            account: "    destination: \(server.destination("alice"))\n    password: {env: SERVER_PASSWORD}\n    ca-file: \(server.caFile)")
        workspace.environment["SERVER_PASSWORD"] = "alice's long password"
        return workspace
    }

    func clientConfig(_ workspace: Workspace, account: String) throws {
        try workspace.directory.write(
            "cairn.yaml",
            """
            version: 1
            accounts:
              office:
            \(account)
            encryption: {default: {algorithm: aes-256-gcm, key: {env: CAIRN_KEY}}}
            backup-sets:
              files: {account: office, sources: [./source]}
            """)
    }

    @Test func aSecondServerGetsEveryObjectThroughItsRestartAndAClientRestoresFromIt() throws {
        let password = "replication secret of the primary"
        let sourceHash = try PasswordHash.make(Array(password.utf8), parameters: .init(logN: 12, r: 8, p: 1)).description
        let replica = try CairnTestServer(accounts: [ServerEndToEndTests.alice], extra: "replication-sources:\n  primary: {password-hash: \"\(sourceHash)\"}")
        let passwordFile = try replica.folder.write("primary.password", password + "\n")
        let replicateTo = "replicate-to: {destination: \"https://127.0.0.1:\(replica.port)\", user: primary, password: {file: \(passwordFile)}, ca-file: \(replica.caFile)}"
        let primary = try CairnTestServer(accounts: [ServerEndToEndTests.alice], extra: replicateTo)

        let workspace = try workspace(on: primary, seed: 5, files: 40)
        let first = try workspace.run(["backup", "files"])
        #expect(first.status == 0, "\(first.all)")
        let caughtUp = try drained(primary)
        #expect(caughtUp["queued"] as? Int == 0 && (caughtUp["forwarded"] as? Int ?? 0) > 0, "\(caughtUp)\n\(primary.log)")

        // The replica stops; what is stored meanwhile waits in the queue (and survives the
        // primary's own restart), then goes once the replica is back.
        replica.stop()
        try Data("while the replica was away".utf8).write(to: URL(fileURLWithPath: workspace.source + "/away.txt"))
        let second = try workspace.run(["backup", "files"])
        #expect(second.status == 0, "\(second.all)")
        let waiting = try status(primary)
        #expect((waiting["queued"] as? Int ?? 0) > 0, "\(waiting)")
        primary.stop(crash: true)
        try primary.start()
        try replica.start()
        let resumed = try drained(primary)
        #expect(resumed["queued"] as? Int == 0, "\(resumed)\n\(primary.log)")
        let text = try cairn.run(["server", "replication", "status", "-c", primary.configFile])
        #expect(text.standardOutput.contains("queued: nothing"), "\(text.all)")
        let json = try cairn.run(["server", "replication", "status", "-c", primary.configFile, "--json"])
        #expect(try Workspace.validate(json.standardOutput, against: "schemas/server-replication-status.schema.json").hasPrefix("valid"), "\(json.all)")

        // The primary is gone: a client pointed at the replica restores everything.
        primary.stop()
        try clientConfig(
            workspace,
            account: "    destination: \(replica.destination("alice"))\n    password: {env: SERVER_PASSWORD}\n    ca-file: \(replica.caFile)")
        let target = workspace.directory.subpath("from-replica")
        let restore = try workspace.run(["restore", "files", "--to", target])
        #expect(restore.status == 0, "\(restore.all)\n\(replica.log)")
        #expect(TreeComparison.differences(workspace.source, workspace.restored(under: target)) == [])
        let verify = try workspace.run(["verify", "files", "--read-data"])
        #expect(verify.status == 0, "\(verify.all)")
        #expect(replica.log.contains("(replicated)"))
    }

    @Test func anS3BucketGetsEveryObjectAndAClientRestoresFromItAsAnS3Account() throws {
        let s3 = try S3TestServer()
        let prefix = "replica-\(UUID().uuidString)"
        let scratch = try TemporaryDirectory("cairn-s3-secrets")
        let id = try scratch.write("id", s3.credentials.accessKey)
        let secret = try scratch.write("secret", s3.credentials.secretKey)
        let replicateTo = """
            replicate-to:
              destination: s3://\(s3.bucket)/\(prefix)
              endpoint: \(s3.endpoint.absoluteString)
              region: us-east-1
              path-style: true
              credentials: {access-key-id: {file: \(id)}, secret-access-key: {file: \(secret)}}
            """
        let primary = try CairnTestServer(accounts: [ServerEndToEndTests.alice], extra: replicateTo)
        var workspace = try workspace(on: primary, seed: 9, files: 30)
        #expect(try workspace.run(["backup", "files"]).status == 0)
        let caughtUp = try drained(primary)
        #expect(caughtUp["queued"] as? Int == 0, "\(caughtUp)\n\(primary.log)")
        primary.stop()
        try clientConfig(
            workspace,
            account: """
                    destination: s3://\(s3.bucket)/\(prefix)/alice
                    endpoint: \(s3.endpoint.absoluteString)
                    region: us-east-1
                    path-style: true
                    credentials: {access-key-id: {env: S3_ID}, secret-access-key: {env: S3_SECRET}}
                """)
        workspace.environment["S3_ID"] = s3.credentials.accessKey
        workspace.environment["S3_SECRET"] = s3.credentials.secretKey
        let target = workspace.directory.subpath("from-bucket")
        let restore = try workspace.run(["restore", "files", "--to", target])
        #expect(restore.status == 0, "\(restore.all)")
        #expect(TreeComparison.differences(workspace.source, workspace.restored(under: target)) == [])
        #expect(try workspace.run(["verify", "files", "--read-data"]).status == 0)
    }

    @Test func aServerWhoseStorageIsAnS3BucketKeepsAccountsThere() async throws {
        let s3 = try S3TestServer()
        let prefix = "server-\(UUID().uuidString)"
        let scratch = try TemporaryDirectory("cairn-s3-storage")
        let id = try scratch.write("id", s3.credentials.accessKey)
        let secret = try scratch.write("secret", s3.credentials.secretKey)
        let storage = """
            storage:
              destination: s3://\(s3.bucket)/\(prefix)
              endpoint: \(s3.endpoint.absoluteString)
              region: us-east-1
              path-style: true
              credentials: {access-key-id: {file: \(id)}, secret-access-key: {file: \(secret)}}
            state: \(scratch.subpath("state"))
            """
        let server = try CairnTestServer(accounts: [CairnTestServer.AccountSpec("alice", password: "alice's long password", extra: "quota: 100MB")], storage: storage)
        let workspace = try workspace(on: server, seed: 13, files: 25)
        let backup = try workspace.run(["backup", "files"])
        #expect(backup.status == 0, "\(backup.all)\n\(server.log)")
        let target = workspace.directory.subpath("restored")
        #expect(try workspace.run(["restore", "files", "--to", target]).status == 0)
        #expect(TreeComparison.differences(workspace.source, workspace.restored(under: target)) == [])
        #expect(try workspace.run(["verify", "files", "--read-data"]).status == 0)
        // The objects are in the bucket, under PREFIX/ACCOUNT/REPOSITORY/; usage is counted
        // from there after a restart.
        let listed = try await s3.storage(prefix: "\(prefix)/alice/files/").listAll(prefix: "")
        #expect(listed.contains { $0.key == RepositoryDescriptor.fileName }, "\(listed.map(\.key))")
        server.stop()
        try server.start()
        let status = try server.curl(["-u", "alice:alice's long password", server.url + "/api/v1/accounts/alice"])
        let usage = ((try? JSONSerialization.jsonObject(with: Data(status.body.utf8))) as? [String: Any])?["usage"] as? Int ?? 0
        #expect(usage == listed.reduce(0) { $0 + $1.size }, "\(status)")
    }

    @Test func anAppendOnlyAccountsExpiryRunsOnTheServer() throws {
        let server = try CairnTestServer(accounts: [
            CairnTestServer.AccountSpec("alice", password: "alice's long password", extra: "append-only: true, retention: {keep-jobs: 1}")
        ])
        var workspace = try Workspace()
        var generator = TreeGenerator(root: workspace.source, seed: 3)
        _ = try generator.generate(files: 20, depth: 2)
        try clientConfig(
            workspace,
            account: "    destination: \(server.destination("alice"))\n    password: {env: SERVER_PASSWORD}\n    ca-file: \(server.caFile)")
        workspace.environment["SERVER_PASSWORD"] = "alice's long password"
        for round in 0..<3 {
            try Data((0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ round * 97) }).write(to: URL(fileURLWithPath: workspace.source + "/round.bin"))
            #expect(try workspace.run(["backup", "files"]).status == 0)
        }
        let before = try workspace.run(["snapshots", "files", "--json"])
        #expect(((try? JSONSerialization.jsonObject(with: Data(before.standardOutput.utf8))) as? [Any])?.count == 3)
        let dry = try cairn.run(["server", "prune", "alice", "-c", server.configFile, "--key-env", "CAIRN_KEY", "--dry-run"], environment: workspace.environment)
        #expect(dry.status == 0 && dry.standardOutput.contains("alice/files:"), "\(dry.all)")
        let prune = try cairn.run(["server", "prune", "alice", "-c", server.configFile, "--key-env", "CAIRN_KEY"], environment: workspace.environment)
        #expect(prune.status == 0, "\(prune.all)")
        #expect(prune.standardOutput.contains("told to count"), "\(prune.all)")
        let after = try workspace.run(["snapshots", "files", "--json"])
        #expect(((try? JSONSerialization.jsonObject(with: Data(after.standardOutput.utf8))) as? [Any])?.count == 1, "\(after.all)")
        let target = workspace.directory.subpath("restored")
        #expect(try workspace.run(["restore", "files", "--to", target]).status == 0)
        #expect(TreeComparison.differences(workspace.source, workspace.restored(under: target)) == [])
        #expect(try workspace.run(["verify", "files", "--read-data"]).status == 0)
        let wrongKey = try cairn.run(["server", "prune", "alice", "-c", server.configFile, "--key-env", "NOPE"], environment: ["NOPE": "not the key"])
        #expect(wrongKey.status == 1, "\(wrongKey.all)")
    }
}

/// The server's web page in headless Chromium: an account's usage against its quota, its
/// repositories with the last job, the admin's view of every account; wrong passwords and
/// other accounts' pages refused. And a server with `tls: off` answering plain HTTP.
@Suite("cairn server web page")
struct ServerWebPageTests {
    @Test func anAccountAndTheAdminSeeUsageRepositoriesAndLastJobsInChromium() throws {
        let adminHash = try PasswordHash.make(Array("the admin's password".utf8), parameters: .init(logN: 12, r: 8, p: 1)).description
        let server = try CairnTestServer(
            accounts: [
                CairnTestServer.AccountSpec("alice", password: "alice's long password", extra: "quota: 50MB, contact: alice@example.com"),
                ServerEndToEndTests.bob,
            ], extra: "admin: {password-hash: \"\(adminHash)\"}")
        var workspace = try Workspace()
        var generator = TreeGenerator(root: workspace.source, seed: 11)
        _ = try generator.generate(files: 20, depth: 2)
        try workspace.directory.write(
            "cairn.yaml",
            """
            version: 1
            accounts:
              office: {destination: \(server.destination("alice")), password: {env: SERVER_PASSWORD}, ca-file: \(server.caFile)}
            encryption: {default: {algorithm: aes-256-gcm, key: {env: CAIRN_KEY}}}
            backup-sets:
              documents: {account: office, sources: [./source], repository: laptop}
            """)
        workspace.environment["SERVER_PASSWORD"] = "alice's long password"
        let backup = try workspace.run(["backup", "documents"])
        #expect(backup.status == 0, "\(backup.all)")

        let screenshot = workspace.directory.subpath("account.png")
        let page = try server.browse("/", user: "alice", password: "alice's long password", screenshot: screenshot)
        for text in ["Account alice", "used of 50 MB", "laptop", "documents", "complete", "alice@example.com", "backup"] {
            #expect(page.contains(text), "\(text) is not on the page:\n\(page)")
        }
        let png = try Data(contentsOf: URL(fileURLWithPath: screenshot))
        #expect(png.count > 10_000 && png.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]), "\(png.count) bytes")
        #expect(!page.contains("<script"))

        let admin = try server.browse("/admin", user: "admin", password: "the admin's password", screenshot: workspace.directory.subpath("admin.png"))
        for text in ["All accounts (2)", "alice", "bob", "50 MB", "complete"] {
            #expect(admin.contains(text), "\(text) is not on the admin page:\n\(admin)")
        }
        let adminOnAlice = try server.browse("/accounts/alice", user: "admin", password: "the admin's password")
        #expect(adminOnAlice.contains("Account alice") && adminOnAlice.contains("laptop"))

        let wrong = try server.browse("/", user: "alice", password: "not it")
        #expect(!wrong.contains("Account alice"), "\(wrong)")
        let other = try server.browse("/accounts/bob", user: "alice", password: "alice's long password")
        #expect(other.contains("Not allowed") && !other.contains("Account bob"), "\(other)")
        let notAdmin = try server.browse("/admin", user: "alice", password: "alice's long password")
        #expect(notAdmin.contains("Not allowed"), "\(notAdmin)")
    }

    @Test func aServerWithTLSOffAnswersPlainHTTPOnly() throws {
        let server = try CairnTestServer(accounts: [ServerEndToEndTests.alice], plain: true)
        #expect(server.log.contains("listening on http://127.0.0.1:"), "\(server.log)")
        let health = try server.curl([server.url + "/health"])
        #expect(health.status == 200 && health.body == "ok\n")
        let status = try server.curl(["-u", "alice:alice's long password", server.url + "/api/v1/accounts/alice"])
        #expect(status.status == 200 && status.body.contains("\"account\":\"alice\""), "\(status)")
        let tls = try server.curl([server.url.replacingOccurrences(of: "http://", with: "https://") + "/health"])
        #expect(tls.status == 0)
    }
}

/// Bad luck on the way: a client killed in the middle of an upload, the server killed in the
/// middle of one, and the accounts read again (SIGHUP) while a backup runs. Nothing partial is
/// ever visible, the next run completes, and the repository verifies.
@Suite("cairn server crash safety")
struct ServerCrashTests {
    func workspace(_ server: CairnTestServer) throws -> Workspace {
        var workspace = try Workspace()
        var generator = TreeGenerator(root: workspace.source, seed: 17)
        _ = try generator.generate(files: 10, depth: 2)
        // Random bytes: packs of megabytes, each upload many pieces.
        try Data((0..<24_000_000).map { _ in UInt8.random(in: 0...255) }).write(to: URL(fileURLWithPath: workspace.source + "/large.bin"))
        try workspace.directory.write(
            "cairn.yaml",
            """
            version: 1
            accounts:
              office: {destination: \(server.destination("alice")), password: {env: SERVER_PASSWORD}, ca-file: \(server.caFile)}
            encryption: {default: {algorithm: aes-256-gcm, key: {env: CAIRN_KEY}}}
            backup-sets:
              files: {account: office, sources: [./source]}
            """)
        workspace.environment["SERVER_PASSWORD"] = "alice's long password"
        return workspace
    }

    func verifyAndRestore(_ workspace: Workspace) throws {
        let verify = try workspace.run(["verify", "files", "--read-data"])
        #expect(verify.status == 0 && verify.standardOutput.contains("no problems"), "\(verify.all)")
        let target = workspace.directory.subpath("restored")
        #expect(try workspace.run(["restore", "files", "--to", target]).status == 0)
        #expect(TreeComparison.differences(workspace.source, workspace.restored(under: target)) == [])
    }

    @Test func aClientKilledMidUploadLeavesNothingPartialAndTheNextRunCompletes() throws {
        let server = try CairnTestServer(accounts: [ServerEndToEndTests.alice], environment: ["CAIRN_FAULT_INJECTION": "server-upload-part:20:STOP"])
        let workspace = try workspace(server)
        let client = try workspace.cairn.start(["backup", "files"], in: workspace.directory.path, environment: workspace.environment)
        #expect(server.waitUntilStopped(), "the server never reached the middle of an upload")
        #expect(!server.temporaryFiles.isEmpty, "an upload under way has a temporary file")
        kill(client.pid, SIGKILL)
        _ = try client.wait()
        kill(server.pid, SIGCONT)
        // The dropped connection ends the upload: its temporary file goes, nothing is stored.
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, !server.temporaryFiles.isEmpty { usleep(50_000) }
        #expect(server.temporaryFiles.isEmpty, "\(server.temporaryFiles)")
        let again = try workspace.run(["backup", "files"])
        #expect(again.status == 0, "\(again.all)\n\(server.log)")
        try verifyAndRestore(workspace)
    }

    @Test func theServerKilledMidUploadRestartsCleanAndTheNextRunCompletes() throws {
        let server = try CairnTestServer(accounts: [ServerEndToEndTests.alice], environment: ["CAIRN_FAULT_INJECTION": "server-upload-part:20"])
        let workspace = try workspace(server)
        let killed = try workspace.run(["backup", "files"])
        server.waitForExit()
        #expect(killed.status == 1, "\(killed.all)")
        #expect(!server.temporaryFiles.isEmpty, "the killed upload left its temporary file")
        try server.start()
        #expect(server.log.contains("left unfinished"), "\(server.log)")
        #expect(server.temporaryFiles.isEmpty, "\(server.temporaryFiles)")
        let again = try workspace.run(["backup", "files"])
        #expect(again.status == 0, "\(again.all)")
        try verifyAndRestore(workspace)
    }

    @Test func accountsReadAgainWhileABackupRunsDropNoConnection() throws {
        let account = ServerEndToEndTests.alice
        let server = try CairnTestServer(accounts: [account], environment: ["CAIRN_FAULT_INJECTION": "server-upload-part:1:DELAY5"])
        let workspace = try workspace(server)
        let client = try workspace.cairn.start(["backup", "files"], in: workspace.directory.path, environment: workspace.environment)
        // Bob is added while Alice's backup runs; the config is read again three times.
        try server.writeConfig(accounts: [account, ServerEndToEndTests.bob])
        for _ in 0..<3 {
            usleep(300_000)
            server.reload()
        }
        let output = try client.wait()
        #expect(output.status == 0, "\(output.all)\n\(server.log)")
        #expect(server.log.components(separatedBy: "SIGHUP: read").count - 1 == 3, "\(server.log)")
        let bob = try server.curl(["-u", "bob:bob's long password", server.url + "/api/v1/accounts/bob"])
        #expect(bob.status == 200, "\(bob)")
        try verifyAndRestore(workspace)
    }
}

/// `cairn server validate` and `cairn server hash-password` through the built binary.
@Suite("cairn server validate and hash-password")
struct ServerConfigCommandTests {
    let cairn = CairnProcess()

    func shell(_ script: String, in directory: String) throws -> CairnProcess.Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script]
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.environment = ProcessInfo.processInfo.environment.merging(["CAIRN": cairn.executable, "NO_COLOR": "1"]) { $1 }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let error = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return CairnProcess.Output(status: process.terminationStatus, standardOutput: String(decoding: output, as: UTF8.self), standardError: String(decoding: error, as: UTF8.self))
    }

    @Test func aHashFromStandardInputOrATerminalIsAcceptedByValidateAndByTheServer() throws {
        let folder = try TemporaryDirectory("cairn-hash")
        let hashed = try shell("printf 'a password of mine\\n' | \"$CAIRN\" server hash-password", in: folder.path)
        #expect(hashed.status == 0, "\(hashed.all)")
        let hash = hashed.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(hash.hasPrefix("$scrypt$ln=15,r=8,p=1$") && hash.split(separator: "$").count == 4, "\(hash)")
        #expect(!hashed.all.contains("a password of mine"))
        let parsed = try PasswordHash(parsing: hash)
        #expect(parsed.matches(Array("a password of mine".utf8)) && !parsed.matches(Array("another".utf8)))
        // Two hashes of one password differ (a random salt).
        let again = try shell("printf 'a password of mine\\n' | \"$CAIRN\" server hash-password", in: folder.path)
        #expect(again.standardOutput != hashed.standardOutput)
        let empty = try shell("printf '\\n' | \"$CAIRN\" server hash-password", in: folder.path)
        #expect(empty.status == 1 && empty.standardError.contains("empty"), "\(empty.all)")

        // On a terminal: asked twice, echo off; two different answers print nothing.
        let workspace = try Workspace()
        let session = TerminalSession(cairn)
        let typed = try session.run(
            ["server", "hash-password"], in: workspace.directory.path, environment: workspace.environment,
            steps: [.expect("password: "), .send("typed secret 1\n"), .expect("again: "), .send("typed secret 1\n")])
        #expect(typed.status == 0 && typed.output.contains("$scrypt$ln=15"), "\(typed.failure ?? "") \(typed.output)")
        #expect(!typed.output.contains("typed secret 1"), "the password was echoed: \(typed.output)")
        let differ = try session.run(
            ["server", "hash-password"], in: workspace.directory.path, environment: workspace.environment,
            steps: [.expect("password: "), .send("one\n"), .expect("again: "), .send("two\n")])
        #expect(differ.status == 1 && differ.output.contains("differ") && !differ.output.contains("$scrypt$"), "\(differ.output)")

        // The hash in a config: valid, and the server takes the password.
        let server = try CairnTestServer(accounts: [CairnTestServer.AccountSpec("alice", password: "unused")])
        let text = try String(contentsOfFile: server.configFile, encoding: .utf8)
        // The hash as a template's literal text: its `$` followed by a digit is no group reference.
        let withHash = text.replacingOccurrences(
            of: #"password-hash: "[^"]*""#, with: NSRegularExpression.escapedTemplate(for: "password-hash: \"\(hash)\""), options: .regularExpression)
        _ = try server.folder.write("server.yaml", withHash)
        let valid = try cairn.run(["server", "validate", "-c", server.configFile])
        #expect(valid.status == 0 && valid.standardOutput.contains("valid, 1 account"), "\(valid.all)")
        server.reload()
        let status = try server.curl(["-u", "alice:a password of mine", server.url + "/api/v1/accounts/alice"])
        #expect(status.status == 200, "\(status)\n\(server.log)")
    }

    @Test func validateReportsEveryProblemWithItsPlace() throws {
        let folder = try TemporaryDirectory("cairn-server-config")
        try FileManager.default.createDirectory(atPath: folder.subpath("storage"), withIntermediateDirectories: true)
        _ = try folder.write(
            "server.yaml",
            """
            version: 1
            listen: 127.0.0.1:99999
            tls: {certificate: missing.crt, key: missing.key}
            storage: storage
            accounts:
              alice:
                password-hash: "$2b$12$notscryptatall"
                quota: lots
                restore-from: [10.0.0.0/33, 192.168.1.1]
                append-only: maybe
              bob:
                password-hash: "$scrypt$ln=15,r=8,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2g"
                qouta: 1GB
            replicate-to: {destination: /srv/elsewhere}
            """)
        let result = try cairn.run(["server", "validate", "-c", "server.yaml"], in: folder.path, environment: ["NO_COLOR": "1"])
        #expect(result.status == 1)
        for expected in [
            "server.yaml:2:9: error: listen must be ADDRESS:PORT", "server.yaml:3:", "missing.crt does not exist",
            "server.yaml:7:20: error: account 'alice': password-hash: bcrypt hashes cannot be checked", "server.yaml:8:12: error: account 'alice': quota must be a size",
            "server.yaml:9:20: error: account 'alice': restore-from: '10.0.0.0/33'", "server.yaml:10:18: error: account 'alice': append-only",
            "server.yaml:13:5: error: unknown key 'qouta' in account 'bob'", "did you mean 'quota'", "replicate-to: the replica is another cairn server",
            "the server config is invalid",
        ] {
            #expect(result.standardError.contains(expected), "missing \(expected):\n\(result.standardError)")
        }
        let json = try cairn.run(["server", "validate", "-c", "server.yaml", "--json"], in: folder.path)
        #expect(json.status == 1 && json.standardOutput.contains("\"line\" : 8") || json.standardOutput.contains("\"line\":8"), "\(json.all)")
        let missing = try cairn.run(["server", "validate", "-c", "nowhere.yaml"], in: folder.path)
        #expect(missing.status == 1 && missing.standardError.contains("no server config at 'nowhere.yaml'"), "\(missing.all)")
    }
}

/// What a red-team review of the server found, kept as tests: names that alias another
/// repository's packs past restore-from, listings that climb out of the account, an
/// append-only object replaced by an upload that began before it existed, usage counted twice
/// away by two replacements at once, forged log lines, unchecked job reports, a key naming a
/// folder.
@Suite("cairn server against an attacker")
struct ServerAttackTests {
    static let alice = CairnTestServer.AccountSpec("alice", password: "alice's long password", extra: "restore-from: 10.9.9.9")
    static let carol = CairnTestServer.AccountSpec("carol", password: "carol's long password", extra: "append-only: true")
    let credentials = "alice:alice's long password"

    func put(_ server: CairnTestServer, _ path: String, _ bytes: Data, user: String = "alice:alice's long password", extra: [String] = []) throws -> (status: Int, body: String) {
        let scratch = try TemporaryDirectory("cairn-put")
        let file = scratch.subpath("body")
        try bytes.write(to: URL(fileURLWithPath: file))
        let hash = Hashing.sha256([UInt8](bytes)).map { String(format: "%02x", $0) }.joined()
        return try server.curl(["-u", user, "-X", "PUT", "--data-binary", "@" + file, "-H", "X-Cairn-SHA256: \(hash)"] + extra + [server.url + path])
    }

    @Test func namesThatAliasOrClimbAreRefused() throws {
        let server = try CairnTestServer(accounts: [Self.alice, ServerEndToEndTests.bob])
        let objects = "/api/v1/accounts/alice/repositories"
        #expect(try put(server, "\(objects)/laptop/objects/data/ab/abcdef", Data("pack".utf8)).status == 201)
        // The pack, by its own path: refused from here (restore-from).
        #expect(try server.curl(["-u", credentials, server.url + "\(objects)/laptop/objects/data/ab/abcdef"]).status == 403)
        // The same file through a repository 'laptop/data' or a key outside the folders: refused.
        for path in ["\(objects)/laptop%2Fdata/objects/ab/abcdef", "\(objects)/laptop%2Fdata%2Fab/objects/abcdef", "\(objects)/laptop/objects/ab/abcdef"] {
            let answer = try server.curl(["-u", credentials, server.url + path])
            #expect([400, 404].contains(answer.status) && !answer.body.contains("pack"), "\(path): \(answer)")
        }
        // A key that names a folder is no key: nothing is found there, nothing can be stored.
        #expect(try server.curl(["-u", credentials, "-I", server.url + "\(objects)/laptop/objects/data"]).status == 404)
        #expect(try put(server, "\(objects)/laptop/objects/data", Data("x".utf8)).status == 400)
        // Listings stay inside the repository.
        #expect(try put(server, "/api/v1/accounts/bob/repositories/home/objects/data/cd/cdef", Data("bob".utf8), user: "bob:bob's long password").status == 201)
        for query in ["prefix=../../bob/home/", "prefix=../../../", "prefix=data/&after=../x", "prefix=/etc/"] {
            let answer = try server.curl(["-u", credentials, server.url + "\(objects)/laptop/objects?\(query)"])
            #expect(answer.status == 400 && !answer.body.contains("cdef"), "\(query): \(answer)")
        }
        // No line of its own in the log: control characters are refused in keys, escaped in names.
        let forged = try put(server, "\(objects)/laptop/objects/data/y%0A2026-11-30T01%3A00%3A00Z%2010.0.0.9%20carol%20DELETE", Data("x".utf8))
        #expect(forged.status == 400, "\(forged)")
        _ = try server.curl(["-u", "no\none:pw", server.url + "/"])
        #expect(!server.log.contains("\n2026-11-30T01:00:00Z"), "\(server.log)")
    }

    @Test func anAppendOnlyObjectIsNotReplacedByAnUploadThatBeganBeforeIt() throws {
        let server = try CairnTestServer(accounts: [Self.carol], environment: ["CAIRN_FAULT_INJECTION": "server-upload-part:1:DELAY100"])
        let key = "/api/v1/accounts/carol/repositories/home/objects/snapshots/t1"
        let user = "carol:carol's long password"
        let slowBody = Data((0..<2_000_000).map { UInt8(truncatingIfNeeded: $0) })
        let slow = try TemporaryDirectory("cairn-slow")
        try slowBody.write(to: URL(fileURLWithPath: slow.subpath("body")))
        let hash = Hashing.sha256([UInt8](slowBody)).map { String(format: "%02x", $0) }.joined()
        // The slow upload starts first (many pieces, each delayed), the small one ends first.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = [
            "-s", "--cacert", server.caFile, "-o", "/dev/null", "-w", "%{http_code}", "-u", user, "-X", "PUT", "--data-binary", "@" + slow.subpath("body"),
            "-H", "X-Cairn-SHA256: \(hash)", "--limit-rate", "400k", server.url + key,
        ]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        usleep(500_000)
        #expect(try put(server, key, Data("first".utf8), user: user).status == 201)
        let slowStatus = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(slowStatus == "403", "the slow upload replaced the object: \(slowStatus)")
        let stored = try String(contentsOfFile: server.storage + "/carol/home/snapshots/t1", encoding: .utf8)
        #expect(stored == "first")
    }

    @Test func twoReplacementsAtOnceCountTheOldObjectOnce() throws {
        let server = try CairnTestServer(accounts: [CairnTestServer.AccountSpec("alice", password: "alice's long password", extra: "quota: 50MB")])
        let key = "/api/v1/accounts/alice/repositories/laptop/objects/index/k"
        #expect(try put(server, key, Data(repeating: 1, count: 3_000_000)).status == 201)
        let group = DispatchGroup()
        for fill in [UInt8(2), 3] {
            group.enter()
            DispatchQueue.global().async {
                _ = try? put(server, key, Data(repeating: fill, count: 1_000_000), extra: ["--limit-rate", "800k"])
                group.leave()
            }
        }
        group.wait()
        let status = try server.curl(["-u", credentials, server.url + "/api/v1/accounts/alice"])
        let usage = ((try? JSONSerialization.jsonObject(with: Data(status.body.utf8))) as? [String: Any])?["usage"] as? Int
        #expect(usage == 1_000_000, "\(status)")
    }

    @Test func jobReportsAreCheckedAndOnlyForRepositoriesThatExist() throws {
        let server = try CairnTestServer(accounts: [ServerEndToEndTests.alice])
        let jobs = "/api/v1/accounts/alice/repositories/laptop/jobs"
        func report(_ json: String) throws -> Int {
            try server.curl(["-u", "alice:alice's long password", "-X", "POST", "-H", "Content-Type: application/json", "--data-binary", json, server.url + jobs]).status
        }
        let good = #"{"set":"docs","host":"h","command":"backup","status":"complete","start":"2026-11-29T10:00:00Z","end":"2026-11-29T10:01:00Z"}"#
        #expect(try report(good) == 404, "no repository 'laptop' yet")
        #expect(try put(server, "/api/v1/accounts/alice/repositories/laptop/objects/\(RepositoryDescriptor.fileName)", Data("d".utf8)).status == 201)
        #expect(try report(good) == 204)
        #expect(try report(good.replacingOccurrences(of: "\"complete\"", with: "\"complete\\\" onmouseover=x\"")) == 400)
        #expect(try report(good.replacingOccurrences(of: "2026-11-29T10:01:00Z", with: "b")) == 400)
        #expect(try report(String(repeating: "x", count: 70_000)) != 204)
    }
}
