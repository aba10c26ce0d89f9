import CairnCore
import CairnTesting
import Foundation
import Testing

@Suite("Plan and apply")
struct PlanApplyTests {
    func write(_ workspace: Workspace, _ files: [String: String]) throws {
        for (name, text) in files {
            let path = workspace.source + "/" + name
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        }
    }

    func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    /// `PATH -> "SIZE MTIME"` of every file in the latest snapshot, keyed by the path's bytes
    /// (Swift strings would merge names that differ only in Unicode normalisation).
    func listing(_ workspace: Workspace) throws -> [[UInt8]: String] {
        let output = try workspace.run(["ls", "files", workspace.source])
        var result: [[UInt8]: String] = [:]
        for line in output.standardOutput.split(separator: "\n") where line.hasPrefix("-") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            // Mode, size, date, time, zone offset, path.
            guard parts.count >= 6 else { continue }
            result[Array(parts[5...].joined(separator: " ").utf8)] = "\(parts[1]) \(parts[2]) \(parts[3]) \(parts[4])"
        }
        return result
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func applyTouchesExactlyWhatThePlanLists(seed: UInt64) throws {
        let workspace = try Workspace()
        var generator = TreeGenerator(root: workspace.source, seed: seed)
        let files = try generator.generate(files: 30)
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        let before = try listing(workspace)

        // Random edits: rewrite, append, touch, delete, add.
        var random = SeededGenerator(state: seed)
        var edited: Set<String> = []
        for relative in files.shuffled(using: &random).prefix(12) {
            let path = workspace.source + "/" + String(decoding: relative, as: UTF8.self)
            guard String(validating: relative, as: UTF8.self) != nil, FileManager.default.fileExists(atPath: path) else { continue }
            switch Int.random(in: 0..<4, using: &random) {
            case 0: try Data("rewritten \(seed)".utf8).write(to: URL(fileURLWithPath: path))
            case 1:
                let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
                try handle.seekToEnd()
                try handle.write(contentsOf: Data("appended".utf8))
                try handle.close()
            case 2:
                var times = [timespec(tv_sec: 1_000_000_000, tv_nsec: 5), timespec(tv_sec: 1_000_000_000, tv_nsec: 5)]
                utimensat(AT_FDCWD, path, &times, 0)
            default: try FileManager.default.removeItem(atPath: path)
            }
            edited.insert(path)
        }
        try Data("brand new".utf8).write(to: URL(fileURLWithPath: workspace.source + "/deep/added.txt"))

        let planOutput = try workspace.run(["plan", "--json"])
        #expect(planOutput.status == 0, "\(planOutput.all)")
        #expect(try Workspace.validate(planOutput.standardOutput, against: "schemas/plan.schema.json").hasPrefix("valid"))
        let document = try json(planOutput.standardOutput)
        let plan = try #require((document["plans"] as? [[String: Any]])?.first)
        let actions = try #require(plan["actions"] as? [[String: Any]])
        let planned = Set(actions.filter { ($0["action"] as? String) != "removed" }.compactMap { ($0["path"] as? String).map { Array($0.utf8) } })
        let plannedRemovals = Set(actions.filter { ($0["action"] as? String) == "removed" }.compactMap { ($0["path"] as? String).map { Array($0.utf8) } })
        let statusOnly = Set(actions.filter { ($0["change"] as? String) == "metadata" }.compactMap { ($0["path"] as? String).map { Array($0.utf8) } })
        let summary = try #require(plan["summary"] as? [String: Any])

        let apply = try workspace.run(["apply", "--yes", "-q"])
        #expect(apply.status == 0, "\(apply.all)")
        let after = try listing(workspace)
        let touched = Set(after.keys.filter { before[$0] != after[$0] })
        let gone = Set(before.keys.filter { after[$0] == nil })
        // Every file written was planned; a planned file shows no new size or time only when
        // just its status (ctime: links, owner, mode) changed.
        #expect(touched.isSubset(of: planned), "written but not planned: \(touched.subtracting(planned).map { String(decoding: $0, as: UTF8.self) })")
        #expect(planned.subtracting(touched).filter { after[$0] != nil }.isSubset(of: statusOnly))
        #expect(!touched.isEmpty)
        #expect(gone == plannedRemovals.filter { before[$0] != nil })

        let log = try json(try workspace.run(["log", "files", "--json"]).standardOutput.replacingOccurrences(of: "^\\[", with: "{\"r\":[", options: .regularExpression) + "}")
        let reports = try #require(log["r"] as? [[String: Any]])
        let statistics = try #require(reports.last?["statistics"] as? [String: Any])
        let stored = try #require(statistics["bytesStored"] as? Int)
        #expect(stored >= summary["upload_minimum"] as? Int ?? -1)
        #expect(stored <= summary["upload_maximum"] as? Int ?? -1, "stored \(stored) within the plan's estimate")
    }

