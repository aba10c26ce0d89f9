import ArgumentParser
import CairnCore
import Foundation

extension Cairn {
    struct Backup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Back up sets now: plan, then carry out the plan without asking.",
            discussion: """
                Without SET, backs up every set bound to this host (or to no host). For each \
                set: its pre-commands run, the plan is made and printed as cairn plan prints \
                it, new and changed files are read, compressed, encrypted and stored, a \
                snapshot is committed, the set's retention policy expires what it no longer \
                keeps (cairn prune), and its post-commands run. Progress shows on a terminal; \
                the report is printed and kept in the job log (cairn log). Files that cannot be \
                read are reported and the job ends with exit status 3. SIGINT or SIGTERM \
                commit what is done as a partial snapshot. This is the command a hand-written \
                crontab line runs.

                \(ExitStatus.text)
                """
        )

        @OptionGroup var options: ConfigOptions

        @OptionGroup var delta: DeltaModeOption

        @OptionGroup var safety: SafetyOptions

        @Argument(help: "The sets to back up (default: the sets of this host).")
        var sets: [String] = []

        @Flag(name: .shortAndLong, help: "Print no plan and no progress: only problems and each set's final line.")
        var quiet = false

        @Flag(name: .shortAndLong, help: "List every planned file instead of folding long lists per folder.")
        var verbose = false

        func run() async throws {
            let config = try CommandSupport.loadConfig(options)
            let names = try CommandSupport.sets(sets, in: config)
            let colour = ANSI.enabled(for: 1)
            let status = await JobRunning.run(config: config, sets: names, quiet: quiet, deltaMode: delta.mode, safety: safety) { _ in
                var options = BackupJob.RunOptions(command: "backup")
                options.verbose = verbose
                options.colour = colour
                return options
            }
            if status != 0 { throw ExitCode(status) }
        }
    }
}
