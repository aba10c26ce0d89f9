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

            Commands that take an optional SET work, without it, on every set bound to \
            this host (or to no host). cairn COMMAND --help (or cairn help COMMAND) \
            prints a command's description, examples and options, as its page does.

            Examples:
              cairn init                     write a first config and key, asking
              cairn validate                 check the config and name its files
              cairn plan                     what a backup would do now
              cairn backup                   back up this host's sets now
              cairn restore /home/me/notes.txt --at 2026-11-20
                                             one file as it was that day, in place

            \(ExitStatus.everyCommand)
            """,
        version: CairnVersion.full,
        subcommands: [
            Init.self, Validate.self, Plan.self, Apply.self, Backup.self, Restore.self, Export.self, Dump.self, SeedLoad.self, SeedImport.self, Snapshots.self,
            List.self, Diff.self, Find.self, Stats.self, Tag.self, Verify.self, Repair.self, Prune.self, Forget.self, Key.self, Log.self, Retention.self,
            ScheduleCommand.self, RunDue.self, Server.self, Completions.self,
        ]
    )

    /// Runs the command; help text is printed with its EXIT STATUS block last.
    static func main() async {
        MemoryTuning.limitArenas()
        DamageWarnings.install { Terminal.standardError("cairn: warning: \($0)") }
        do {
            let arguments = readDataArguments(rawArguments())
            if let unknown = unknownSubcommand(arguments) {
                Terminal.standardError("cairn: error: \(unknown)")
                Foundation.exit(ExitCode.validationFailure.rawValue)
            }
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

extension Cairn {
    /// The arguments as given: one that is not UTF-8 (a file name typed with its bytes,
    /// `$'bad\xff.txt'`) is written as cairn displays such names (`bad\xFF.txt`, a backslash
    /// doubled), which paths read back (`FilePath(typed:)`), instead of losing its bytes.
    static func rawArguments() -> [String] {
        (1..<Int(CommandLine.argc)).map { index in
            guard let pointer = CommandLine.unsafeArgv[index] else { return "" }
            let bytes = Array(UnsafeBufferPointer(start: UnsafeRawPointer(pointer).assumingMemoryBound(to: UInt8.self), count: strlen(pointer)))
            if let text = String(validating: bytes, as: UTF8.self) { return text }
            return FilePath.display(bytes)
        }
    }

    /// `--read-data` alone means all of it (ArgumentParser has no options with optional
    /// values); `--read-data 10%` is `--read-data=10%`.
    static func readDataArguments(_ arguments: [String]) -> [String] {
        var result: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            guard argument == "--read-data" else {
                result.append(argument)
                if argument == "--" { result += arguments[index...]; break }
                continue
            }
            if index < arguments.count, arguments[index].hasSuffix("%"), Double(arguments[index].dropLast()) != nil {
                result.append("--read-data=\(arguments[index])")
                index += 1
            } else {
                result.append("--read-data=100%")
            }
        }
        return result
    }

    /// A subcommand name that is none (`cairn backpu`, `cairn key lst`), with the closest one.
    static func unknownSubcommand(_ arguments: [String]) -> String? {
        var command: ParsableCommand.Type = Cairn.self
        var path = ["cairn"]
        for argument in arguments {
            let subcommands = command.configuration.subcommands
            guard !argument.hasPrefix("-"), !subcommands.isEmpty, command.configuration.defaultSubcommand == nil else { return nil }
            let names = subcommands.map { $0._commandName } + (command == Cairn.self ? ["help"] : [])
            guard let next = subcommands.first(where: { $0._commandName == argument || $0.configuration.aliases.contains(argument) }) else {
                if names.contains(argument) { return nil }
                let hint = Suggestion.didYouMean(argument, among: names)
                return "'\(argument)' is not a \(path.joined(separator: " ")) command\(hint); 'cairn \(path.dropFirst().map { $0 + " " }.joined())--help' lists them"
            }
            command = next
            path.append(argument)
        }
        return nil
    }
}

enum CairnVersion {
    static let number = "0.1.0"
    static var full: String { "cairn \(number) (\(LinkedLibraries.summary))" }
}
