import ArgumentParser
import CairnCore
import Foundation

extension Cairn {
    struct Restore: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Restore a snapshot of a set, or some of its files, with their metadata.",
            discussion: """
                Restores the latest snapshot, the one given by --at or --snapshot, to the \
                original place or under --to DIR. PATH arguments (original absolute paths, or \
                globs matched against whole paths, where * also matches /) choose folders and \
                files. A PATH that matches nothing in the snapshot is an error naming it and \
                the snapshot: it is checked before anything is written, so when any PATH \
                matches nothing, nothing is restored. An existing identical file is skipped without \
                reading repository data; an existing file that differs is a conflict, never \
                overwritten unless --overwrite says so. Each file is written without a name (or, \
                where the file system cannot, under a temporary name), checked against its \
                recorded hash, given its metadata, and only then put under its name, so an \
                interrupted restore never leaves a partial file under a file's name. --dry-run \
                prints what would be written, skipped and in conflict, and writes nothing. \
                When the chosen snapshot is partial (an interrupted job) or incomplete (files \
                that could not be read), the first line says so: its carried-over entries \
                are their previous versions, so it still gives every file.

                An existing entry that is identical (same content; a symbolic link to the same \
                target; a fifo; a device with the same number; a socket) is kept and given the \
                snapshot's owner, mode, times and extended attributes, as are the folders \
                restored, so running an interrupted restore again finishes it; it also removes \
                the temporary files (.cairn-restore-*) an interrupted restore left in the \
                folders it restores into. The target may be writable by other users: entries \
                are made and changed through descriptors, never following a symbolic link, \
                and an entry or folder that someone replaced or moved while the restore ran is \
                left as it is and reported as a problem (exit status 3). The restore keeps a \
                bounded number of folders open, however deep the tree. It ends once what it \
                wrote is on disk (a flush of the target's file system), and leaves little of it \
                in the page cache: the pages of files of 64 KiB and more are let go once \
                written, so a large restore does not push out what the machine was using.

                --strip places the one PATH given at DIR itself instead of under its full \
                path: a folder's content goes into DIR, a file or another entry into DIR \
                under its own name. Without SET, each set of this host whose sources hold a \
                PATH restores its share of them.

                On an object store (s3://), the last line (storage:) counts the requests \
                sent, by kind, and the bytes received: a restore reads each pack about once.

                Examples:
                  cairn restore documents --to /tmp/check    everything, under /tmp/check
                  cairn restore /home/me/notes.txt --at 2026-11-20
                                                             one file as it was, in place
                  cairn restore documents /home/me/Projects --to ~/p --strip
                                                             the folder's content in ~/p
                  cairn restore documents '/home/me/*.odt' --overwrite always --dry-run
                                                             what it would overwrite

                \(ExitStatus.withUnwrittenFiles)
                """
        )

        @OptionGroup var options: ConfigOptions
        @OptionGroup var source: SourceOptions
        @OptionGroup var snapshotOptions: SnapshotOptions

        @Argument(help: "The backup set (default: each set of this host whose sources hold a PATH).")
        var set: String?

        @Argument(help: "Original paths or globs to restore (default: everything).")
        var paths: [String] = []

        @Flag(help: "With --to DIR and one PATH: place that path at DIR itself (a folder's content in DIR, a file in DIR) instead of under its full path.")
        var strip = false

        @Option(help: ArgumentHelp("Restore under this folder instead of the original place.", valueName: "dir"))
        var to: String?

        @Flag(help: "Print what would be written, skipped and in conflict; write nothing.")
        var dryRun = false

        @Option(help: ArgumentHelp("What to do with existing files that differ: never (a conflict), if-changed, always.", valueName: "when"))
        var overwrite: String = "never"

        @Flag(help: "Do not restore owner, mode, ACLs and extended attributes (times are always restored).")
        var noPermissions = false

        @Flag(name: .shortAndLong, help: "Print nothing but errors and problems (the exit status says how it went).")
        var quiet = false

        @Flag(name: .shortAndLong, help: "Also list the files found identical and left as they were.")
        var verbose = false

        @Flag(help: "Print the report as JSON (schemas/restore.schema.json): every file written, found identical or in conflict, and every problem.")
        var json = false

        /// The report as `--json` prints it.
        struct Document: Encodable {
            struct Action: Encodable {
                var path: String
                var action: String
                var detail: String?
            }
            var set: String
            var snapshot: String
            var snapshotStart: Timestamp
            var status: String
            var target: String
            var dryRun: Bool
            var actions: [Action]
            var written: Int
            var identical: Int
            var conflicts: Int
            var bytesWritten: UInt64
            var leftoversRemoved: Int
            var problems: [JobReport.ProblemRecord]
            var storage: StorageTraffic.Summary?
        }

        /// The set named, and the paths: a first argument that is a path is one, and no set is named.
        var setAndPaths: (set: String?, paths: [String]) { CommandSupport.setAndPaths(set, paths) }

        func validate() throws {
            let (set, paths) = setAndPaths
            guard Restorer.Overwrite(rawValue: overwrite) != nil else { throw ValidationError("--overwrite takes never, if-changed or always") }
            if set == nil && paths.isEmpty { throw ValidationError("name the set to restore, or the paths to restore (cairn restore /home/me/notes.txt)") }
            if strip && (to == nil || paths.count != 1) { throw ValidationError("--strip goes with --to DIR and exactly one PATH") }
            if strip, let path = paths.first, CommandSupport.isGlob(path) { throw ValidationError("--strip takes a path, not a glob") }
            if set == nil, let glob = paths.first(where: CommandSupport.isGlob) {
                throw ValidationError("a glob may match in any set: name the set to restore from (cairn restore SET '\(glob)')")
            }
            if set == nil, snapshotOptions.snapshot != nil { throw ValidationError("--snapshot names a snapshot of one set: name the set too") }
            if quiet && verbose { throw ValidationError("give --quiet or --verbose, not both") }
            if json && (quiet || verbose) { throw ValidationError("--json prints the whole report: give it without --quiet or --verbose") }
            for path in paths where !path.hasPrefix("/") && !path.hasPrefix("*") {
                throw ValidationError("'\(path)' is not an absolute path: name files as they were backed up, such as /home/me/Documents")
            }
        }

        func run() async throws {
            let (set, paths) = setAndPaths
            try await CommandSupport.forEachSet(set, json: json, options: options, source: source, command: "restore", holding: paths, onePerPath: true) { config, set in
                // Without SET, each set restores the paths its sources hold.
                let mine = self.set == nil ? paths.filter { CommandSupport.holds(config, set: set, path: $0) } : paths
                return await restore(config, set: set, paths: mine)
            }
        }

        func restore(_ config: Config, set: String, paths: [String]) async -> JobOutcome {
            await CommandSupport.job(config, set: set, command: "restore", source: source, traffic: !quiet && !json) { runner in await runner.run(lease: .shared) { repository in
                try await runner.context.requireStoredDataReadable()
                let record = try snapshotOptions.choice(in: config).pick(from: try await repository.snapshots(), set: set, times: options.times(config))
                guard let tree = record.snapshot.treeID else { throw RepositoryError.damaged("snapshot \(record.id.short) has no tree") }
                let target = to.map { FilePath(CommandSupport.absolute($0)) } ?? .root
                var restorer = Restorer(
                    repository: repository, target: target, paths: paths.map { FilePath(typed: PathExpansion.normalize($0)) },
                    overwrite: Restorer.Overwrite(rawValue: overwrite)!, permissions: !noPermissions, dryRun: dryRun)
                restorer.strip = strip
                let quiet = quiet || json
                // What is listed: every action, unless only the conflicts are shown.
                restorer.keepsEveryAction = json || !quiet
                func say(_ line: String) { if !quiet { print(line) } }
                say("restoring snapshot \(record.id.short) of \(options.times(config)(record.snapshot.start))\(record.snapshot.statusNote) to \(target)\(dryRun ? " (dry run)" : "")")
                // The totals are the snapshot's when all of it is restored.
                let whole = paths.isEmpty
                let progress = CommandSupport.progress(
                    items: whole ? record.snapshot.statistics.files : 0, bytes: whole ? record.snapshot.statistics.bytes : 0, noun: "files", quiet: quiet || dryRun)
                restorer.progress = progress
                defer { progress?.clear() }
                try await restorer.restore(root: tree, snapshot: "snapshot \(record.id.short) of set '\(set)'")
                progress?.clear()
                for action in restorer.actions {
                    switch action.kind {
                    case .write: say("\(dryRun ? "would write" : "wrote") \(action.path)")
                    case .identical: if verbose { say("identical \(action.path)") }
                    case .conflict:
                        // Part of the error: shown even with --quiet.
                        let line = "conflict \(action.path): \(action.detail)"
                        if quiet { Terminal.standardError(line) } else { print(line) }
                    }
                }
                if restorer.leftoversRemoved > 0, !quiet {
                    print("removed \(restorer.leftoversRemoved) temporary file\(restorer.leftoversRemoved == 1 ? "" : "s") an interrupted restore had left")
                }
                CommandSupport.printProblems(restorer.problems)
                let written = restorer.counts[.write] ?? 0
                let identical = restorer.counts[.identical] ?? 0
                if json {
                    let traffic = runner.context.traffic.summary
                    let document = Document(
                        set: set, snapshot: record.id.hex, snapshotStart: record.snapshot.start, status: record.snapshot.status.rawValue,
                        target: target.description, dryRun: dryRun,
                        actions: restorer.actions.map { Document.Action(path: $0.path.description, action: $0.kind.rawValue, detail: $0.detail.isEmpty ? nil : $0.detail) },
                        written: written, identical: identical, conflicts: restorer.conflicts.count, bytesWritten: dryRun ? 0 : restorer.bytesWritten,
                        leftoversRemoved: restorer.leftoversRemoved,
                        problems: restorer.problems.map { JobReport.ProblemRecord(path: $0.path.description, message: $0.message) },
                        storage: traffic.total > 0 ? traffic : nil)
                    CommandSupport.printJSON(try JSONOutput.text(document))
                }
                let volume = dryRun ? "" : " (\(ByteCountText.format(restorer.bytesWritten)))"
                say("\(dryRun ? "would write" : "wrote") \(written)\(volume), identical \(identical), conflicts \(restorer.conflicts.count), problems \(restorer.problems.count)")
                if !restorer.conflicts.isEmpty {
                    Terminal.standardError("cairn: error: \(restorer.conflicts.count) existing file\(restorer.conflicts.count == 1 ? "" : "s") differ; nothing was overwritten (use --overwrite if-changed or always, or --to DIR)")
                    return JobOutcome(.failed)
                }
                return .finished(problems: restorer.problems.count)
            } }
        }
    }
}
