import ArgumentParser
import CairnCore
import Foundation

extension Cairn {
    struct Key: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Manage the keys that open the repositories of an encryption profile.",
            discussion: """
                Every key wraps a repository's random master key, so adding, removing or \
                changing a key rewrites no data. The key that opens a repository is the one \
                its set's encryption profile names, and all sets of a profile open their \
                repositories with it: the key belongs to the profile. So add, remove and \
                change act on every repository whose set uses the profile, each repository \
                once however many sets share it. A SET argument selects its profile; \
                --profile NAME names the profile instead. Sets of the profile that have never \
                been backed up have no repository yet and are listed as skipped. Before \
                anything is written, the profile's current key must open every repository of \
                the profile (a missing destination, a repository it does not open: nothing \
                is written, and each is named). list shows the keys of one set's repository.

                A new key is read from --new-key-env, --new-key-file or --new-key-command, \
                like the references of the config, and gets the same id in every repository. \
                change replaces the key the config's reference yields now by the new key in \
                two steps: the new key is added to every repository, and only when every add \
                succeeded is the old key removed from each; if an add fails, the old key is \
                removed nowhere, and an interruption leaves each repository openable with \
                the new key, and with the old one until it was removed there. Afterwards, \
                point the profile's key reference to the new key.

                Examples:
                  cairn key list documents          the keys of the set's repository
                  cairn key add documents --new-key-file /mnt/usb/recovery.key
                                                    a recovery key kept offline
                  cairn key change documents --new-key-env NEW_CAIRN_KEY
                                                    replace the key in use everywhere
                  cairn key remove --profile default 1a2b3c4d
                                                    take a key out of every repository

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
        return Array(try SecretReference(source, at: here).resolve(environment: CommandSupport.run.variables).utf8)
    }
}

/// Which encryption profile `key add|remove|change` act on: a set's, or one named.
struct ProfileOption: ParsableArguments {
    @Option(help: ArgumentHelp("Act on the repositories of this encryption profile instead of naming a set.", valueName: "name"))
    var profile: String?
}

extension Cairn.Key {
    /// Opens the set's repository with its configured key and runs `body`; a failure is printed
    /// as one line and becomes the exit status.
    static func withRepository(
        _ options: ConfigOptions, set: String, command: String, _ body: (Repository, Config) async throws -> Void
    ) async throws {
        let config = try CommandSupport.loadConfig(options)
        try CommandSupport.finish(
            await CommandSupport.job(config, set: set, command: command) { runner in
                await runner.read { repository in
                    try await body(repository!, config)
                    return .success
                }
            })
    }

    /// Opens every repository of the profile of `set` (or the profile named), says which they
    /// are and which sets are skipped, and runs `body`; a failure becomes the exit status.
    static func withProfile(
        _ options: ConfigOptions, set: String?, profile: String?, _ body: (ProfileKeys) async throws -> Void
    ) async throws {
        let config = try CommandSupport.loadConfig(options)
        let status = await CommandSupport.reporting("") {
            let name = try set.map { try SetContext(config: config, setName: $0, run: CommandSupport.run).profile.name } ?? profile!
            let keys = try await ProfileKeys.open(config: config, profile: name, run: CommandSupport.run)
            let sets = (keys.members.flatMap(\.sets) + keys.skipped.map(\.set)).sorted()
            let which = set.map { "set '\($0)' uses encryption profile '\(name)'" } ?? "encryption profile '\(name)'"
            print("\(which): acting on the repository of every set of the profile (\(sets.joined(separator: ", ")))")
            for skipped in keys.skipped { print("skipped \(skipped)") }
            try await body(keys)
            return ExitStatus.success
        }
        if status != 0 { throw ExitCode(status) }
    }

    /// `SET` or `--profile NAME`, exactly one.
    static func check(set: String?, _ choice: ProfileOption) throws {
        guard (set == nil) != (choice.profile == nil) else { throw ValidationError("name a backup set or give --profile NAME, not both") }
    }

    struct ListKeys: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list", abstract: "List the keys of a set's repository.",
            discussion: """
                Lists every key file of the set's repository, oldest first: its id (the \
                first 8 characters; --json gives the whole id), when it was added, on which \
                host and by which user, and its label (cairn key add --label). The key that \
                opened the repository now, the one the set's encryption profile names, is \
                marked (in use). A key file that cannot be read is listed as damaged, with \
                why; cairn key remove removes it. The repository is opened with the set's \
                key and only read: nothing is written to it, and no lock is taken.

