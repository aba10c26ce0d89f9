import CairnTesting
import Foundation
import Testing

@testable import CairnCore

/// Issue 16: damage stays local. A flipped byte in one file of a repository, or a file planted
/// by someone who can write to an unencrypted destination, must not lock out the rest; each
/// command says what is damaged, and `cairn repair` says what can be done.
@Suite("Damage stays local")
struct DamageContainmentTests {
    func write(_ path: String, _ text: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    func flip(_ path: String, at offset: Int) throws {
        var bytes = try #require(FileManager.default.contents(atPath: path))
        bytes[offset % bytes.count] ^= 0x40
        try bytes.write(to: URL(fileURLWithPath: path))
    }

    func files(in folder: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder).sorted().map { folder + "/" + $0 }
    }

    /// A workspace with two snapshots and a second key.
    func backedUp(extra: String = "") throws -> Workspace {
        var workspace = try Workspace(extra: extra)
        for index in 0..<4 { try write(workspace.source + "/f\(index)", "file \(index)") }
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        try write(workspace.source + "/later", "later")
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        workspace.environment["SECOND_KEY"] = "a second key"
        #expect(try workspace.run(["key", "add", "files", "--new-key-env", "SECOND_KEY"]).status == 0)
        return workspace
    }

    var repository: (Workspace) -> String { { $0.destination + "/files" } }

    /// The key file of the key CAIRN_KEY does not open (the one `backedUp` added), and its id's start.
    func spareKey(_ workspace: Workspace) throws -> (path: String, id: String) {
        let list = try workspace.run(["key", "list", "files"]).standardOutput.split(separator: "\n")
        let spare = try #require(list.dropFirst().first { !$0.contains("(in use)") }.map { String($0.prefix(8)) })
        let key = try #require(try files(in: repository(workspace) + "/keys").first { ($0 as NSString).lastPathComponent.hasPrefix(spare) })
        return (key, spare)
    }

    @Test(arguments: [0, 17, 40, 90])
    func aDamagedIndexFileIsIgnoredAndRebuiltFromThePacks(offset: Int) throws {
        let workspace = try backedUp()
        for index in try files(in: repository(workspace) + "/index") { try flip(index, at: offset) }
        let target = workspace.directory.subpath("restore")
        let restore = try workspace.run(["restore", "files", "--to", target])
        #expect(restore.status == 0, "\(restore.all)")
        #expect(restore.standardError.contains("is damaged") && restore.standardError.contains("its packs are read from their headers"), "\(restore.all)")
        #expect(TreeComparison.differences(workspace.source, workspace.restored(under: target)).isEmpty)
        #expect(try workspace.run(["snapshots", "files"]).status == 0)
        let verify = try workspace.run(["verify", "files"])
        #expect(verify.status == 1, "the damage is reported: \(verify.all)")
        #expect(verify.standardOutput.contains("the index file index/"), "\(verify.all)")

        let dry = try workspace.run(["repair", "files"])
        #expect(dry.status == 0 && dry.standardOutput.contains("would rewrite the index"), "\(dry.all)")
        let repaired = try workspace.run(["repair", "files", "--apply"])
        #expect(repaired.standardOutput.contains("rewrote the index"), "\(repaired.all)")
        let after = try workspace.run(["verify", "files", "--read-data"])
        #expect(after.status == 0 && after.standardError.isEmpty, "\(after.all)")
        #expect(try workspace.run(["backup", "-q"]).status == 0)
    }

    @Test func aDamagedSnapshotIsListedAsDamagedAndTheOthersWork() throws {
        let workspace = try backedUp(extra: "    retention: all\nretention: {all: {keep-jobs: 100}}\n")
        let snapshots = try files(in: repository(workspace) + "/snapshots")
        try flip(snapshots[0], at: 30)
        let listing = try workspace.run(["snapshots", "files"])
        #expect(listing.status == 1, "\(listing.all)")
        #expect(listing.standardOutput.contains("damaged"), "\(listing.all)")
        #expect(listing.standardOutput.components(separatedBy: "complete").count == 2, "the other one is listed: \(listing.all)")
        let target = workspace.directory.subpath("restore")
        let survivor = (snapshots[1] as NSString).lastPathComponent
        let restore = try workspace.run(["restore", "files", "--snapshot", String(survivor.prefix(8)), "--to", target])
        #expect(restore.status == 0, "\(restore.all)")
        // Prune cannot tell what the damaged one uses: it deletes nothing and says what to do.
        let prune = try workspace.run(["prune", "files", "--expire-other-writers"])
        #expect(prune.status == 1)
        #expect(prune.standardError.contains("deletes nothing"), "\(prune.all)")
        let repair = try workspace.run(["repair", "files", "--apply", "--remove-damaged"])
        #expect(repair.standardOutput.contains("set aside as damaged/snapshots/"), "\(repair.all)")
        #expect(FileManager.default.fileExists(atPath: repository(workspace) + "/damaged/snapshots/" + (snapshots[0] as NSString).lastPathComponent))
        #expect(try workspace.run(["snapshots", "files"]).status == 0)
        #expect(try workspace.run(["verify", "files", "--read-data"]).status == 0)
    }

