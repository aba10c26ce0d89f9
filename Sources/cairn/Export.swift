import ArgumentParser
import CairnCore
import Foundation

extension Cairn {
    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a snapshot as a plain archive (tar, tar.gz, tar.zst, tar.xz or zip), for people without cairn.",
            discussion: """
                Writes the chosen snapshot (the latest by default), or the PATHs of it, as an \
                archive that tar, bsdtar or unzip reads. The format comes from FILE's \
                extension (.tar, .tar.gz or .tgz, .tar.zst, .tar.xz, .zip), or from --format; \
                --to - writes to standard output and needs --format. Names are the original \
                absolute paths without their leading slash. pax tar keeps modes, owners, \
                times, symlinks, hard links, devices, FIFOs and extended attributes (ACLs \
                among them); zip keeps modes, times and symlinks, stores hard links as copies \
                and leaves devices, FIFOs and sockets out (each is listed). Every object is \
                verified as it is read. The archive is written beside FILE under a temporary \
                name and renamed into place when whole, so an interrupted export (or a full \
                disk) leaves no half archive; an existing FILE is kept unless --force.

                Examples:
                  cairn export documents --to /tmp/docs.tar.zst  the latest snapshot
                  cairn export documents /home/me/Photos --to photos.zip --at 2026-11-01
                                                                 a folder, as it was then
                  cairn export documents --to - --format tar | tar -tvf -
                                                                 list it, writing no file

                \(ExitStatus.text)
                """
        )

        @OptionGroup var options: ConfigOptions
        @OptionGroup var source: SourceOptions
        @OptionGroup var snapshotOptions: SnapshotOptions

        @Argument(help: "The backup set.")
        var set: String

        @Argument(help: "Original paths or globs to export (default: everything).")
        var paths: [String] = []

        @Option(help: ArgumentHelp("The archive to write, or - for standard output.", valueName: "file"))
        var to: String

        @Option(help: ArgumentHelp("tar, tar.gz, tar.zst, tar.xz or zip (default: from FILE's extension).", valueName: "format"))
        var format: String?

        @Flag(help: "Replace FILE if it exists.")
        var force = false

        func validate() throws {
            for path in paths where !path.hasPrefix("/") && !path.hasPrefix("*") {
                throw ValidationError("'\(path)' is not an absolute path: name files as they were backed up, such as /home/me/Documents")
            }
            _ = try chosenFormat()
        }

        func chosenFormat() throws -> Exporter.Format {
            if let format {
                guard let chosen = Exporter.Format(rawValue: format) else {
                    throw ValidationError("--format takes \(Exporter.Format.allCases.map(\.rawValue).joined(separator: ", ")), found '\(format)'")
                }
                return chosen
            }
            guard to != "-" else { throw ValidationError("--to - (standard output) needs --format") }
            guard let chosen = Exporter.Format(fileName: to) else {
                throw ValidationError("'\(to)' does not end in .tar, .tar.gz, .tgz, .tar.zst, .tar.xz or .zip: name the format with --format")
            }
            return chosen
        }

        func run() async throws {
            let config = try source.config(options, set: set)
            let format = try chosenFormat()
            if to != "-", !force, FileManager.default.fileExists(atPath: absolute(to)) {
                CommandSupport.fail("\(absolute(to)) exists: name another file, or replace it with --force")
            }
            // With the archive on standard output, everything else goes to standard error.
            let say: (String) -> Void = to == "-" ? { Terminal.standardError($0) } : { print($0) }
            let outcome = await CommandSupport.job(config, set: set, command: "export", source: source) { runner in await runner.run(lease: .shared) { repository in
                try await runner.context.requireStoredDataReadable()
                let record = try snapshotOptions.choice(in: config).pick(from: try await repository.snapshots(), set: set, times: options.times(config))
                guard let tree = record.snapshot.treeID else { throw RepositoryError.damaged("snapshot \(record.id.short) has no tree") }
                let selection = PathSelection(paths.map { FilePath(typed: PathExpansion.normalize($0)) })
                try await selection.requireMatches(in: repository, roots: [tree], snapshot: "snapshot \(record.id.short)", consequence: "nothing was exported")
                let exporter = Exporter(repository: repository, format: format, paths: selection)
                say("exporting snapshot \(record.id.short) of \(options.times(config)(record.snapshot.start))\(record.snapshot.statusNote) as \(format.rawValue)")
                let summary: Exporter.Summary
                if to == "-" {
                    summary = try await exporter.export(root: tree, to: 1)
                } else {
                    summary = try await Self.write(to: absolute(to)) { try await exporter.export(root: tree, to: $0) }
                }
                for left in summary.leftOut { Terminal.standardError("cairn: warning: left out \(left)") }
                say("exported \(summary.files) files (\(ByteCountText.format(summary.bytes))), \(summary.directories) folders, \(summary.others) other entries\(to == "-" ? "" : " to \(absolute(to))")")
                return .success
            } }
            try CommandSupport.finish(outcome)
        }

        func absolute(_ path: String) -> String { CommandSupport.absolute(path) }

        /// Writes through `body` into a new file beside `path`, flushed and renamed over it
        /// when whole; removed on any failure.
        static func write<T>(to path: String, _ body: (Int32) async throws -> T) async throws -> T {
            let folder = (path as NSString).deletingLastPathComponent
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ExportFailure(description: "the folder \(folder) does not exist")
            }
            let temporary = "\(folder)/.\((path as NSString).lastPathComponent).\(UInt32.random(in: 0...UInt32.max)).partial"
            // Plain text of what may have been encrypted: the owner's alone.
            let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else { throw ExportFailure(description: "cannot create \(temporary): \(String(cString: strerror(errno)))") }
            var open = true
            do {
                let value = try await body(descriptor)
                guard fsync(descriptor) == 0 else { throw ExportFailure(description: "cannot write \(temporary): \(String(cString: strerror(errno)))") }
                close(descriptor)
                open = false
                guard rename(temporary, path) == 0 else { throw ExportFailure(description: "cannot rename the archive to \(path): \(String(cString: strerror(errno)))") }
                return value
            } catch {
                if open { close(descriptor) }
                unlink(temporary)
                throw error
            }
        }
    }
}

struct ExportFailure: Error, CustomStringConvertible {
    var description: String
}
