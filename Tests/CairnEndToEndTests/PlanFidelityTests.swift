import CairnCore
import CairnTesting
import Foundation
import Testing



/// Issue 17: the plan is the whole truth. Over random trees and random edits of every kind
/// (content, metadata only, type changes, links, fifos, hard links, xattrs, removals), the set
/// of (path, change) that `plan --json` lists equals the set of entries whose recorded state
/// differs between the snapshots before and after the run (`ls --json`); the run expires
/// exactly the snapshots the plan listed; the bytes it stores lie within the plan's bounds.
@Suite("The plan is the whole truth")
struct PlanFidelityTests {
    /// The fields of `ls --json` that make an entry's recorded state.
    static let recorded = ["type", "mode", "uid", "gid", "user", "group", "size", "mtime", "ctime", "inode", "target", "rdev", "links", "xattrs", "content_hash"]

    func json(_ text: String) throws -> Any { try JSONSerialization.jsonObject(with: Data(text.utf8)) }

    /// A path's exact bytes (Swift strings would merge names that differ only in Unicode
    /// normalisation, and the generated trees have such names).
    static func key(_ item: [String: Any]) -> Data {
        if let base64 = item["path_base64"] as? String, let data = Data(base64Encoded: base64) { return data }
        return Data((item["path"] as? String ?? "").utf8)
    }

    /// path (exact bytes) -> recorded state, of the latest snapshot.
    func listing(_ workspace: Workspace) throws -> [Data: String] {
        let output = try workspace.run(["ls", "files", "--json"])
        let entries = try #require(try json(output.standardOutput) as? [[String: Any]], "\(output.all)")
        var result: [Data: String] = [:]
        for entry in entries {
            result[Self.key(entry)] = Self.recorded.map { field in
                // A dictionary's description has no fixed order: its pairs are sorted.
                if let map = entry[field] as? [String: Any] { return "\(field)=" + map.map { "\($0.key):\($0.value)" }.sorted().joined(separator: ",") }
                return "\(field)=\(String(describing: entry[field] ?? "-"))"
            }.joined(separator: " ")
        }
        return result
    }

    /// Random edits of every kind the plan must show, under `root`.
    func edit(_ root: String, random: inout SeededGenerator, round: Int) throws {
        let manager = FileManager.default
        func entries() -> [String] {
            (manager.enumerator(atPath: root)?.allObjects as? [String] ?? []).map { root + "/" + $0 }.sorted()
        }
        for step in 0..<Int.random(in: 3...9, using: &random) {
            let all = entries()
            let files = all.filter { (try? manager.attributesOfItem(atPath: $0)[.type] as? FileAttributeType) == .typeRegular }
            let folders = all.filter { (try? manager.attributesOfItem(atPath: $0)[.type] as? FileAttributeType) == .typeDirectory }
            let links = all.filter { (try? manager.attributesOfItem(atPath: $0)[.type] as? FileAttributeType) == .typeSymbolicLink }
            let here = folders.randomElement(using: &random) ?? root
            let name = here + "/e\(round)-\(step)"
            switch Int.random(in: 0..<18, using: &random) {
            case 0: try Data("new \(round) \(step)".utf8).write(to: URL(fileURLWithPath: name))
            case 1: if let file = files.randomElement(using: &random) { try Data("rewritten \(round)".utf8).write(to: URL(fileURLWithPath: file)) }
            case 2: if let file = files.randomElement(using: &random) { chmod(file, mode_t([0o600, 0o640, 0o755, 0o444].randomElement(using: &random)!)) }
            case 3: if let folder = folders.randomElement(using: &random) { chmod(folder, mode_t([0o700, 0o750, 0o755].randomElement(using: &random)!)) }
            case 4: try manager.createDirectory(atPath: name, withIntermediateDirectories: true)
            case 5: if let folder = folders.randomElement(using: &random) { try manager.removeItem(atPath: folder) }
            case 6:
                // A file becomes a folder.
                if let file = files.randomElement(using: &random) {
                    try manager.removeItem(atPath: file)
                    try manager.createDirectory(atPath: file, withIntermediateDirectories: false)
                    try Data("inside".utf8).write(to: URL(fileURLWithPath: file + "/inside"))
                }
            case 7:
                // A folder becomes a file.
                if let folder = folders.randomElement(using: &random) {
                    try manager.removeItem(atPath: folder)
                    try Data("was a folder".utf8).write(to: URL(fileURLWithPath: folder))
                }
            case 8: try manager.createSymbolicLink(atPath: name, withDestinationPath: "target-\(round)")
            case 9:
                if let link = links.randomElement(using: &random) {
                    try manager.removeItem(atPath: link)
                    try manager.createSymbolicLink(atPath: link, withDestinationPath: "elsewhere-\(round)-\(step)")
                }
            case 10:
                // A file becomes a link, or a link a file.
                if let file = files.randomElement(using: &random) {
                    try manager.removeItem(atPath: file)
                    try manager.createSymbolicLink(atPath: file, withDestinationPath: "was-a-file")
                }
            case 11:
                if let link = links.randomElement(using: &random) {
                    try manager.removeItem(atPath: link)
                    try Data("was a link".utf8).write(to: URL(fileURLWithPath: link))
                }
            case 12: mkfifo(name, 0o644)
            case 13: if let file = files.randomElement(using: &random) { link(file, name) }
            case 14: if let file = files.randomElement(using: &random) { TreeGenerator.setAttribute(file, "user.cairn", Array("v\(round)".utf8)) }
            case 15:
                if let file = files.randomElement(using: &random) {
                    var times = [timespec(tv_sec: 1_000_000_000 + round, tv_nsec: 7), timespec(tv_sec: 1_000_000_000 + round, tv_nsec: 7)]
                    utimensat(AT_FDCWD, file, &times, 0)
                }
            case 16: if let file = files.randomElement(using: &random) { try manager.removeItem(atPath: file) }
            default: if let entry = (files + links).randomElement(using: &random), getuid() == 0 { lchown(entry, 65534, 65534) }
            }
        }
    }

