import ArgumentParser
import CairnCore

@main
struct Cairn: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cairn",
        abstract: "Declarative, encrypted, incremental backups described in YAML.",
        discussion: """
            cairn reads backup sets, accounts, schedules, filters, retention and encryption from \
            YAML files you keep in git (see cairn.yaml(5)). The config is cairn.yaml in the \
            current directory, the file or directory named by CAIRN_CONFIG, or the one given \
            with -c.

            \(ExitStatus.text)
            """,
        version: CairnVersion.full,
        subcommands: [Validate.self]
    )
}

enum CairnVersion {
    static let number = "0.1.0"
    static var full: String { "cairn \(number) (\(LinkedLibraries.summary))" }
}
