import ArgumentParser
import CairnCore
import Foundation

extension Cairn {
    struct Plan: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show what a backup run would do, diff-style, without writing anything.",
            discussion: """
                For each set, every entry the run will record differently from the last \
                snapshot, and nothing else: + new files (with their size), folders (path/), \
                links (path -> target), fifos, sockets and devices; ~ changed entries: a \
                file's content (with its size), metadata only (~ path: mode 0644 -> 0600, \
                owner, group, xattrs, links, times), a type change (~ path: file -> directory, \
                with what appears and disappears under it) or a link's target (~ link: old \
                -> new); - entries gone since the last snapshot, everything under a removed \
                folder included (their last version stays restorable; deleted, or excluded \
                from the set now). Folders leading to the sources count for their owner, mode \
                and xattrs only. + set NAME: new repository for a set never backed up, - \
                snapshot ID lines for the snapshots the run will expire (counting the snapshot \
                it adds: apply and backup expire exactly these), and a summary line whose \
                "about X to upload" estimates what the run will store (compression and \
                in-file deltas sampled, copies and moved files left out; docs/PLAN-JSON.md) \
                beside the bytes it will read. Files of a \
                set with in-file delta show the decision: full (and why) or delta on the \
                version it is based on; whether a delta's new data stays under \
                max-delta-ratio is known after apply. Long lists fold per folder with counts \
                unless -v. ~ sources: and ~ host: lines show a change of the set against its \
                latest snapshot; warning: lines name absent optional sources and snapshots \
                that come from another writer. A set whose source is missing, or whose \
                repository has gone, fails (exit status 1), and so does a plan that would \
                record more than max-removed of the previous snapshot's files as removed \
                (the plan is printed, with the reason). \
                Planning reads the sources and the repository and never writes; it does not run \
                pre-commands, so what they produce shows as it is now. For a set never backed \
                up it already derives the new repository's key (so a missing key shows now, \
                and the backup's scan and the key derivation never take memory at once), \
                unless the key is typed at a prompt (key: {prompt: true}): plan asks for it only \
                to read a repository that exists.

                --out FILE saves the plan with what it was based on (the config's digest, each \
                set's latest snapshot, each planned entry's size, times and inode, a folder's \
                mode and owner) for cairn \
                apply --plan FILE. --json prints the same document (docs/PLAN-JSON.md).

                Examples:
                  cairn plan                             every set of this host
                  cairn plan documents -v                one set, every file listed
                  cairn plan documents --out plan.json   saved for cairn apply --plan
                  cairn plan -q --detailed-exitcode      exit status 2 when a run would
                                                         change something, 0 when not

                \(ExitStatus.withChanges)
                """
        )

        @OptionGroup var options: ConfigOptions
        @OptionGroup var quietOption: QuietOption

        @OptionGroup var delta: DeltaModeOption

        @OptionGroup var safety: SafetyOptions

        @Argument(help: "The sets to plan (default: the sets of this host).")
        var sets: [String] = []

        @Flag(help: "Print the plan document as JSON.")
        var json = false

        @Option(help: ArgumentHelp("Save the plan for cairn apply --plan FILE (made readable by you alone: it lists your files; replaced whole or not at all).", valueName: "file"))
        var out: String?

        @Flag(help: "Exit with 2 when there are changes (entries to record, the set's sources, a new repository or snapshots to expire), 0 when there are none.")
        var detailedExitcode = false

        @Flag(name: .shortAndLong, help: "List every planned file instead of folding long lists per folder.")
        var verbose = false

        func run() async throws {
            let config = try CommandSupport.loadConfig(options)
            let colour = ANSI.enabled(for: 1, environment: CommandSupport.run.variables)
            // Schedules run only if something calls run-due: say so when nothing does as the
            // config implies.
            let scheduled = try CommandSupport.sets(sets, in: config).compactMap { config.backupSets[$0] }
                .filter(\.needsRunDue)
            if !scheduled.isEmpty, let problem = CallerCheck.problem(options, place: InstalledCaller.read(CommandSupport.run) ?? InstalledCaller(kind: "crontab")) {
                Terminal.standardError("cairn: warning: the schedules of \(scheduled.map { "'\($0.name)'" }.joined(separator: ", ")) run only when run-due is called: \(problem) ('cairn schedule install', 'cairn schedule status')")
            }
            var statuses: [Int32] = []
            var plans: [BackupPlan] = []
            for name in try CommandSupport.sets(sets, in: config) {
                statuses.append(await CommandSupport.reporting("backup set '\(name)'") {
                    var context = try SetContext(config: config, setName: name, run: CommandSupport.run)
                    context.deltaOverride = delta.mode
                    safety.apply(to: &context)
                    let job = try await BackupJob.plan(context, preparing: !context.keyIsTyped)
                    CommandSupport.printProblems(job.scanProblems)
                    plans.append(job.plan)
                    if !json { try job.plan.writeLines(verbose: verbose, colour: colour, times: options.times(config)) { print($0) } }
                    if let refusal = job.plan.refusal {
                        Terminal.standardError("cairn: error: \(refusal)")
                        return ExitStatus.error
                    }
                    return detailedExitcode && job.plan.hasChanges ? ExitStatus.changes : ExitStatus.success
                })
            }
            let document = SavedPlan(created: CommandSupport.run.now, host: CommandSupport.run.hostName, configDigest: config.digest, plans: plans)
            if json {
                try document.writeJSON { print($0, terminator: "") }
                print()
            }
            if let out {
                do {
                    try DurableFile.write(to: out, mode: 0o600) { put in
                        // Written in pieces of about 64 KiB, not an action at a time.
                        var pending = Data()
                        try document.writeJSON { piece in
                            pending.append(contentsOf: piece.utf8)
                            if pending.count >= 1 << 16 {
                                try put(pending)
                                pending.removeAll(keepingCapacity: true)
                            }
                        }
                        pending.append(contentsOf: "\n".utf8)
                        try put(pending)
                    }
                    if !json { print("Saved the plan to \(out); carry it out with: cairn apply --plan \(out)") }
                } catch {
                    // DurableFile says what failed and why (a full disk); Foundation's errors say it in
                    // their localized description.
                    let why = error is DurableFile.Failure ? "\(error)" : error.localizedDescription
                    CommandSupport.fail("cannot write the plan to \(out): \(why)")
                }
            }
            let status = CommandSupport.combine(statuses)
            if status != 0 { throw ExitCode(status) }
        }
    }
}