    @Test(arguments: Array(0..<100) as [UInt64])
    func thePlanListsExactlyWhatTheRunRecords(seed: UInt64) throws {
        let workspace = try Workspace(extra: "    retention: two\n    max-removed: off\nretention: {two: {keep-jobs: 2}}\n")
        var generator = TreeGenerator(root: workspace.source, seed: seed)
        _ = try generator.generate(files: 15, depth: 3)
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        var random = SeededGenerator(state: seed &* 7919 &+ 1)
        var before = try listing(workspace)
        // Two rounds a seed (the second starts from what the first left: type changes made,
        // links retargeted): 200 plans compared with what their runs recorded.
        for round in 1...2 {
            try edit(workspace.source, random: &random, round: round)
            let planned = try workspace.run(["plan", "--json"])
            #expect(planned.status == 0, "\(planned.all)")
            let plan = try #require(((try json(planned.standardOutput) as? [String: Any])?["plans"] as? [[String: Any]])?.first)
            let actions = try #require(plan["actions"] as? [[String: Any]])
            var listed: [Data: String] = [:]
            for action in actions {
                let key = Self.key(action)
                #expect(listed[key] == nil, "seed \(seed) round \(round): \(String(decoding: key, as: UTF8.self)) listed twice")
                listed[key] = action["action"] as? String
            }
            let expiring = Set(((plan["expirations"] as? [[String: Any]]) ?? []).compactMap { $0["snapshot"] as? String })
            let summary = try #require(plan["summary"] as? [String: Any])
            let snapshotsBefore = Set(try snapshotIDs(workspace))

            let backup = try workspace.run(["backup", "-q"])
            #expect(backup.status == 0, "seed \(seed) round \(round): \(backup.all)")
            let after = try listing(workspace)
            var recorded: [Data: String] = [:]
            for (path, state) in after where before[path] != state { recorded[path] = before[path] == nil ? "new" : "changed" }
            for path in before.keys where after[path] == nil { recorded[path] = "removed" }
            let extra = listed.filter { recorded[$0.key] != $0.value }.map { "\(String(decoding: $0.key, as: UTF8.self)) \($0.value): was \(before[$0.key] ?? "-") now \(after[$0.key] ?? "-")" }
            let missing = recorded.filter { listed[$0.key] != $0.value }.map { "\(String(decoding: $0.key, as: UTF8.self)) \($0.value): was \(before[$0.key] ?? "-") now \(after[$0.key] ?? "-")" }
            #expect(extra.isEmpty && missing.isEmpty, "seed \(seed) round \(round): planned, not so recorded: \(extra.sorted()); recorded, not so planned: \(missing.sorted())")

            // Exactly the expirations listed were carried out.
            let snapshotsAfter = Set(try snapshotIDs(workspace))
            #expect(snapshotsBefore.subtracting(snapshotsAfter) == expiring, "seed \(seed) round \(round)")
            // What was stored lies within the plan's bounds.
            let stored = try storedBytes(workspace)
            let minimum = summary["upload_minimum"] as? Int ?? 0, maximum = summary["upload_maximum"] as? Int ?? 0
            #expect(stored >= minimum && stored <= maximum, "seed \(seed) round \(round): stored \(stored), bounds \(minimum)...\(maximum)")
            before = after
        }
    }

    func snapshotIDs(_ workspace: Workspace) throws -> [String] {
        let rows = try #require(try json(try workspace.run(["snapshots", "files", "--json"]).standardOutput) as? [[String: Any]])
        return rows.compactMap { $0["id"] as? String }
    }

    /// The bytes the latest snapshot's run stored.
    func storedBytes(_ workspace: Workspace) throws -> Int {
        let rows = try #require(try json(try workspace.run(["snapshots", "files", "--json"]).standardOutput) as? [[String: Any]])
        let statistics = ((rows.last?["snapshot"] as? [String: Any])?["statistics"] as? [String: Any]) ?? [:]
        return statistics["bytesStored"] as? Int ?? -1
    }
}
