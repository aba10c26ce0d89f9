import ArgumentParser
import CairnCore
import Foundation

extension Cairn {
    struct Key: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Manage the keys that open a set: several keys can open one set.",
            discussion: """
                Every key wraps the set's random master key, so adding, removing or changing a \
                key rewrites no data. The key that opens the set is the one its encryption \
                profile names. A new key is read from --new-key-env, --new-key-file or \
                --new-key-command, like the references of the config.

                \(ExitStatus.text)
                """,
            subcommands: [ListKeys.self, Add.self, Remove.self, Change.self]
        )
    }
}

/// Where a new key comes from.
struct NewKeyOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Read the new key from this environment variable.", valueName: "var"))
    var newKeyEnv: String?

    @Option(help: ArgumentHelp("Read the new key from this file (one trailing newline dropped).", valueName: "path"))
    var newKeyFile: String?

    @Option(help: ArgumentHelp("Read the new key from what this command prints.", valueName: "command"))
    var newKeyCommand: String?

    @Option(help: "A label to tell the key apart in 'cairn key list'.")
    var label: String?

    func validate() throws {
        let given = [newKeyEnv, newKeyFile, newKeyCommand].compactMap { $0 }
        guard given.count == 1 else { throw ValidationError("give the new key with exactly one of --new-key-env, --new-key-file or --new-key-command") }
    }

    func passphrase() throws -> [UInt8] {
        let here = SourceLocation(file: "command line", line: 1, column: 1)
        let source: SecretReference.Source =
            if let newKeyEnv { .environment(newKeyEnv) } else if let newKeyFile { .file(newKeyFile) } else { .command(newKeyCommand!) }
        return Array(try SecretReference(source, at: here).resolve().utf8)
    }
}

extension Cairn.Key {
    /// Opens the set's repository with its configured key and runs `body`; a failure is printed
    /// as one line and becomes the exit status.
    static func withRepository(
        _ options: ConfigOptions, set: String, _ body: (Repository, SetContext) async throws -> Void
    ) async throws {
        let status = await CommandSupport.reporting("backup set '\(set)'") {
            let config = try CommandSupport.loadConfig(options)
            let context = try SetContext(config: config, setName: set)
            guard let repository = try await context.openRepository() else {
                throw SnapshotChoice.Failure.none("backup set '\(set)' has never been backed up (no repository at \(context.repositoryPath))")
            }
            try await body(repository, context)
            return ExitStatus.success
        }
        if status != 0 { throw ExitCode(status) }
    }

    struct ListKeys: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List the keys of a set.", discussion: ExitStatus.text)
        @OptionGroup var options: ConfigOptions
        @Argument(help: "The backup set.") var set: String

        func run() async throws {
            try await Cairn.Key.withRepository(options, set: set) { repository, _ in
                let formatter = ISO8601DateFormatter()
                print("ID        CREATED               HOST / USER           LABEL")
                for key in try await repository.keys() {
                    let who = "\(key.host) / \(key.user)".padding(toLength: 21, withPad: " ", startingAt: 0)
                    print("\(key.id.prefix(8))  \(formatter.string(from: key.created))  \(who) \(key.label ?? "")\(key.isCurrent ? "  (in use)" : "")")
                }
            }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a key that opens the set, such as a recovery key kept offline.", discussion: ExitStatus.text)
        @OptionGroup var options: ConfigOptions
        @Argument(help: "The backup set.") var set: String
        @OptionGroup var newKey: NewKeyOptions

        func run() async throws {
            try await Cairn.Key.withRepository(options, set: set) { repository, _ in
                let id = try await repository.addKey(passphrase: try newKey.passphrase(), label: newKey.label)
                print("added key \(id.prefix(8))")
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a key (not the one in use, not the last).", discussion: ExitStatus.text)
        @OptionGroup var options: ConfigOptions
        @Argument(help: "The backup set.") var set: String
        @Argument(help: "The key's id, or its first 8 or more characters.") var id: String

        func run() async throws {
            try await Cairn.Key.withRepository(options, set: set) { repository, _ in
                try await repository.removeKey(id)
                print("removed key \(id.prefix(8))")
            }
        }
    }

    struct Change: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace the key in use by a new one; then point the config's key reference to it.", discussion: ExitStatus.text)
        @OptionGroup var options: ConfigOptions
        @Argument(help: "The backup set.") var set: String
        @OptionGroup var newKey: NewKeyOptions

        func run() async throws {
            try await Cairn.Key.withRepository(options, set: set) { repository, context in
                let id = try await repository.changeKey(to: try newKey.passphrase(), label: newKey.label)
                print("the key of set '\(set)' is now \(id.prefix(8)); the old key no longer opens it. Update the key reference of encryption profile '\(context.profile.name)'.")
            }
        }
    }
}