    @Test func anUnreadableKeyFileIsSkippedListedAndRemovable() throws {
        let workspace = try backedUp()
        #expect(try files(in: repository(workspace) + "/keys").count == 2)
        // Broken JSON in the key file CAIRN_KEY does not need.
        let (key, id) = try spareKey(workspace)
        try Data("{\"broken".utf8).write(to: URL(fileURLWithPath: key))
        let listing = try workspace.run(["ls", "files"])
        #expect(listing.status == 0, "\(listing.all)")
        let list = try workspace.run(["key", "list", "files"])
        #expect(list.standardOutput.contains("damaged"), "\(list.all)")
        let verify = try workspace.run(["verify", "files"])
        #expect(verify.status == 1 && verify.standardOutput.contains("cannot be read"), "\(verify.all)")
        let remove = try workspace.run(["key", "remove", "files", id])
        #expect(remove.status == 0, "\(remove.all)")
        #expect(try workspace.run(["verify", "files"]).status == 0)
    }

    @Test func aFlippedByteInAWrappedKeyIsFoundByVerifyWithoutItsSecret() throws {
        let workspace = try backedUp()
        // The second key, which CAIRN_KEY does not open: verify has no secret for it.
        let (key, spare) = try spareKey(workspace)
        let text = String(decoding: try #require(FileManager.default.contents(atPath: key)), as: UTF8.self)
        let range = try #require(text.range(of: "\"wrapped\" : \""))
        var bytes = Array(text.utf8)
        // A letter or digit of the base64 text, not the "/" of an escaped "\/" (changing that
        // would break the JSON instead of the wrapped key).
        var at = text.utf8.distance(from: text.utf8.startIndex, to: range.upperBound) + 5
        func isAlphanumeric(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) }
        while !isAlphanumeric(bytes[at]) || bytes[at - 1] == UInt8(ascii: "\\") { at += 1 }
        bytes[at] = bytes[at] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        try Data(bytes).write(to: URL(fileURLWithPath: key))

        #expect(try workspace.run(["ls", "files"]).status == 0, "the key in use still opens it")
        let verify = try workspace.run(["verify", "files", "--read-data"])
        #expect(verify.status == 1, "\(verify.all)")
        #expect(verify.standardOutput.contains("checksum does not match"), "\(verify.all)")
        #expect(try workspace.run(["key", "list", "files"]).standardOutput.contains("\(spare)  damaged"))
    }

    @Test func aCraftedExtentOrPackHeaderIsDamageNotACrash() async throws {
        // Anyone who can write to an unencrypted destination can plant files.
        let workspace = try Workspace(algorithm: "none")
        try write(workspace.source + "/a", "a")
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        let storage = LocalFolderStorage(root: repository(workspace))
        let opened = try await Repository.open(storage: storage, passphrase: nil)
        let blob = try await opened.store(.blob, Array("sixteen bytes...".utf8))
        var evil = TreeEntry(name: Array("evil".utf8), kind: .file)
        evil.size = 16
        evil.content = [Extent(object: blob.id, offset: Int.max, length: 16)]
        let tree = try await opened.store(Tree(entries: [evil]))
        try await opened.flush()
        _ = try await opened.save(
            Snapshot(
                set: "files", host: RunEnvironment.live().hostName, user: "x", start: Timestamp(Date()), end: Timestamp(Date()), status: .complete, tree: tree.id,
                parent: nil, sources: [workspace.source], statistics: Snapshot.Statistics()))

        let target = workspace.directory.subpath("restore")
        let restore = try workspace.run(["restore", "files", "--to", target])
        #expect(restore.status == 1, "\(restore.all)")
        #expect(restore.standardError.contains("malformed") || restore.standardError.contains("damaged"), "\(restore.all)")
        let leftovers = (FileManager.default.enumerator(atPath: target)?.allObjects as? [String] ?? []).filter { $0.contains(".cairn-restore-") }
        #expect(leftovers.isEmpty, "\(leftovers)")

        // A pack whose header claims an object at offset 2^63 - 1, and no index lists it.
        var header = BinaryWriter()
        header.varint(1)
        header.varint(1)
        header.byte(ObjectKind.blob.rawValue)
        header.id(try .random())
        header.varint(UInt64(Int.max))
        header.varint(16)
        let box = try await opened.codec.seal(.packHeader, id: PackFormat.headerID, plaintext: header.bytes, compressor: Compressor(.default))
        var trailer = BinaryWriter()
        trailer.uint32LE(UInt32(box.count))
        let pack = try ObjectID.random().hex
        try FileManager.default.createDirectory(atPath: repository(workspace) + "/data/" + pack.prefix(2), withIntermediateDirectories: true)
        try Data(Array(repeating: 0, count: 32) + box + trailer.bytes).write(to: URL(fileURLWithPath: repository(workspace) + "/data/" + pack.prefix(2) + "/" + pack))
        for command in [["snapshots", "files"], ["ls", "files"], ["verify", "files"], ["backup", "-q"]] {
            let run = try workspace.run(command)
            #expect([0, 1, 3].contains(run.status), "\(command) ended by a signal: \(run.all)")
            #expect(run.standardError.contains("damaged header"), "\(command): \(run.all)")
        }
    }