    /// The estimate leaves out copies (same size, same probed bytes) but not files that only
    /// share a size, large (three probes) or small (read whole).
    @Test func theUploadEstimateCountsCopiesOnce() throws {
        let workspace = try Workspace()
        var generator = SeededGenerator(state: 17)
        func random(_ count: Int) -> Data { Data((0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }) }
        let large = random(40_000), small = random(6_000)
        try FileManager.default.createDirectory(atPath: workspace.source, withIntermediateDirectories: true)
        for index in 0..<30 {
            try large.write(to: URL(fileURLWithPath: workspace.source + "/large-copy-\(index)"))
            try small.write(to: URL(fileURLWithPath: workspace.source + "/small-copy-\(index)"))
        }
        for index in 0..<60 { try random(40_000).write(to: URL(fileURLWithPath: workspace.source + "/large-\(index)")) }
        for index in 0..<20 { try random(6_000).write(to: URL(fileURLWithPath: workspace.source + "/small-\(index)")) }
        // The same first, middle and last 4 KiB, a different byte between them: not a copy.
        var nearCopy = large
        nearCopy[10_000] ^= 1
        try nearCopy.write(to: URL(fileURLWithPath: workspace.source + "/near-copy"))

        let planOutput = try workspace.run(["plan", "--json"])
        #expect(planOutput.status == 0, "\(planOutput.all)")
        let plan = try #require((try json(planOutput.standardOutput)["plans"] as? [[String: Any]])?.first)
        let estimate = try #require((plan["summary"] as? [String: Any])?["upload_estimate"] as? Int)
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        let log = try json(try workspace.run(["log", "files", "--json"]).standardOutput.replacingOccurrences(of: "^\\[", with: "{\"r\":[", options: .regularExpression) + "}")
        let stored = try #require(((log["r"] as? [[String: Any]])?.last?["statistics"] as? [String: Any])?["bytesStored"] as? Int)
        // Unique content: 61 large and 21 small files, about 2.57 MB; counting the copies
        // would add 1.37 MB. The near copy is estimated as a copy (its probes match): 40 kB.
        #expect(stored > 2_500_000)
        #expect(Double(estimate) > Double(stored) * 0.9 && Double(estimate) < Double(stored) * 1.1, "estimate \(estimate), stored \(stored)")
    }

    @Test func aSavedPlanIsCarriedOutOnceAndRefusedWhenItsBaseChanged() throws {
        let workspace = try Workspace()
        try write(workspace, ["a.txt": "a", "b.txt": "b"])
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        try write(workspace, ["a.txt": "a changed"])
        let planFile = workspace.directory.subpath("plan.json")
        let saved = try workspace.run(["plan", "--out", planFile])
        #expect(saved.standardOutput.contains("Saved the plan to \(planFile)"))

        let apply = try workspace.run(["apply", "--plan", planFile])
        #expect(apply.status == 0, "\(apply.all)")
        // The job report keeps the estimate the saved plan showed (the run plans again, unseen).
        let savedEstimate = try #require(
            ((try json(String(contentsOfFile: planFile, encoding: .utf8))["plans"] as? [[String: Any]])?.first?["summary"] as? [String: Any])?["upload_estimate"] as? Int)
        let reports = try #require(try JSONSerialization.jsonObject(with: Data(try workspace.run(["log", "files", "--json"]).standardOutput.utf8)) as? [[String: Any]])
        let applied = try #require(reports.compactMap { $0["plan"] as? [String: Any] }.first { $0["changedFiles"] as? Int == 1 })
        #expect(applied["uploadEstimate"] as? Int == savedEstimate, "\(applied)")
        let again = try workspace.run(["apply", "--plan", planFile])
        #expect(again.status == 1)
        #expect(again.standardError.contains("someone backed up since (or cairn tag gave it a new id); make a new plan"), "\(again.all)")
        #expect(again.standardError.components(separatedBy: "backup set 'files'").count == 2, "the set named once: \(again.all)")