                Examples:
                  cairn key list documents          the keys, and which one is in use
                  cairn key list documents --json   the same, as JSON

                \(ExitStatus.text)
                """)
        @OptionGroup var options: ConfigOptions
        @OptionGroup var quietOption: QuietOption
        @Argument(help: "The backup set.") var set: String
        @Flag(help: "Print the keys as JSON (schemas/key-list.schema.json).") var json = false

        func run() async throws {
            try await Cairn.Key.withRepository(options, set: set, command: "key list") { repository, config in
                let keys = try await repository.keys()
                if json {
                    print(try JSONOutput.text(keys.map(KeyRow.init)))
                    return
                }
                let times = options.times(config)
                print("ID        " + "CREATED".padding(toLength: times.width + 2, withPad: " ", startingAt: 0) + "HOST / USER           LABEL")
                for key in keys {
                    let who = "\(key.host) / \(key.user)".padding(toLength: 21, withPad: " ", startingAt: 0)
                    if let damage = key.damage {
                        print("\(key.id.prefix(8))  damaged: \(damage); 'cairn key remove' removes it")
                        continue
                    }
                    print("\(key.id.prefix(8))  \(times(key.created))  \(who) \(key.label ?? "")\(key.isCurrent ? "  (in use)" : "")")
                }
            }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a key, such as a recovery key kept offline, to every repository of an encryption profile.",
            discussion: """
                A SET argument selects its encryption profile (--profile NAME names it \
                instead); the key is added to the repository of every set that uses the \
                profile, under one id, and the keys they have stay. The new key is read from \
                --new-key-env, --new-key-file or --new-key-command, and --label tells it \
                apart in cairn key list. The profile's current key must open every \
                repository first, or nothing is written; sets never backed up are listed \
                as skipped (a new repository gets only the profile's key). When the add \
                fails in some repository, the message names the repositories that have the \
                new key and how to take it out again.

                Examples:
                  cairn key add documents --new-key-file /mnt/usb/recovery.key
                                                    a recovery key kept offline
                  cairn key add --profile default --new-key-command 'pass show cairn/2'
                                                    a second key, from a password manager
                  cairn key add documents --new-key-env SPARE_KEY --label spare
                                                    labelled, for cairn key list

                \(ExitStatus.text)
                """)
        @OptionGroup var options: ConfigOptions
        @OptionGroup var quietOption: QuietOption
        @Argument(help: "A backup set: its encryption profile's repositories get the key.") var set: String?
        @OptionGroup var choice: ProfileOption
        @OptionGroup var newKey: NewKeyOptions

        func validate() throws { try Cairn.Key.check(set: set, choice) }

        func run() async throws {
            try await Cairn.Key.withProfile(options, set: set, profile: choice.profile) { keys in
                guard !keys.members.isEmpty else {
                    print("no set of encryption profile '\(keys.profile.name)' has a repository yet: nothing to add the key to (a new repository gets only the profile's key)")
                    return
                }
                let id = try await keys.add(passphrase: try newKey.passphrase(), label: newKey.label) { print($0) }
                print("added key \(id.prefix(8)) to \(Self.count(keys.members.count)) of encryption profile '\(keys.profile.name)'")
            }
        }

        static func count(_ repositories: Int) -> String { repositories == 1 ? "1 repository" : "\(repositories) repositories" }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a key from every repository of an encryption profile (not the one in use, not the last).",
            discussion: """
                A SET argument selects its encryption profile; with --profile NAME, give only \
                the key's id. The key is removed from every repository of the profile that has \
                it; nothing is removed when it is the key in use or the last key of any of \
                them. A repository without the key is left as it is. The id is as cairn key \
                list shows it, or its first 8 or more characters; a damaged key file can be \
                removed too.

                Examples:
                  cairn key remove documents 1a2b3c4d    from the repositories of the
                                                         set's encryption profile
                  cairn key remove --profile default 1a2b3c4d
                                                         the same, naming the profile

                \(ExitStatus.text)
                """)
        @OptionGroup var options: ConfigOptions
        @OptionGroup var quietOption: QuietOption
        @Argument(help: "A backup set: the key goes from its encryption profile's repositories (leave it out with --profile).") var set: String?
        @Argument(help: "The key's id, or its first 8 or more characters.") var id: String?
        @OptionGroup var choice: ProfileOption

        mutating func validate() throws {
            if choice.profile != nil, id == nil { (id, set) = (set, nil) }
            try Cairn.Key.check(set: set, choice)
            guard id != nil else { throw ValidationError("give the id of the key to remove ('cairn key list SET' shows them)") }
        }

        func run() async throws {
            try await Cairn.Key.withProfile(options, set: set, profile: choice.profile) { keys in
                try await keys.remove(id!) { print($0) }
            }
        }
    }

    struct Change: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace the key in use by a new one in every repository of an encryption profile.",
            discussion: """
                A SET argument selects its encryption profile. The old key is the one the \
                profile's key reference yields now; the new key comes from --new-key-env, \
                --new-key-file or --new-key-command. The new key is added to every repository \
                of the profile first; only when every add succeeded is the old key removed \
                from each. If an add fails, the old key is removed nowhere and the command \
                exits 1. An interruption leaves every repository openable with the new key, \
                and each one whose old key was not removed yet with the old key too: stopped \
                before any removal, running the command again with the same config finishes \
                it; stopped while removing, point the reference to the new key and take the \
                old key out of the repositories that still list it with 'cairn key remove'. \
                Afterwards, point the profile's key reference to the new key: the old key no \
                longer opens the repositories.

                Examples:
                  cairn key change documents --new-key-file /home/me/new.key
                                                    the new key from a file
                  cairn key change --profile default --new-key-command 'pass show cairn'
                                                    from a password manager

                \(ExitStatus.text)
                """)
        @OptionGroup var options: ConfigOptions
        @OptionGroup var quietOption: QuietOption
        @Argument(help: "A backup set: its encryption profile's repositories get the new key.") var set: String?
        @OptionGroup var choice: ProfileOption
        @OptionGroup var newKey: NewKeyOptions

        func validate() throws { try Cairn.Key.check(set: set, choice) }

        func run() async throws {
            try await Cairn.Key.withProfile(options, set: set, profile: choice.profile) { keys in
                let reference = keys.profile.key.map { " (\($0))" } ?? ""
                guard !keys.members.isEmpty else {
                    print("no set of encryption profile '\(keys.profile.name)' has a repository yet: nothing to change; point the profile's key reference\(reference) to the new key")
                    return
                }
                let id = try await keys.change(to: try newKey.passphrase(), label: newKey.label) { print($0) }
                print(
                    "the key of encryption profile '\(keys.profile.name)' is now \(id.prefix(8)) in \(Cairn.Key.Add.count(keys.members.count)); the old key no longer opens them. Point the profile's key reference\(reference) to the new key.")
            }
        }
    }
}

/// A key as `cairn key list --json` prints it.
struct KeyRow: Encodable {
    var id: String
    var created: Date?
    var host: String?
    var user: String?
    var label: String?
    var current: Bool
    var damaged: String?

    init(_ key: Repository.KeyInfo) {
        id = key.id
        damaged = key.damage
        current = key.isCurrent
        guard key.damage == nil else { return }
        created = key.created
        host = key.host
        user = key.user
        label = key.label
    }
}
