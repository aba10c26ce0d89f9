import CairnTesting
import Foundation
import Testing

/// Runs a program, its output and errors together.
func runProgram(_ program: String, _ arguments: [String], in directory: String) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: program)
    process.arguments = arguments
    process.currentDirectoryURL = URL(fileURLWithPath: directory)
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// `cairn export`: archives that bsdtar (Debian libarchive-tools) and unzip read back.
@Suite("Export as plain archives")
struct ExportTests {
    func run(_ program: String, _ arguments: [String], in directory: String) throws -> (status: Int32, output: String) {
        try runProgram(program, arguments, in: directory)
    }

    func backedUp() throws -> Workspace {
        let workspace = try Workspace()
        var generator = TreeGenerator(root: workspace.source, seed: 7)
        _ = try generator.generate(files: 40, depth: 4)
        try Data("grüezi".utf8).write(to: URL(fileURLWithPath: workspace.source + "/Zürich ünïcode.txt"))
        let backup = try workspace.run(["backup", "-q"])
        #expect(backup.status == 0, "\(backup.all)")
        return workspace
    }

    @Test(arguments: ["tree.tar", "tree.tar.gz", "tree.tar.zst", "tree.tar.xz"])
    func aTarExportExtractsToTheSourceWithItsMetadata(name: String) throws {
        try #require(getuid() == 0, "run as root: bsdtar restores owners, devices and extended attributes as root")
        let workspace = try backedUp()
        let archive = workspace.directory.subpath(name)
        let export = try workspace.run(["export", "files", "--to", archive])
        #expect(export.status == 0, "\(export.all)")
        let listing = try run("/usr/bin/bsdtar", ["-tvf", archive], in: workspace.directory.path)
        #expect(listing.status == 0 && listing.output.contains("sparse.img"), "\(listing.output)")
        let target = workspace.directory.subpath("extracted")
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        let extract = try run("/usr/bin/bsdtar", ["-xpf", archive, "--xattrs", "--acls", "--numeric-owner"], in: target)
        #expect(extract.status == 0, "\(extract.output)")
        let differences = TreeComparison.differences(workspace.source, target + workspace.source)
        #expect(differences == [], "\(differences.joined(separator: "\n"))")
    }

    @Test func aZipExportHoldsWhatZipCanAndSaysWhatItLeftOut() throws {
        let workspace = try backedUp()
        let archive = workspace.directory.subpath("tree.zip")
        let export = try workspace.run(["export", "files", "--to", archive])
        #expect(export.status == 0, "\(export.all)")
        #expect(export.standardError.contains("left out \(workspace.source)/pipe: a FIFO (zip cannot hold one; tar can)"), "\(export.all)")
        let test = try run("/usr/bin/unzip", ["-tq", archive], in: workspace.directory.path)
        #expect(test.status == 0, "\(test.output)")
        for (tool, arguments) in [("/usr/bin/unzip", ["-q", archive]), ("/usr/bin/bsdtar", ["-xf", archive])] {
            let target = workspace.directory.subpath("by-" + (tool as NSString).lastPathComponent)
            try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
            let extract = try run(tool, arguments, in: target)
            #expect(extract.status == 0, "\(extract.output)")
            // Every file's bytes, and the symlinks, as in the source.
            let files = try FileManager.default.subpathsOfDirectory(atPath: workspace.source)
            for file in files {
                var info = stat()
                guard lstat(workspace.source + "/" + file, &info) == 0 else { continue }
                switch info.st_mode & S_IFMT {
                case S_IFREG:
                    #expect(FileManager.default.contents(atPath: target + workspace.source + "/" + file) == FileManager.default.contents(atPath: workspace.source + "/" + file), "\(tool): \(file)")
                case S_IFLNK:
                    #expect(
                        (try? FileManager.default.destinationOfSymbolicLink(atPath: target + workspace.source + "/" + file))
                            == (try? FileManager.default.destinationOfSymbolicLink(atPath: workspace.source + "/" + file)), "\(tool): \(file)")
                default: break
                }
            }
        }
    }

    @Test func pathsStandardOutputAndRefusals() throws {
        let workspace = try backedUp()
        // Chosen paths only, to standard output.
        let out = workspace.directory.subpath("part.tar")
        let variables = workspace.environment.map { "\($0.key)='\($0.value)'" }.joined(separator: " ")
        let shell = "\(variables) '\(workspace.cairn.executable)' export files '\(workspace.source)/deep' --to - --format tar > '\(out)'"
        let piped = try run("/bin/sh", ["-c", shell], in: workspace.directory.path)
        #expect(piped.status == 0, "\(piped.output)")
        let listing = try run("/usr/bin/bsdtar", ["-tf", out], in: workspace.directory.path)
        let names = listing.output.split(separator: "\n")
        #expect(!names.isEmpty && names.allSatisfy { $0.hasPrefix(String(workspace.source.dropFirst()) + "/deep") }, "\(listing.output)")

        let existing = workspace.directory.subpath("taken.tar")
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: existing))
        let refused = try workspace.run(["export", "files", "--to", existing])
        #expect(refused.status == 1 && refused.standardError.contains("exists: name another file, or replace it with --force"), "\(refused.all)")
        #expect(FileManager.default.contents(atPath: existing) == Data("keep me".utf8))
        #expect(try workspace.run(["export", "files", "--to", existing, "--force"]).status == 0)
        #expect(try run("/usr/bin/bsdtar", ["-tf", existing], in: workspace.directory.path).status == 0)

        let unknown = try workspace.run(["export", "files", "--to", workspace.directory.subpath("tree.rar")])
        #expect(unknown.status != 0 && unknown.standardError.contains("does not end in .tar"), "\(unknown.all)")
        let stdoutWithoutFormat = try workspace.run(["export", "files", "--to", "-"])
        #expect(stdoutWithoutFormat.status != 0 && stdoutWithoutFormat.standardError.contains("needs --format"))
        let nothing = try workspace.run(["export", "files", "/no/such/path", "--to", workspace.directory.subpath("none.tar")])
        #expect(nothing.status == 1 && nothing.standardError.contains("nothing was exported"), "\(nothing.all)")
        #expect(!FileManager.default.fileExists(atPath: workspace.directory.subpath("none.tar")))
    }

    @Test func aDamagedObjectStopsTheExportAndLeavesNoArchive() throws {
        let workspace = try backedUp()
        let data = workspace.destination + "/files/data"
        for pack in (FileManager.default.enumerator(atPath: data)?.allObjects as? [String] ?? []) where pack.split(separator: "/").count == 2 {
            var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: data + "/" + pack)))
            for index in stride(from: 100, to: bytes.count - 100, by: 997) { bytes[index] ^= 0x20 }
            try Data(bytes).write(to: URL(fileURLWithPath: data + "/" + pack))
        }
        let archive = workspace.directory.subpath("broken.tar")
        let export = try workspace.run(["export", "files", "--to", archive])
        #expect(export.status == 1 && export.standardError.contains("damaged"), "\(export.all)")
        let left = try FileManager.default.contentsOfDirectory(atPath: workspace.directory.path).filter { $0.contains("broken.tar") }
        #expect(left.isEmpty, "no archive and no partial file: \(left)")
    }
}