        let second = workspace.directory.subpath("plan2.json")
        #expect(try workspace.run(["plan", "--out", second]).status == 0)
        let config = try String(contentsOfFile: workspace.directory.subpath("cairn.yaml"), encoding: .utf8)
        try (config + "    compression: zlib\n").write(toFile: workspace.directory.subpath("cairn.yaml"), atomically: true, encoding: .utf8)
        let changed = try workspace.run(["apply", "--plan", second])
        #expect(changed.status == 1)
        #expect(changed.standardError.contains("the config changed since"))
        // Only meaning counts: a comment is no change.
        try (config + "# a comment\n").write(toFile: workspace.directory.subpath("cairn.yaml"), atomically: true, encoding: .utf8)
        #expect(try workspace.run(["apply", "--plan", second]).status == 0)
    }

    @Test func driftIsReportedAndStrictRefuses() throws {
        let workspace = try Workspace()
        try write(workspace, ["planned.txt": "one", "other.txt": "other"])
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        try write(workspace, ["planned.txt": "two"])
        let planFile = workspace.directory.subpath("plan.json")
        #expect(try workspace.run(["plan", "--out", planFile]).status == 0)
        // After planning: the planned file changes again, another changes, a file appears.
        try write(workspace, ["planned.txt": "three!", "other.txt": "changed late", "late.txt": "late"])

        let strict = try workspace.run(["apply", "--plan", planFile, "--strict"])
        #expect(strict.status == 1)
        #expect(strict.standardError.contains("changed since the plan was made (--strict)"))
        #expect(try workspace.run(["snapshots", "files"]).standardOutput.split(separator: "\n").count == 2, "nothing was stored")

        let apply = try workspace.run(["apply", "--plan", planFile])
        #expect(apply.status == 3, "drift is not success: \(apply.all)")
        #expect(apply.standardError.contains("1 planned entry had changed since the plan and was backed up as it is now"))
        #expect(apply.standardOutput.contains("drifted: \(workspace.source)/planned.txt"))
        #expect(apply.standardOutput.contains("not in the plan: \(workspace.source)/other.txt: waits for the next plan"))
        #expect(apply.standardOutput.contains("not in the plan: \(workspace.source)/late.txt"))
        let listed = try listing(workspace)
        #expect(Set(listed.keys) == [Array((workspace.source + "/other.txt").utf8), Array((workspace.source + "/planned.txt").utf8)])
        let target = workspace.directory.subpath("restore")
        #expect(try workspace.run(["restore", "files", "--to", target]).status == 0)
        #expect(try String(contentsOfFile: workspace.restored(under: target) + "/planned.txt", encoding: .utf8) == "three!")
        #expect(try String(contentsOfFile: workspace.restored(under: target) + "/other.txt", encoding: .utf8) == "other")
    }

    @Test func applyAsksAndRefusesWithoutATerminal() throws {
        let workspace = try Workspace()
        try write(workspace, ["a.txt": "a"])
        let refused = try workspace.run(["apply"])
        #expect(refused.status == 1)
        #expect(refused.standardError.contains("there is no terminal to ask on: use --yes"))
        #expect(try workspace.run(["apply", "--yes", "-q"]).status == 0)
        let nothing = try workspace.run(["apply", "--yes"])
        #expect(nothing.status == 0)
        #expect(nothing.standardOutput.contains("No changes.") && nothing.standardOutput.contains("files: snapshot "), "a run records a snapshot, as backup does: \(nothing.all)")
    }

    /// Retention due and no file changed: the plan lists the expirations, has changes, and
    /// apply and backup carry out exactly those.
    @Test(arguments: ["apply", "backup"])
    func expirationsAloneAreChangesAndAreCarriedOutAsListed(command: String) throws {
        let workspace = try Workspace(extra: "    retention: keep\nretention: {keep: {keep-jobs: 5}}\n")
        try write(workspace, ["a.txt": "a"])
        for _ in 0..<4 { #expect(try workspace.run(["backup", "-q"]).status == 0) }
        let config = try String(contentsOfFile: workspace.directory.subpath("cairn.yaml"), encoding: .utf8)
        try workspace.directory.write("cairn.yaml", config.replacingOccurrences(of: "keep-jobs: 5", with: "keep-jobs: 2"))
        let plan = try workspace.run(["plan", "--detailed-exitcode", "--json"])
        #expect(plan.status == 2, "expirations only are changes: \(plan.all)")
        let document = try json(plan.standardOutput)
        let listed = Set((((document["plans"] as? [[String: Any]])?.first?["expirations"] as? [[String: Any]]) ?? []).compactMap { $0["snapshot"] as? String })
        #expect(listed.count == 3, "4 snapshots and the run's, keep 2: \(listed)")
        let before = Set(try snapshotIDs(workspace))
        let run = try workspace.run(command == "apply" ? ["apply", "--yes", "-q"] : ["backup", "-q"])
        #expect(run.status == 0, "\(run.all)")
        let after = Set(try snapshotIDs(workspace))
        #expect(before.subtracting(after) == listed, "\(command) expired exactly what the plan listed")
        #expect(after.count == 2)
    }

    func snapshotIDs(_ workspace: Workspace) throws -> [String] {
        let rows = try JSONSerialization.jsonObject(with: Data(try workspace.run(["snapshots", "files", "--json"]).standardOutput.utf8)) as? [[String: Any]]
        return (rows ?? []).compactMap { $0["id"] as? String }
    }

    /// One golden plan with every kind of change the plan shows (issue 17's table).
    @Test func everyKindOfChangeHasItsLine() throws {
        var workspace = try Workspace()
        workspace.environment["NO_COLOR"] = "1"
        let manager = FileManager.default
        try makeEveryKindOfEntry(workspace)
        #expect(try workspace.run(["backup", "-q"]).status == 0)

        // Excluded from now on: told apart from deleted.
        let config = try String(contentsOfFile: workspace.directory.subpath("cairn.yaml"), encoding: .utf8)
        try workspace.directory.write("cairn.yaml", config.replacingOccurrences(of: "sources: [./source]", with: "sources: [./source]\n    exclude: [./source/kept]"))
        try makeEveryKindOfChange(workspace)

        let text = try workspace.run(["plan", "-v"]).standardOutput
            .replacingOccurrences(of: workspace.directory.path, with: "WORKSPACE")
            .replacingOccurrences(of: "[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9:.]+(Z| [+-][0-9]{2}:[0-9]{2}| UTC)", with: "TIME", options: .regularExpression)
        let path = SourceTree.path("Tests/Fixtures/golden/plan-kinds.txt")
        if ProcessInfo.processInfo.environment["CAIRN_UPDATE_GOLDEN"] == "1" { try text.write(toFile: path, atomically: true, encoding: .utf8) }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == text, "\(text)")
        // Only links, folders and fifos changed: still changes, and apply carries them out.
        let quiet = try Workspace()
        try write(quiet, ["a": "a"])
        #expect(try quiet.run(["backup", "-q"]).status == 0)
        try manager.createSymbolicLink(atPath: quiet.source + "/l", withDestinationPath: "a")
        let plan = try quiet.run(["plan", "--detailed-exitcode"])
        #expect(plan.status == 2, "\(plan.all)")
        #expect(plan.standardOutput.contains("+ \(quiet.source)/l -> a"))
        #expect(try quiet.run(["apply", "--yes", "-q"]).status == 0)
        #expect(try quiet.run(["plan"]).standardOutput == "No changes.\n")
    }

    /// The entries `makeEveryKindOfChange` changes.
    func makeEveryKindOfEntry(_ workspace: Workspace) throws {
        let manager = FileManager.default
        try write(workspace, [
            "content.txt": "old", "metadata.txt": "same", "to-folder": "a file", "to-link": "a file", "gone.txt": "x",
            "folder-to-file/inner.txt": "i", "folder-chmod/keep.txt": "k", "kept/excluded-later": "e",
        ])
        try manager.createSymbolicLink(atPath: workspace.source + "/link", withDestinationPath: "content.txt")
        try manager.createSymbolicLink(atPath: workspace.source + "/link-to-file", withDestinationPath: "content.txt")
        mkfifo(workspace.source + "/old-fifo", 0o644)
    }

    /// Every kind of change a plan shows (issue 17's table): content, mode, types changed both
    /// ways, a link retargeted, entries new and gone of every type, a hard link.
    func makeEveryKindOfChange(_ workspace: Workspace) throws {
        let manager = FileManager.default
        try write(workspace, ["content.txt": "new content"])
        chmod(workspace.source + "/metadata.txt", 0o600)
        try manager.removeItem(atPath: workspace.source + "/to-folder")
        try write(workspace, ["to-folder/under.txt": "u"])
        try manager.removeItem(atPath: workspace.source + "/to-link")
        try manager.createSymbolicLink(atPath: workspace.source + "/to-link", withDestinationPath: "content.txt")
        try manager.removeItem(atPath: workspace.source + "/gone.txt")
        try manager.removeItem(atPath: workspace.source + "/folder-to-file")
        try write(workspace, ["folder-to-file": "now a file"])
        chmod(workspace.source + "/folder-chmod", 0o700)
        try manager.removeItem(atPath: workspace.source + "/link")
        try manager.createSymbolicLink(atPath: workspace.source + "/link", withDestinationPath: "metadata.txt")
        try manager.removeItem(atPath: workspace.source + "/link-to-file")
        try write(workspace, ["link-to-file": "now a file"])
        try manager.createSymbolicLink(atPath: workspace.source + "/new-link", withDestinationPath: "../elsewhere")
        try manager.createDirectory(atPath: workspace.source + "/new-empty", withIntermediateDirectories: false)
        try write(workspace, ["new-folder/deeper/file.txt": "n"])
        mkfifo(workspace.source + "/new-fifo", 0o644)
        try manager.removeItem(atPath: workspace.source + "/old-fifo")
        link(workspace.source + "/content.txt", workspace.source + "/hard-link")
    }

    /// The action lines of a plan (`-v`): what it would do, without its header and totals.
    func actionLines(_ workspace: Workspace) throws -> [String] {
        let plan = try workspace.run(["plan", "-v"])
        return plan.standardOutput.split(separator: "\n").map(String.init).filter { ["+", "~", "-"].contains($0.first.map(String.init) ?? "") }
    }

    /// Saves a plan, applies it (with `options`), and expects no entry drifted, waiting or
    /// vanished, and nothing left to plan.
    func expectSavedPlanCarriedOutWhole(_ workspace: Workspace, options: [String] = []) throws {
        let planFile = workspace.directory.subpath("plan.json")
        #expect(try workspace.run(["plan", "--out", planFile]).status == 0)
        let apply = try workspace.run(["apply", "--plan", planFile] + options)
        #expect(apply.status == 0, "\(apply.all)")
        for word in ["drifted:", "not in the plan:", "vanished:"] { #expect(!apply.all.contains(word), "\(apply.all)") }
        #expect(try workspace.run(["plan"]).standardOutput == "No changes.\n")
    }

    /// A saved plan of every kind of change, applied as made: no entry drifted, waits or
    /// vanished (new folders were once reported as vanished), and nothing is left to plan.
    @Test func aSavedPlanOfEveryKindOfChangeIsCarriedOutWhole() throws {
        var workspace = try Workspace()
        workspace.environment["NO_COLOR"] = "1"
        try makeEveryKindOfEntry(workspace)
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        try makeEveryKindOfChange(workspace)
        try expectSavedPlanCarriedOutWhole(workspace)
    }

    /// Every kind of change made after a plan that had none waits for the next plan: the
    /// snapshot records every entry as the last one did (files, folders' own attributes,
    /// links, fifos, what is gone and what is new), and the next plan shows them all.
    @Test func changesMadeAfterThePlanWaitForTheNextPlan() throws {
        var workspace = try Workspace()
        workspace.environment["NO_COLOR"] = "1"
        try makeEveryKindOfEntry(workspace)
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        // Every entry, with its attributes and content, but not the snapshot it is listed from.
        func entries() throws -> [Substring] {
            try workspace.run(["ls", "files", workspace.source, "--json"]).standardOutput.split(separator: "\n").filter { !$0.contains("\"snapshot\" :") }
        }
        let before = try entries()
        #expect(before.count > 100)
        let planFile = workspace.directory.subpath("plan.json")
        #expect(try workspace.run(["plan", "--out", planFile]).status == 0)
        try makeEveryKindOfChange(workspace)
        let pending = try actionLines(workspace)
        #expect(pending.count > 15, "\(pending)")

        let apply = try workspace.run(["apply", "--plan", planFile])
        #expect(apply.status == 0, "\(apply.all)")
        #expect(!apply.all.contains("vanished:") && !apply.all.contains("drifted:"), "\(apply.all)")
        for name in ["content.txt", "metadata.txt", "to-folder", "to-link", "gone.txt", "folder-to-file", "folder-chmod", "link", "new-link", "new-folder", "new-fifo", "old-fifo"] {
            #expect(apply.standardOutput.contains("not in the plan: \(workspace.source)/\(name): waits for the next plan"), "\(name): \(apply.all)")
        }
        // What is under a new folder waits with it.
        #expect(!apply.standardOutput.contains("new-folder/deeper"), "\(apply.all)")
        #expect(try snapshotIDs(workspace).count == 2)
        #expect(try entries() == before)
        #expect(try actionLines(workspace) == pending)
    }

    /// Sources nested in one another, and sources whose paths sort otherwise than their
    /// names (`a-c` before `a/b` as bytes, after `a` as names): the folders leading to them
    /// are in name order, as the plan walks them, and a saved plan of changes in each is
    /// carried out whole.
    @Test(arguments: ["sources: [./source, ./source/a/b]", "sources: [./source/a/b, ./source/a-c]"])
    func aSavedPlanOfNestedSourcesIsCarriedOutWhole(sources: String) throws {
        let workspace = try Workspace()
        try write(workspace, ["a/b/x": "1", "a/c/y": "1", "a-c/z": "1", "top": "1"])
        let config = try String(contentsOfFile: workspace.directory.subpath("cairn.yaml"), encoding: .utf8)
        try workspace.directory.write("cairn.yaml", config.replacingOccurrences(of: "sources: [./source]", with: sources))
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        try write(workspace, ["a/b/x": "22", "a/c/y": "22", "a-c/z": "22", "top": "22"])
        try expectSavedPlanCarriedOutWhole(workspace)
    }

    /// A first backup through a saved plan, written beside the source: the folders leading
    /// to the source change with what happens in them (the plan file itself), which is no
    /// drift; the source's own folder is compared as any other.
    @Test func aFirstBackupThroughASavedPlanIsNotDriftedByItsOwnFile() throws {
        let workspace = try Workspace()
        try write(workspace, ["a": "1"])
        let planFile = workspace.directory.subpath("plan.json")
        #expect(try workspace.run(["plan", "--out", planFile]).status == 0)
        try Data("beside".utf8).write(to: URL(fileURLWithPath: workspace.directory.subpath("beside.txt")))
        let apply = try workspace.run(["apply", "--plan", planFile, "--strict"])
        #expect(apply.status == 0, "\(apply.all)")
        #expect(!apply.all.contains("drifted"), "\(apply.all)")
        #expect(try workspace.run(["plan"]).standardOutput == "No changes.\n")
    }

    /// What the plan lists under an entry that is gone, excluded or retyped is removed with it:
    /// never drifted (an excluded folder's files are still on disk, or behind a link now).
    @Test func removalsUnderAnExcludedOrRetypedFolderAreNoDrift() throws {
        let workspace = try Workspace()
        try write(workspace, ["x/a": "a", "x/sub/b": "b", "d/a": "a", "other/a": "o", "keep": "k"])
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        let config = try String(contentsOfFile: workspace.directory.subpath("cairn.yaml"), encoding: .utf8)
        try workspace.directory.write("cairn.yaml", config.replacingOccurrences(of: "sources: [./source]", with: "sources: [./source]\n    exclude: [./source/x]"))
        try FileManager.default.removeItem(atPath: workspace.source + "/d")
        try FileManager.default.createSymbolicLink(atPath: workspace.source + "/d", withDestinationPath: "other")
        try expectSavedPlanCarriedOutWhole(workspace, options: ["--strict"])
    }

    /// A planned folder whose mode changes again, and a planned link made again elsewhere,
    /// are backed up as they are now and listed as drifted; a folder whose removal was planned
    /// and that is made again waits, with what is in it, and nothing under it is called drifted.
    @Test func plannedFoldersAndLinksThatChangeAgainDrift() throws {
        let workspace = try Workspace()
        try write(workspace, ["e/f": "1", "gone/a": "a", "keep": "k"])
        try FileManager.default.createSymbolicLink(atPath: workspace.source + "/link", withDestinationPath: "keep")
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        chmod(workspace.source + "/e", 0o750)
        try FileManager.default.removeItem(atPath: workspace.source + "/gone")
        try FileManager.default.removeItem(atPath: workspace.source + "/link")
        try FileManager.default.createSymbolicLink(atPath: workspace.source + "/link", withDestinationPath: "e")
        let planFile = workspace.directory.subpath("plan.json")
        #expect(try workspace.run(["plan", "--out", planFile]).status == 0)
        chmod(workspace.source + "/e", 0o700)
        try FileManager.default.removeItem(atPath: workspace.source + "/link")
        try FileManager.default.createSymbolicLink(atPath: workspace.source + "/link", withDestinationPath: "e/f")
        try write(workspace, ["gone/a": "again"])

        let apply = try workspace.run(["apply", "--plan", planFile])
        #expect(apply.status == 3, "\(apply.all)")
        #expect(apply.standardOutput.contains("drifted: \(workspace.source)/e ("), "\(apply.all)")
        #expect(apply.standardOutput.contains("drifted: \(workspace.source)/link (target e -> e/f)"), "\(apply.all)")
        #expect(apply.standardOutput.contains("not in the plan: \(workspace.source)/gone: waits for the next plan"), "\(apply.all)")
        #expect(!apply.standardOutput.contains("gone/a"), "\(apply.all)")
        let listing = try workspace.run(["ls", "files", workspace.source]).standardOutput
        #expect(listing.contains("d0700") && listing.contains("/link -> e/f") && !listing.contains("/gone"), "\(listing)")
    }

    /// A folder is compared by what it is itself (mode, owner, inode), not by its times: a
    /// file added to a planned folder after the plan waits, and the folder is no drift; a
    /// planned folder leading to a source whose mode changes again is, and --strict refuses.
    @Test func plannedFoldersDriftByTheirModeNotTheirTimes() throws {
        let workspace = try Workspace()
        try write(workspace, ["inner/f": "1", "inner/d/g": "1"])
        let config = try String(contentsOfFile: workspace.directory.subpath("cairn.yaml"), encoding: .utf8)
        try workspace.directory.write("cairn.yaml", config.replacingOccurrences(of: "sources: [./source]", with: "sources: [./source/inner]"))
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        try write(workspace, ["inner/d/new": "planned"])
        chmod(workspace.source, 0o750)
        let planFile = workspace.directory.subpath("plan.json")
        let plan = try workspace.run(["plan", "--out", planFile, "-v"])
        #expect(plan.standardOutput.contains("~ \(workspace.source): mode 0755 -> 0750"), "\(plan.all)")
        #expect(plan.standardOutput.contains("~ \(workspace.source)/inner/d: "), "\(plan.all)")

        // Added after the plan: waits; its folder's times changed, which is no drift.
        try write(workspace, ["inner/d/late": "late"])
        let apply = try workspace.run(["apply", "--plan", planFile, "--strict"])
        #expect(apply.status == 0, "\(apply.all)")
        #expect(apply.standardOutput.contains("not in the plan: \(workspace.source)/inner/d/late: waits for the next plan"), "\(apply.all)")
        #expect(!apply.all.contains("drifted"), "\(apply.all)")

        // A folder leading to the source, planned, whose mode changes again: drifted.
        chmod(workspace.source, 0o700)
        let second = workspace.directory.subpath("plan2.json")
        #expect(try workspace.run(["plan", "--out", second]).status == 0)
        chmod(workspace.source, 0o755)
        let strict = try workspace.run(["apply", "--plan", second, "--strict"])
        #expect(strict.status == 1, "\(strict.all)")
        #expect(strict.standardError.contains("1 planned entry changed since the plan was made (--strict): \(workspace.source)"), "\(strict.all)")
    }

    /// A plan whose actions are not in the order of the walk (edited, or from a cairn that
    /// listed them otherwise) is refused before anything is stored, not misread.
    @Test func aPlanOutOfTheWalksOrderIsRefused() throws {
        let workspace = try Workspace()
        try write(workspace, ["a": "1", "b": "1"])
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        try write(workspace, ["a": "22", "b": "22"])
        let planFile = workspace.directory.subpath("plan.json")
        #expect(try workspace.run(["plan", "--out", planFile]).status == 0)
        var document = try json(String(contentsOfFile: planFile, encoding: .utf8))
        var plans = try #require(document["plans"] as? [[String: Any]])
        let actions = try #require(plans[0]["actions"] as? [[String: Any]])
        #expect(actions.count == 2)
        plans[0]["actions"] = Array(actions.reversed())
        document["plans"] = plans
        try JSONSerialization.data(withJSONObject: document).write(to: URL(fileURLWithPath: planFile))
        let apply = try workspace.run(["apply", "--plan", planFile])
        #expect(apply.status == 1, "\(apply.all)")
        #expect(apply.standardError.contains("the plan's actions are not in the order of the walk at \(workspace.source)/a"), "\(apply.all)")
        #expect(try snapshotIDs(workspace).count == 1)
    }

    @Test func theTextOfAPlanMatchesItsGoldenFiles() throws {
        var workspace = try Workspace()
        workspace.environment["NO_COLOR"] = "1"
        try write(workspace, ["docs/a.txt": "aaaa", "docs/b.txt": String(repeating: "b", count: 1500), "notes.md": "n"])
        func text(_ arguments: [String]) throws -> String {
            try workspace.run(arguments).standardOutput
                .replacingOccurrences(of: workspace.directory.path, with: "WORKSPACE")
                .replacingOccurrences(of: "[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9:.]+(Z| [+-][0-9]{2}:[0-9]{2}| UTC)", with: "TIME", options: .regularExpression)
        }
        /// The golden file's text; `CAIRN_UPDATE_GOLDEN=1` rewrites it from `actual` instead.
        func matches(_ actual: String, _ name: String) throws -> Bool {
            let path = SourceTree.path("Tests/Fixtures/golden/\(name)")
            if ProcessInfo.processInfo.environment["CAIRN_UPDATE_GOLDEN"] == "1" {
                try actual.write(toFile: path, atomically: true, encoding: .utf8)
            }
            return try String(contentsOfFile: path, encoding: .utf8) == actual
        }
        #expect(try matches(text(["plan"]), "plan-first.txt"))
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        try write(workspace, ["docs/a.txt": "aaaaaaaa"])
        try FileManager.default.removeItem(atPath: workspace.source + "/notes.md")
        for number in 0..<60 { try write(workspace, ["many/sub\(number % 3)/f\(number).txt": "x"]) }
        #expect(try matches(text(["plan"]), "plan-folded.txt"))
        let verbose = try text(["plan", "-v"])
        // Every entry: the source folder, a.txt, many/ and its three folders, 60 files, notes.md.
        #expect(verbose.split(separator: "\n").count == 68)
    }

    @Test func aRenamedSetAndAChangedAlgorithmAreExplained() throws {
        let workspace = try Workspace()
        try write(workspace, ["a.txt": "a"])
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        let config = try String(contentsOfFile: workspace.directory.subpath("cairn.yaml"), encoding: .utf8)
        try config.replacingOccurrences(of: "  files:", with: "  papers:").write(toFile: workspace.directory.subpath("cairn.yaml"), atomically: true, encoding: .utf8)
        let renamed = try workspace.run(["plan"])
        #expect(renamed.standardOutput.contains("+ set papers: new repository at"))
        #expect(renamed.standardOutput.contains("a renamed set keeps its data with 'repository: files'"))

        try config.replacingOccurrences(of: "aes-256-gcm", with: "chacha20-poly1305").write(toFile: workspace.directory.subpath("cairn.yaml"), atomically: true, encoding: .utf8)
        let algorithm = try workspace.run(["plan"])
        #expect(algorithm.status == 1)
        #expect(algorithm.standardError.contains("the algorithm of a set cannot change: create a new set"))
    }

    @Test func theLogKeepsEveryJob() throws {
        let workspace = try Workspace(extra: "    commands: {pre: [{name: hello, run: \"echo hello from pre\"}]}\n")
        try write(workspace, ["a.txt": "a"])
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        #expect(try workspace.run(["backup", "-q"]).status == 0)
        let list = try workspace.run(["log", "files"])
        let rows = list.standardOutput.split(separator: "\n")
        #expect(rows.count == 3, "\(list.all)")
        #expect(rows[1].contains("complete"))
        let job = String(rows[1].prefix(8))
        let details = try workspace.run(["log", "files", job])
        #expect(details.standardOutput.contains("pre-command hello: exit status 0"))
        #expect(details.standardOutput.contains("  | hello from pre"))
        #expect(details.standardOutput.contains("read 1 files"))
        #expect(FileManager.default.fileExists(atPath: workspace.directory.subpath("state/cairn/logs/files")))
    }
}

