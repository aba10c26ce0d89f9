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
                the report is printed and kept in the job log (cairn log). This is the \
                command a hand-written crontab line runs.

                A run never makes a version that earlier runs kept harder to get back. A \
                source that does not exist fails its set (exit status 1: is its disk \
                mounted?) and nothing is saved or expired for it; other sets go on; an \
                optional source ({path: ..., optional: true}) that is absent is a warning \
                and its entries are carried over. A run that would record more than \
                max-removed (default 50%) of the previous snapshot's files as removed stops \
                before it saves anything (--max-removed for one run). A set that has backed \
                up before and finds no repository stops too (--new-repository starts one). \
                A file backed up before that cannot be read keeps its previous version and \
                the job ends with exit status 3. SIGINT, SIGTERM or the set's max-duration \
                commit a partial snapshot in which what the run did not reach keeps its \
                previous version.

                On an object store (s3://), each set's report ends with a storage: line: the \
                requests sent, by the server's name for them (retries and refused ones \
                included: requests cost money), and the bytes sent and received; the job log \
                keeps it (storage).

                Examples:
                  cairn backup                              every set of this host
                  cairn backup documents -q                 one set, silent unless wrong
                  cairn backup documents --json             the job report as JSON
                  cairn backup documents --max-removed off  many files deleted on purpose

                \(ExitStatus.withUnreadFiles)
                """
        )

        @OptionGroup var options: ConfigOptions

        @OptionGroup var delta: DeltaModeOption

        @OptionGroup var safety: SafetyOptions

        @Argument(help: "The sets to back up (default: the sets of this host).")
        var sets: [String] = []

        @Flag(name: .shortAndLong, help: "Print nothing but errors and problems: no plan, no progress, no final line (the exit status says how it went).")
        var quiet = false

        @Flag(name: .shortAndLong, help: "List every planned file instead of folding long lists per folder.")
        var verbose = false

        @Flag(help: "Print each set's job report as JSON (schemas/job-report.schema.json, as cairn log --json), and nothing else on standard output.")
        var json = false

        func run() async throws {
            let config = try CommandSupport.loadConfig(options)
            let names = try CommandSupport.sets(sets, in: config)
            let colour = ANSI.enabled(for: 1, environment: CommandSupport.run.variables)
            let status = await JobRunning.run(config: config, sets: names, quiet: quiet, json: json, deltaMode: delta.mode, safety: safety) { _ in
                var options = BackupJob.RunOptions(command: "backup")
                options.verbose = verbose
                options.colour = colour
                options.times = self.options.times(config)
                return options
            }
            if status != 0 { throw ExitCode(status) }
        }
    }
}
