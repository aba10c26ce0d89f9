import ArgumentParser
import CairnCore
import Foundation

/// `--from DIR` and the key options that go with it, shared by restore, snapshots, ls and
/// verify: read a repository from media (a copied repository folder, a local copy) with only
/// its key, without the set's account or destination, and without a config if need be.
struct SourceOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Read the repository in this folder (a copied repository or a local copy) instead of the set's destination; nothing is written there.",
            discussion: "Without a config, or when the config has no such set, SET only names it and the key comes from --key-file, --key-env or --key-command.",
            valueName: "dir"))
    var from: String?

    @Option(help: ArgumentHelp("With --from: read the key from this file (one trailing newline dropped).", valueName: "path"))
    var keyFile: String?

    @Option(help: ArgumentHelp("With --from: read the key from this environment variable.", valueName: "var"))
    var keyEnv: String?

    @Option(help: ArgumentHelp("With --from: read the key from what this command prints.", valueName: "command"))
    var keyCommand: String?

    func validate() throws {
        let keys = [keyFile, keyEnv, keyCommand].compactMap { $0 }
        if keys.count > 1 { throw ValidationError("give the key one way: --key-file, --key-env or --key-command") }
        if from == nil, !keys.isEmpty { throw ValidationError("--key-file, --key-env and --key-command go with --from DIR") }
    }

    /// The key given on the command line, as a reference (never its value).
    var key: SecretReference? {
        if let keyFile {
            return SecretReference(.file(CommandSupport.absolute(keyFile)), at: SourceLocation(file: "--key-file", line: 0, column: 0))
        }
        if let keyEnv { return SecretReference(.environment(keyEnv), at: SourceLocation(file: "--key-env", line: 0, column: 0)) }
        if let keyCommand { return SecretReference(.command(keyCommand), at: SourceLocation(file: "--key-command", line: 0, column: 0)) }
        return nil
    }

    /// The folder, absolute and without a trailing slash.
    var folder: String? {
        from.map(CommandSupport.absolute)
    }

    /// The repository folder `--from` names: DIR itself, or, when DIR is a local copy folder
    /// (one repository per set), its folder for the set's repository.
    static func repositoryFolder(_ folder: String, repository: String) -> String {
        let marker = "/" + RepositoryDescriptor.fileName
        if FileManager.default.fileExists(atPath: folder + marker) || SeedFolder.isSeed(folder) { return folder }
        if FileManager.default.fileExists(atPath: folder + "/" + repository + marker) { return folder + "/" + repository }
        return folder
    }

    /// The config to work with: the user's, when there is one and it defines the set; else,
    /// with --from, a config of the set alone whose repository is the folder.
    func config(_ options: ConfigOptions, set: String) throws -> Config {
        guard let given = self.folder else { return try CommandSupport.loadConfig(options) }
        let folder = Self.repositoryFolder(given, repository: set)
        var zone = CommandSupport.run.timeZone
        if hasConfig(options) {
            let config = try CommandSupport.loadConfig(options)
            if config.backupSets[set] != nil { return config }
            zone = config.timeZone
        }
        if SeedFolder.isSeed(folder) {
            // A seed-load folder says its encryption in its manifest (checked once opened).
            let place = folder + "/" + SeedManifest.fileName
            let manifest: SeedManifest
            do {
                manifest = try SeedManifest.decode(FileManager.default.contents(atPath: place) ?? Data(), at: place)
            } catch {
                CommandSupport.fail("\(error)")
            }
            guard let algorithm = EncryptionProfile.Algorithm(rawValue: manifest.encryption) else {
                CommandSupport.fail("the seed at \(folder) uses encryption '\(manifest.encryption)', which this cairn does not know")
            }
            if algorithm != .none, key == nil {
                CommandSupport.fail(
                    "the seed at \(folder) is encrypted (\(algorithm.rawValue)) and the config defines no set '\(set)': give its key with --key-file, --key-env or --key-command")
            }
            return Config.media(set: set, folder: folder, algorithm: algorithm, key: key, timeZone: zone)
        }
        let place = folder + "/" + RepositoryDescriptor.fileName
        guard let bytes = FileManager.default.contents(atPath: place) else {
            var isDirectory: ObjCBool = false
            if !FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory) || !isDirectory.boolValue {
                CommandSupport.fail("--from \(folder) does not exist or is not a folder (is the disk mounted?)")
            }
            CommandSupport.fail(
                "--from \(folder) is not a cairn repository: it has no \(RepositoryDescriptor.fileName) file (name the repository's own folder: a copied repository or a local copy)")
        }
        let descriptor: RepositoryDescriptor
        do {
            descriptor = try RepositoryDescriptor.decode(Array(bytes), at: folder)
        } catch {
            CommandSupport.fail("\(error)")
        }
        guard let algorithm = EncryptionProfile.Algorithm(rawValue: descriptor.encryption) else {
            CommandSupport.fail("the repository at \(folder) uses encryption '\(descriptor.encryption)', which this cairn does not know")
        }
        if algorithm != .none, key == nil {
            CommandSupport.fail(
                "the repository at \(folder) is encrypted (\(algorithm.rawValue)) and the config defines no set '\(set)': give its key with --key-file, --key-env or --key-command")
        }
        return Config.media(set: set, folder: folder, algorithm: algorithm, key: key, timeZone: zone)
    }

    /// Whether a config is named or found where configs are looked for.
    func hasConfig(_ options: ConfigOptions) -> Bool {
        ConfigLoader(CommandSupport.run).findsConfig(explicit: options.config)
    }

    func apply(to context: inout SetContext) {
        context.source = folder.map { Self.repositoryFolder($0, repository: context.set.repository) }
        context.keyOverride = key
    }
}