@Suite("apply on a terminal")
struct ApplyTerminalTests {
    func onTerminal(_ workspace: Workspace, _ arguments: [String], input: String, environment extra: [String: String] = [:]) throws -> String {
        try workspace.onTerminal(arguments, input: input, environment: extra)
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script")))
    func applyAsksAndOnlyYesProceeds() throws {
        let workspace = try Workspace()
        try FileManager.default.createDirectory(atPath: workspace.source, withIntermediateDirectories: true)
        try Data("a".utf8).write(to: URL(fileURLWithPath: workspace.source + "/a.txt"))

        let declined = try onTerminal(workspace, ["apply"], input: "y\n")
        #expect(declined.contains("Apply the plan of backup set 'files'? Only 'yes' is accepted:"))
        #expect(declined.contains("files: cancelled; nothing was stored"))
        #expect(declined.contains("\u{1B}[32m+ "), "colour on a terminal")
        #expect(!FileManager.default.fileExists(atPath: workspace.destination + "/files"))

        let accepted = try onTerminal(workspace, ["apply"], input: "yes\n")
        #expect(accepted.contains("files: snapshot "), "\(accepted)")
        #expect(accepted.contains("files, "), "progress on the terminal")

        try Data("b".utf8).write(to: URL(fileURLWithPath: workspace.source + "/b.txt"))
        let plain = try onTerminal(workspace, ["plan"], input: "", environment: ["NO_COLOR": "1"])
        #expect(plain.contains("+ \(workspace.source)/b.txt"))
        #expect(!plain.contains("\u{1B}["), "NO_COLOR turns colour off")
    }
}