    @Test func aDamagedDescriptorSaysSoInsteadOfWrongKeyOrNoRepository() throws {
        let workspace = try backedUp()
        let descriptor = repository(workspace) + "/cairn-repository"
        let original = try #require(FileManager.default.contents(atPath: descriptor))
        let text = String(decoding: original, as: UTF8.self)
        // A flipped digit of the id: the keys were made for the old id.
        let idRange = try #require(text.range(of: "\"id\" : \""))
        var bytes = Array(text.utf8)
        let at = text.utf8.distance(from: text.utf8.startIndex, to: idRange.upperBound) + 3
        bytes[at] = bytes[at] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
        try Data(bytes).write(to: URL(fileURLWithPath: descriptor))
        let flipped = try workspace.run(["snapshots", "files"])
        #expect(flipped.status == 1)
        #expect(flipped.standardError.contains("the descriptor") && flipped.standardError.contains("is damaged"), "\(flipped.all)")
        #expect(!flipped.standardError.contains("the key does not open"))
        // Broken JSON: damaged, not "no cairn-repository file".
        try Data(original.prefix(20)).write(to: URL(fileURLWithPath: descriptor))
        let broken = try workspace.run(["snapshots", "files"])
        #expect(broken.status == 1)
        #expect(broken.standardError.contains("is not valid JSON") && !broken.standardError.contains("no cairn-repository file"), "\(broken.all)")
        #expect(!broken.standardError.contains("DecodingError"))
    }

    @Test func aKeyCommandThatHangsIsStoppedWithAClearError() throws {
        let workspace = try Workspace()
        try workspace.directory.write("cairn.yaml", """
            version: 1
            accounts: {local: {destination: ./destination}}
            encryption: {default: {algorithm: aes-256-gcm, key: {command: "sleep 600", timeout: 1s}}}
            backup-sets:
              files: {account: local, sources: [./source]}
            """)
        try write(workspace.source + "/a", "a")
        let started = Date()
        let run = try workspace.run(["backup", "-q"])
        #expect(run.status == 1)
        #expect(run.standardError.contains("the secret's command did not finish within 1s"), "\(run.all)")
        #expect(Date().timeIntervalSince(started) < 30, "stopped, not waited for")
        let invalid = try workspace.directory.write("bad.yaml", """
            version: 1
            accounts: {local: {destination: ./destination}}
            encryption: {default: {algorithm: aes-256-gcm, key: {env: CAIRN_KEY, timeout: 5s}}}
            backup-sets:
              files: {account: local, sources: [./source]}
            """)
        let validate = try workspace.run(["validate", "-c", invalid])
        #expect(validate.status == 1 && validate.standardError.contains("timeout goes with command"), "\(validate.all)")
    }

    @Test func pruneRemovesKilledRunsLeftoversEvenWithoutARetentionPolicy() throws {
        let workspace = try backedUp()
        let leftover = repository(workspace) + "/data/00/.tmp-killed-pack"
        try write(leftover, "half a pack")
        let prune = try workspace.run(["prune", "files"])
        #expect(prune.status == 0, "\(prune.all)")
        #expect(prune.standardOutput.contains("removed 1 temporary file"), "\(prune.all)")
        #expect(!FileManager.default.fileExists(atPath: leftover))
        try write(leftover, "again")
        let repair = try workspace.run(["repair", "files", "--apply"])
        #expect(repair.standardOutput.contains("removed 1 temporary file"), "\(repair.all)")
    }

    @Test func aSecondBackupWhileTheFirstCreatesTheRepositoryIsToldItIsLocked() throws {
        let workspace = try Workspace()
        for index in 0..<30 { try write(workspace.source + "/f\(index)", String(repeating: "x", count: 1000 + index)) }
        // The first is slowed down while it stores files, after it created the repository.
        var slow = workspace
        slow.environment["CAIRN_FAULT_INJECTION"] = "file-stored:1:DELAY200"
        let first = Process()
        first.executableURL = URL(fileURLWithPath: workspace.cairn.executable)
        first.arguments = ["backup", "-q"]
        first.currentDirectoryURL = URL(fileURLWithPath: workspace.directory.path)
        first.environment = ProcessInfo.processInfo.environment.merging(slow.environment) { $1 }
        first.standardOutput = FileHandle.nullDevice
        first.standardError = FileHandle.nullDevice
        try first.run()
        // The second plans while there is no repository yet, or just after it appeared.
        usleep(300_000)
        let second = try workspace.run(["backup", "-q"])
        first.waitUntilExit()
        #expect(first.terminationStatus == 0)
        #expect(second.status == 1, "\(second.all)")
        #expect(second.standardError.contains("is locked"), "\(second.all)")
        #expect(!second.standardError.contains("already holds"))
    }
}
