import ArgumentParser
import CairnCore
import Foundation

@main
struct Cairn: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cairn",
        abstract: "Declarative, encrypted, incremental backups described in YAML.",
        discussion: """
            cairn reads backup sets, accounts, schedules, filters, retention and encryption from \
            YAML files you keep in git (see cairn.yaml(5)). The config is the file or \
            directory given with -c, else the one named by CAIRN_CONFIG, else cairn.yaml in \
            the current directory, else the *.yaml files of $XDG_CONFIG_HOME/cairn/ (by \
            default ~/.config/cairn/), else those of /etc/cairn/ (CAIRN_SYSTEM_CONFIG names \
            another system folder). cairn validate names the files it used.

            \(ExitStatus.text)
            """,
        version: CairnVersion.full,
        subcommands: [Validate.self, Plan.self, Apply.self, Backup.self, Restore.self, Export.self, SeedLoad.self, SeedImport.self, Snapshots.self, List.self, Verify.self, Repair.self, Prune.self, Key.self, Log.self, Retention.self, ScheduleCommand.self, RunDue.self]
    )

    /// Runs the command; help text is printed with its EXIT STATUS block last.
    static func main() async {
        MemoryTuning.limitArenas()
        DamageWarnings.install { Terminal.standardError("cairn: warning: \($0)") }
        do {
            // `--read-data` alone means all of it: ArgumentParser has no options with optional values.
            let arguments = CommandLine.arguments.dropFirst().map { $0 == "--read-data" ? "--read-data=100%" : $0 }
            var command = try parseAsRoot(arguments)
            if var command = command as? AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            let message = fullMessage(for: error)
            if exitCode(for: error) == .success, message.contains(ExitStatus.heading) {
                print(ExitStatus.movedToEnd(of: message))
                Foundation.exit(ExitCode.success.rawValue)
            }
            exit(withError: error)
        }
    }
}

enum CairnVersion {
    static let number = "0.1.0"
    static var full: String { "cairn \(number) (\(LinkedLibraries.summary))" }
}
