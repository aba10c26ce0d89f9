import CairnTesting
import Foundation
import Testing

/// `cairn seed-load` and `cairn seed-import`: a first backup carried on a disk as tar volumes.
@Suite("Seed load and import")
struct SeedTests {
    func shell(_ command: String, in directory: String = "/") throws -> (status: Int32, output: String) {
        try runProgram("/bin/sh", ["-c", command], in: directory)
    }

    /// A workspace whose source holds about `megabytes` MB of random data in files.
    func workspace(megabytes: Int = 3) throws -> Workspace {
        let workspace = try Workspace()
        var generator = TreeGenerator(root: workspace.source, seed: 5)
        _ = try generator.generate(files: 20, depth: 3)
        for number in 0..<megabytes {
            try Data((0..<1_000_000).map { _ in UInt8.random(in: 0...255) }).write(to: URL(fileURLWithPath: workspace.source + "/random\(number).bin"))
        }
        return workspace
    }

    func snapshotCount(_ workspace: Workspace, _ more: [String] = []) throws -> Int {
        let output = try workspace.run(["snapshots", "files", "--json"] + more)
        return ((try? JSONSerialization.jsonObject(with: Data(output.standardOutput.utf8))) as? [Any])?.count ?? -1
    }

    @Test func aSeedCarriesTheFirstBackupAndTheNextBackupUploadsOnlyChanges() throws {
        let workspace = try workspace()
        let seed = workspace.directory.subpath("disk/seed")
        try FileManager.default.createDirectory(atPath: workspace.directory.subpath("disk"), withIntermediateDirectories: true)
        let dry = try workspace.run(["seed-load", "files", "--to", seed, "--volume-size", "1MiB", "--dry-run"])
        #expect(dry.status == 0 && dry.standardOutput.contains("volumes of at most 1.0 MB"), "\(dry.all)")
        #expect(!FileManager.default.fileExists(atPath: seed), "a dry run writes nothing")
        let load = try workspace.run(["seed-load", "files", "--to", seed, "--volume-size", "1MiB", "-q"])
        #expect(load.status == 0, "\(load.all)")
        let volumes = try FileManager.default.contentsOfDirectory(atPath: seed).filter { $0.hasPrefix("files-s01.tar.") }.sorted()
        #expect(volumes.count >= 3, "\(volumes)")
        for volume in volumes { #expect((try FileManager.default.attributesOfItem(atPath: seed + "/" + volume)[.size] as? Int ?? 0) <= 1 << 20) }
        // The volumes together are one archive bsdtar reads.
        let listing = try shell("cat '\(seed)'/files-s01.tar.* | bsdtar -tf -")
        #expect(listing.status == 0 && listing.output.contains("cairn-repository") && listing.output.contains("snapshots/"), "\(listing.output)")
        // Nothing went to the destination; the seed restores on its own.
        #expect(try FileManager.default.contentsOfDirectory(atPath: workspace.destination).isEmpty)
        let fromSeed = workspace.directory.subpath("from-seed")
        let restore = try workspace.run(["restore", "files", "--from", seed, "--to", fromSeed])
        #expect(restore.status == 0, "\(restore.all)")
        #expect(TreeComparison.differences(workspace.source, workspace.restored(under: fromSeed)) == [])

        let imported = try workspace.run(["seed-import", seed])
        #expect(imported.status == 0 && imported.standardOutput.contains("loaded "), "\(imported.all)")
        #expect(try snapshotCount(workspace) == 1)
        // The next backup uploads only what changed since the seed.
        try Data("a change".utf8).write(to: URL(fileURLWithPath: workspace.source + "/changed.txt"))
        let backup = try workspace.run(["backup", "files"])
        #expect(backup.status == 0 && backup.standardOutput.contains("read 1 files"), "\(backup.all)")
        let stored = backup.standardOutput.range(of: "stored ").map { backup.standardOutput[$0.upperBound...].prefix(while: { $0 != "," }) } ?? ""
        #expect(stored.hasSuffix("kB") || stored.hasSuffix(" B"), "only the change is stored: \(backup.all)")
        // Imported again: nothing more, nothing twice.
        let again = try workspace.run(["seed-import", seed])
        #expect(again.status == 0 && again.standardOutput.contains("loaded 0 files"), "\(again.all)")
        #expect(try snapshotCount(workspace) == 2)
    }

    @Test func aPackIsInTheVolumesAsPiecesThatMakeTheDestinationsPack() throws {
        let workspace = try workspace(megabytes: 4)
        let seed = workspace.directory.subpath("seed")
        #expect(try workspace.run(["seed-load", "files", "--to", seed, "-q"]).status == 0)
        #expect(try workspace.run(["seed-import", seed]).status == 0)
        // bsdtar extracts the volumes; a pack's pieces, put together in order, are the pack the
        // destination holds, byte for byte.
        let extracted = workspace.directory.subpath("extracted")
        try FileManager.default.createDirectory(atPath: extracted, withIntermediateDirectories: true)
        let untar = try shell("cat '\(seed)'/files-s01.tar.* | bsdtar -xf - -C '\(extracted)'")
        #expect(untar.status == 0, "\(untar.output)")
        let firstPieces = try shell("cd '\(extracted)' && find data -name '*.part000' | sort").output.split(separator: "\n").map(String.init)
        #expect(!firstPieces.isEmpty, "4 MB of random data make packs larger than a piece")
        for first in firstPieces {
            let key = String(first.dropLast(".part000".count))
            let joined = try shell("cd '\(extracted)' && cat '\(key)'.part* | sha256sum").output.prefix(64)
            let stored = try shell("sha256sum '\(workspace.destination)/files/\(key)'").output.prefix(64)
            #expect(joined.count == 64 && joined == stored, "\(key)")
        }
        // Every file of the destination is in the archive, whole or in pieces.
        let names = Set(try shell("cat '\(seed)'/files-s01.tar.* | bsdtar -tf -").output.split(separator: "\n").map { String($0.split(separator: ".part").first!) })
        let stored = try shell("cd '\(workspace.destination)/files' && find . -type f ! -path './locks/*' | cut -c3-").output.split(separator: "\n").map(String.init)
        #expect(!stored.isEmpty && Set(stored).isSubset(of: names), "\(Set(stored).subtracting(names))")
    }

    @Test func aSecondSeedLoadAddsOnlyWhatTheFirstDidNotHold() throws {
        let workspace = try workspace()
        let seed = workspace.directory.subpath("seed")
        #expect(try workspace.run(["seed-load", "files", "--to", seed, "-q"]).status == 0)
        let first = try FileManager.default.attributesOfItem(atPath: seed + "/files-s01.tar.000")[.size] as? Int ?? 0
        try Data("later".utf8).write(to: URL(fileURLWithPath: workspace.source + "/later.txt"))
        #expect(try workspace.run(["seed-load", "files", "--to", seed, "-q"]).status == 0)
        let second = try FileManager.default.attributesOfItem(atPath: seed + "/files-s02.tar.000")[.size] as? Int ?? 0
        #expect(first > 3_000_000 && second < 100_000, "the second session holds only the change: \(first) then \(second)")
        #expect(try snapshotCount(workspace, ["--from", seed]) == 2)
        #expect(try workspace.run(["seed-import", seed]).status == 0)
        #expect(try snapshotCount(workspace) == 2)
        let target = workspace.directory.subpath("restored")
        #expect(try workspace.run(["restore", "files", "--to", target]).status == 0)
        #expect(TreeComparison.differences(workspace.source, workspace.restored(under: target)) == [])
    }

    @Test func anImportKilledHalfWayFinishesWhenRunAgain() throws {
        var workspace = try workspace(megabytes: 1)
        let seed = workspace.directory.subpath("seed")
        #expect(try workspace.run(["seed-load", "files", "--to", seed, "-q"]).status == 0)
        for point in 1...3 {
            workspace.environment["CAIRN_FAULT_INJECTION"] = "local-copy-file:\(point)"
            _ = try workspace.run(["seed-import", seed])
        }
        workspace.environment["CAIRN_FAULT_INJECTION"] = nil
        let finished = try workspace.run(["seed-import", seed])
        #expect(finished.status == 0, "\(finished.all)")
        let verify = try workspace.run(["verify", "files", "--read-data"])
        #expect(verify.status == 0 && verify.standardOutput.contains("no problems"), "\(verify.all)")
        #expect(try snapshotCount(workspace) == 1)
    }

    @Test func badSeedsAreRefusedByNameAndLoadNothing() throws {
        let workspace = try workspace(megabytes: 2)
        let seed = workspace.directory.subpath("seed")
        #expect(try workspace.run(["seed-load", "files", "--to", seed, "--volume-size", "1MiB", "-q"]).status == 0)
        let manifestPath = seed + "/cairn-seed.json"
        let manifest = try String(contentsOfFile: manifestPath, encoding: .utf8)
        func copy(_ name: String) throws -> String {
            let path = workspace.directory.subpath(name)
            #expect(try shell("cp -a '\(seed)' '\(path)'").status == 0)
            return path
        }
        func expectRefused(_ path: String, _ words: String, _ arguments: [String]? = nil, environment: [String: String] = [:]) throws {
            var w = workspace
            for (name, value) in environment { w.environment[name] = value }
            let result = try w.run(arguments ?? ["seed-import", path])
            #expect(result.status == 1 && result.standardError.contains(words), "\(words): \(result.all)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: workspace.destination).filter { !$0.hasPrefix(".") }.isEmpty, "nothing loaded")
        }
        // A truncated volume, a missing one, a flipped byte.
        let truncated = try copy("truncated")
        #expect(truncate(truncated + "/files-s01.tar.001", 1000) == 0)
        try expectRefused(truncated, "files-s01.tar.001 has 1000 bytes, not the 1048576 the manifest records")
        let missing = try copy("missing")
        try FileManager.default.removeItem(atPath: missing + "/files-s01.tar.000")
        try expectRefused(missing, "files-s01.tar.000 is missing")
        let flipped = try copy("flipped")
        let handle = try #require(FileHandle(forUpdatingAtPath: flipped + "/files-s01.tar.001"))
        try handle.seek(toOffset: 5000)
        let byte = try handle.read(upToCount: 1)!
        try handle.seek(toOffset: 5000)
        handle.write(Data([byte[0] ^ 0x01]))
        try handle.close()
        try expectRefused(flipped, "files-s01.tar.001 does not match its SHA-256")
        // A manifest altered, one of a newer format, one made with another key.
        let altered = try copy("altered")
        try manifest.replacingOccurrences(of: "\"created\" : \"", with: "\"created\" : \"1").write(toFile: altered + "/cairn-seed.json", atomically: true, encoding: .utf8)
        try expectRefused(altered, "does not match its authentication code")
        // A hostile manifest never sends a read outside the folder.
        let hostile = try copy("hostile")
        try manifest.replacingOccurrences(of: "\"name\" : \"files-s01.tar.000\"", with: "\"name\" : \"../../../etc/passwd\"").write(toFile: hostile + "/cairn-seed.json", atomically: true, encoding: .utf8)
        try expectRefused(hostile, "is damaged: a volume is named '../../../etc/passwd'")
        let newer = try copy("newer")
        try manifest.replacingOccurrences(of: "\"version\" : 2", with: "\"version\" : 9").write(toFile: newer + "/cairn-seed.json", atomically: true, encoding: .utf8)
        try expectRefused(newer, "has format version 9; this cairn reads version 2")
        // Pieces that do not add up to their file.
        let uneven = try copy("uneven")
        var object = try #require(try JSONSerialization.jsonObject(with: Data(manifest.utf8)) as? [String: Any])
        var sessions = try #require(object["sessions"] as? [[String: Any]])
        var members = try #require(sessions[0]["members"] as? [[String: Any]])
        let pieced = try #require(members.firstIndex { $0["pieces"] != nil }, "a 3 MB backup has a pack in pieces")
        // "OFFSET:SIZE OFFSET:SIZE ...": the first piece one byte longer.
        var pieces = try #require(members[pieced]["pieces"] as? String).split(separator: " ").map { $0.split(separator: ":").map { Int($0)! } }
        pieces[0][1] += 1
        members[pieced]["pieces"] = pieces.map { "\($0[0]):\($0[1])" }.joined(separator: " ")
        sessions[0]["members"] = members
        object["sessions"] = sessions
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]).write(to: URL(fileURLWithPath: uneven + "/cairn-seed.json"))
        try expectRefused(uneven, "is damaged: the pieces of the file data/")
        try expectRefused(seed, "does not open the repository", environment: ["CAIRN_KEY": "another key"])
        // Restore from a damaged seed says so too.
        let restore = try workspace.run(["restore", "files", "--from", truncated, "--to", workspace.directory.subpath("r")])
        #expect(restore.status == 1, "\(restore.all)")
    }

    @Test func twoSeedLoadsIntoOneFolderNeverMix() throws {
        var workspace = try workspace(megabytes: 1)
        let seed = workspace.directory.subpath("seed")
        workspace.environment["CAIRN_FAULT_INJECTION"] = "file-stored:1:STOP"
        let first = try workspace.cairn.start(["seed-load", "files", "--to", seed, "-q"], in: workspace.directory.path, environment: workspace.environment)
        #expect(first.waitUntilStopped())
        workspace.environment["CAIRN_FAULT_INJECTION"] = nil
        let second = try workspace.run(["seed-load", "files", "--to", seed, "-q"])
        #expect(second.status == 1 && second.standardError.contains("another seed-load is writing into"), "\(second.all)")
        first.resume()
        #expect(try first.wait().status == 0)
        #expect(try workspace.run(["seed-import", seed]).status == 0)
    }

    @Test func aSeedOfAnotherRepositoryIsRefused() throws {
        let workspace = try workspace(megabytes: 1)
        let seed = workspace.directory.subpath("seed")
        #expect(try workspace.run(["seed-load", "files", "--to", seed, "-q"]).status == 0)
        // The destination meanwhile got a repository of its own.
        #expect(try workspace.run(["backup", "files", "-q"]).status == 0)
        let refused = try workspace.run(["seed-import", seed])
        #expect(refused.status == 1 && refused.standardError.contains("the seed was made for another repository"), "\(refused.all)")
    }

    @Test func aSeedThatFillsItsDiskIsFinishedOnALargerOne() throws {
        try #require(getuid() == 0, "run as root: the test mounts small ext4 images")
        var workspace = try workspace(megabytes: 3)
        let images = try TemporaryDirectory("cairn-images")
        func mountImage(_ name: String, megabytes: Int) throws -> String {
            let image = images.subpath(name + ".img"), mount = images.subpath(name)
            try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: true)
            let made = try shell("truncate -s \(megabytes)M '\(image)' && mkfs.ext4 -q -F '\(image)' && mount -o loop '\(image)' '\(mount)'")
            #expect(made.status == 0, "\(made.output)")
            return mount
        }
        // Far too small: refused up front, nothing written.
        let tiny = images.subpath("tiny")
        try FileManager.default.createDirectory(atPath: tiny, withIntermediateDirectories: true)
        #expect(try shell("mount -t tmpfs -o size=1m tmpfs '\(tiny)'").status == 0)
        defer { _ = try? shell("umount '\(tiny)'") }
        let refused = try workspace.run(["seed-load", "files", "--to", tiny + "/seed", "-q"])
        #expect(refused.status == 1 && refused.standardError.contains("free, and the seed needs about"), "\(refused.all)")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: tiny + "/seed")) ?? []).filter { $0.contains(".tar.") }.isEmpty)
        let small = try mountImage("small", megabytes: 24)
        defer { _ = try? shell("umount '\(small)'") }
        // The space check passes; then the disk fills up while the volumes are written.
        workspace.environment["CAIRN_FAULT_INJECTION"] = "file-stored:1:STOP"
        let running = try workspace.cairn.start(["seed-load", "files", "--to", small + "/seed", "-q"], in: workspace.directory.path, environment: workspace.environment)
        #expect(running.waitUntilStopped())
        _ = try shell("dd if=/dev/zero of='\(small)/filler' bs=1M count=100 2>/dev/null; sync")
        running.resume()
        let full = try running.wait()
        workspace.environment["CAIRN_FAULT_INJECTION"] = nil
        #expect(full.status == 1 && full.standardError.contains("run it again"), "\(full.all)")
        #expect(!FileManager.default.fileExists(atPath: small + "/seed/cairn-seed.json"), "no manifest for an unfinished seed")
        // Moved to a larger disk and run again: finished.
        let large = try mountImage("large", megabytes: 64)
        defer { _ = try? shell("umount '\(large)'") }
        #expect(try shell("cp -a '\(small)/seed' '\(large)/seed'").status == 0)
        let resumed = try workspace.run(["seed-load", "files", "--to", large + "/seed", "-q"])
        #expect(resumed.status == 0, "\(resumed.all)")
        #expect(try workspace.run(["seed-import", large + "/seed"]).status == 0)
        let target = workspace.directory.subpath("restored")
        #expect(try workspace.run(["restore", "files", "--to", target]).status == 0)
        #expect(TreeComparison.differences(workspace.source, workspace.restored(under: target)) == [])
    }
}
