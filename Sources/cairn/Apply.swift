import ArgumentParser
import CairnCore
import Foundation

extension Cairn {
    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show each set's plan, ask, and carry it out; or carry out a saved plan.",
            discussion: """
                Without --plan: for each set, its plan is shown, and on a terminal cairn asks \
                before it runs anything (--yes skips the question; without a terminal and \
                without --yes, apply refuses). Pre-commands run only after the answer yes; \
                when a set has any, it is planned again after them, so what they wrote is \
                backed up too, and when that plan is not the one answered it is shown and \
                asked about again. A plan that fails before the pre-commands (a source they \
                create, a disk they mount) is reported and asked about: the pre-commands may \
                change it. Answering anything else runs no command, writes nothing, and \
                logs the job as cancelled; the job's duration leaves out the time at the \
                prompt. With --yes, pre-commands run first, as cairn backup runs them. A plan \
                without changes is carried out without asking: like cairn backup, apply \
                records a snapshot whenever it runs, so every run is a point in time to restore \
                to. After a successful backup the snapshots the plan listed as expiring are \
                expired, exactly those (retention is evaluated once, when the plan is made; \
                with --plan FILE, those of the saved plan). Missing sources, \
                max-removed, a repository that has gone and max-duration work as in cairn \
                backup.

                With --plan FILE (written by cairn plan --out FILE): carries out exactly that \
                plan. It refuses when the config or a set's latest snapshot changed since the \
                plan was made. Planned entries that changed since are backed up as they are \
                now and listed as drifted (--strict refuses instead), as are planned entries \
                that are back as in the last snapshot. Changes the plan does not have wait \
                for the next plan, listed as not in the plan: the snapshot keeps the last \
                version of a file, a link, a folder's own attributes and a deleted entry, and \
                leaves out what is new (a new folder with all under it). Planned entries that \
                vanished are reported. The plan is read one action at a time: a plan of a \
                million files needs no more memory than one of a thousand.

                Examples:
                  cairn apply documents                  show the plan, ask, then run it
                  cairn apply --yes                      this host's sets, without asking
                  cairn apply --plan plan.json           the plan cairn plan --out saved
                  cairn apply --plan plan.json --strict  refuse if anything drifted

                \(ExitStatus.withUnreadOrChangedFiles)
                """
        )

        @OptionGroup var options: ConfigOptions

        @OptionGroup var delta: DeltaModeOption

        @OptionGroup var safety: SafetyOptions

        @Argument(help: "The sets to apply (default: the sets of this host, or those of the saved plan).")
        var sets: [String] = []

        @Option(help: ArgumentHelp("Carry out this saved plan (from cairn plan --out).", valueName: "file"))
        var plan: String?

        @Flag(help: "Do not ask before carrying out the plan.")
        var yes = false

        @Flag(help: "With --plan: refuse when a planned entry changed since the plan was made.")
        var strict = false

        @Flag(name: .shortAndLong, help: "Print nothing but errors and problems: no plan, no progress, no final line (the exit status says how it went).")
        var quiet = false

        @Flag(name: .shortAndLong, help: "List every planned file instead of folding long lists per folder.")
        var verbose = false

        @Flag(help: "Print each set's job report as JSON (schemas/job-report.schema.json, as cairn log --json), and nothing else on standard output; with --yes or --plan.")
        var json = false

        func validate() throws {
            if strict && plan == nil { throw ValidationError("--strict goes with --plan FILE") }
            if json && !yes && plan == nil { throw ValidationError("--json does not ask before it stores: give --yes (or --plan FILE)") }
        }

        func run() async throws {
            let config = try CommandSupport.loadConfig(options)
            let colour = ANSI.enabled(for: 1, environment: CommandSupport.run.variables)
            if let plan {
                let saved: SavedPlan
                do {
                    saved = try SavedPlan.read(plan, spillFolder: Scanner.spillFolder(environment: CommandSupport.run.variables))
                } catch {
                    CommandSupport.fail("\(error)")
                }
                guard saved.configDigest == config.digest else {
                    CommandSupport.fail("the config changed since \(plan) was made (its digest was \(saved.configDigest.prefix(12)), it is now \(config.digest.prefix(12))); make a new plan with 'cairn plan --out'")
                }
                let names = sets.isEmpty ? saved.plans.map(\.set) : sets
                for name in names where !saved.plans.contains(where: { $0.set == name }) {
                    CommandSupport.fail("\(plan) has no plan for backup set '\(name)'")
                }
                let status = await JobRunning.run(config: config, sets: names, quiet: quiet, json: json, deltaMode: delta.mode, safety: safety) { name in
                    var options = BackupJob.RunOptions(command: "apply")
                    options.saved = saved.plans.first { $0.set == name }
                    options.strict = strict
                    options.colour = colour
                    options.times = self.options.times(config)
                    return options
                }
                if status != 0 { throw ExitCode(status) }
                return
            }
            let interactive = isatty(0) == 1
            guard yes || interactive else {
                CommandSupport.fail("apply asks before it stores anything, and there is no terminal to ask on: use --yes, or 'cairn backup'")
            }
            let names = try CommandSupport.sets(sets, in: config)
            let status = await JobRunning.run(config: config, sets: names, quiet: quiet, json: json, deltaMode: delta.mode, safety: safety) { name in
                var options = BackupJob.RunOptions(command: "apply")
                options.verbose = verbose
                options.colour = colour
                options.times = self.options.times(config)
                if !yes {
                    options.confirm = { plan in
                        // Nothing to confirm: the run records a snapshot of an unchanged tree.
                        // (No plan: it failed before the pre-commands, which may change that.)
                        if let plan, !plan.hasChanges { return true }
                        print("\nApply the plan of backup set '\(name)'? Only 'yes' is accepted: ", terminator: "")
                        fflush(nil)
                        return readLine()?.trimmingCharacters(in: .whitespaces) == "yes"
                    }
                }
                return options
            }
            if status != 0 { throw ExitCode(status) }
        }
    }
}
