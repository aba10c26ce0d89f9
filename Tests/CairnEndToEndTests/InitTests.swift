import CairnTesting
import Foundation
import Testing

/// A folder to run `cairn init` in: a source tree, a destination, and run state of its own.
struct InitWorkspace {
    let directory: TemporaryDirectory
    let cairn = CairnProcess()
    var environment: [String: String]

    var source: String { directory.subpath("source") }
    var destination: String { directory.subpath("destination") }
    var config: String { directory.subpath("cairn.yaml") }
    var keyFile: String { directory.subpath("cairn.key") }

    init() throws {
        directory = try TemporaryDirectory("cairn-init")
        environment = [
            "HOME": directory.path, "NO_COLOR": "1", "CAIRN_CONFIG": "", "XDG_CONFIG_HOME": directory.subpath("config"),
            "XDG_STATE_HOME": directory.subpath("state"), "XDG_CACHE_HOME": directory.subpath("cache"),
        ]
        try FileManager.default.createDirectory(atPath: destination, withIntermediateDirectories: true)
        var generator = TreeGenerator(root: source, seed: 7)
        try generator.generate(files: 20, depth: 3)
    }

    /// Runs cairn with standard input not a terminal (/dev/null).
    func run(_ arguments: [String], prefix: [String] = []) throws -> CairnProcess.Output {
        try cairn.run(arguments, in: directory.path, environment: environment, prefix: prefix)
    }

    func onTerminal(_ arguments: [String], _ steps: [TerminalSession.Step]) throws -> TerminalSession.Result {
        try TerminalSession(cairn).run(arguments, in: directory.path, environment: environment, steps: steps)
    }

    func contents(_ path: String) -> String? {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
    }

    func mode(_ path: String) -> mode_t {
        var info = stat()
        return stat(path, &info) == 0 ? info.st_mode & 0o7777 : 0
    }

    /// A YAML config checked against schemas/cairn.schema.json (read with YAML 1.2 meaning, as
    /// Tests/schema reads examples).
    static func schemaCheck(_ file: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", "-c",
            "import json,sys,jsonschema; sys.path.insert(0, sys.argv[3]); import yaml12; jsonschema.validate(yaml12.load(sys.argv[1]), json.load(open(sys.argv[2]))); print('valid')",
            file, SourceTree.path("schemas/cairn.schema.json"), SourceTree.path("Tests/schema"),
        ]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return output
    }

    /// Backs up with the written config, restores to a new folder and compares the trees.
    func backUpAndRestore(set: String) throws -> [String] {
        let backup = try run(["backup", "-q"])
        #expect(backup.status == 0, "\(backup.all)")
        let target = directory.subpath("restored")
        let restore = try run(["restore", set, "--to", target])
        #expect(restore.status == 0, "\(restore.all)")
        return TreeComparison.differences(source, target + source)
    }

    /// The key: 32 characters of Crockford's base32 in groups of four.
    static func isGeneratedKey(_ text: String) -> Bool {
        let groups = text.split(separator: "-", omittingEmptySubsequences: false)
        return groups.count == 8 && groups.allSatisfy { $0.count == 4 && $0.allSatisfy { "0123456789abcdefghjkmnpqrstvwxyz".contains($0) } }
    }
}

@Suite("cairn init, the first-run wizard")
struct InitTests {
    @Test func answersTypedAtTheQuestionsMakeAConfigThatBacksUpAndRestores() throws {
        let workspace = try InitWorkspace()
        let missing = workspace.directory.subpath("not-there")
        let session = try workspace.onTerminal(
            ["init"],
            [
                .expect("Destination: "), .send("not-there\n"), .expect("\(missing) does not exist"), .expect("Create \(missing)? [y/N]: "), .send("n\n"),
                .expect("Destination: "), .send("\(workspace.destination)\n"),
                .expect("Source [\(workspace.directory.path)]: "), .send("no-such-source\n"), .expect("no-such-source does not exist"),
                .expect("Source ["), .send("source\n"),
                .expect("Another source (Enter when done): "), .send("source/nothing\n"), .expect("does not exist"),
                .expect("Another source (Enter when done): "), .send("\n"),
                .expect("Name [source]: "), .send("my documents\n"), .expect("'my documents' is not a name"),
                .expect("Name [source]: "), .send("documents\n"),
                .expect("Schedule [daily]: "), .send("weekly\n"), .expect("'weekly' is not a schedule"),
                .expect("Schedule [daily]: "), .send("21:30\n"),
                .expect("Retention [standard]: "), .send("tape-rotaton\n"), .expect("(did you mean 'tape-rotation'?)"),
                .expect("Retention [standard]: "), .send("tape-rotation\n"),
                .expect("Encryption [aes-256-gcm]: "), .send("aes\n"), .expect("'aes' is not an encryption"),
                .expect("Encryption [aes-256-gcm]: "), .send("\n"),
                .expect("Write them? [Y/n]: "), .send("\n"),
            ])
        #expect(session.failure == nil && session.status == 0, "\(session.failure ?? "") \(session.output)")
        #expect(!FileManager.default.fileExists(atPath: missing), "declining to create the folder creates nothing")
        #expect(session.output.contains("sources      \(workspace.source)"), "\(session.output)")
        #expect(session.output.contains("schedule     daily at 21:30"))
        #expect(session.output.contains("wrote \(workspace.keyFile): the key of encryption profile 'default' (mode 0600)"))
        #expect(session.output.contains("wrote \(workspace.config): backup set 'documents'"))
        #expect(session.output.contains("without it nothing can be restored"))
        #expect(session.output.contains("cairn schedule install"))

        let key = try #require(workspace.contents(workspace.keyFile))
        #expect(InitWorkspace.isGeneratedKey(String(key.dropLast())) && key.hasSuffix("\n"), "\(key)")
        #expect(!session.output.contains(String(key.dropLast())), "the key is not printed without --show-key")
        #expect(workspace.mode(workspace.keyFile) == 0o600)

        let config = try #require(workspace.contents(workspace.config))
        #expect(config.hasPrefix("# yaml-language-server: $schema=\(SourceTree.path("schemas/cairn.schema.json"))\n"), "\(config)")
        #expect(config.contains("key: {file: \(workspace.keyFile)}"))
        #expect(config.contains("daily: {type: daily, at: \"21:30\"}"))
        #expect(config.contains("remove-overlap: true"))
        #expect(config.contains("man 5 cairn.yaml") && config.contains("cairn plan"))
        let validate = try workspace.run(["validate"])
        #expect(validate.status == 0 && validate.standardOutput.contains("cairn.yaml: valid, 1 backup set"), "\(validate.all)")
        #expect(!validate.all.contains("warning"), "\(validate.all)")
        #expect(try InitWorkspace.schemaCheck(workspace.config) == "valid\n")

        let differences = try workspace.backUpAndRestore(set: "documents")
        #expect(differences == [], "\(differences.joined(separator: "\n"))")
    }

    @Test func optionsWithoutATerminalWriteAConfigThatBacksUpAndRestores() throws {
        let workspace = try InitWorkspace()
        let output = try workspace.run([
            "init", "--destination", "destination", "--source", "~/source", "--set", "files", "--schedule", "hourly", "--retention", "30-days",
            "--encryption", "chacha20-poly1305",
        ])
        #expect(output.status == 0, "\(output.all)")
        #expect(output.standardOutput.contains("wrote \(workspace.config): backup set 'files'"))
        #expect(!output.standardOutput.contains("Destination"), "nothing is asked without a terminal")
        #expect(workspace.mode(workspace.keyFile) == 0o600)
        let config = try #require(workspace.contents(workspace.config))
        #expect(config.contains("algorithm: chacha20-poly1305") && config.contains("keep-days: 30") && config.contains("every: 1h"))
        #expect(config.contains("      - \(workspace.source)\n"), "~ expanded, made absolute")
        #expect(try workspace.run(["validate"]).status == 0)
        #expect(try InitWorkspace.schemaCheck(workspace.config) == "valid\n")
        let differences = try workspace.backUpAndRestore(set: "files")
        #expect(differences == [], "\(differences.joined(separator: "\n"))")
    }

    @Test func withoutATerminalMissingOptionsAreNamedAndNothingIsWritten() throws {
        let workspace = try InitWorkspace()
        let none = try workspace.run(["init"])
        #expect(none.status == 64)
        #expect(none.standardError.contains("there is no terminal to ask on"), "\(none.all)")
        #expect(none.standardError.contains("give --destination DIR and --source PATH"))
        let noSource = try workspace.run(["init", "--destination", "destination"])
        #expect(noSource.status == 64 && noSource.standardError.contains("give --source PATH"), "\(noSource.all)")
        let yes = try workspace.run(["init", "--yes", "--source", "source"])
        #expect(yes.status == 64 && yes.standardError.contains("--yes asks nothing: give --destination DIR"), "\(yes.all)")
        #expect(!FileManager.default.fileExists(atPath: workspace.config) && !FileManager.default.fileExists(atPath: workspace.keyFile))
    }

    @Test(arguments: [
        (["--destination", "nowhere"], "nowhere does not exist (is its disk mounted?)"),
        (["--destination", "ftp://host/x"], "a destination is a local folder or s3://BUCKET/PREFIX"),
        (["--destination", "s3://No_Bucket"], "is not a bucket name"),
        (["--source", "missing"], "missing does not exist"),
        (["--source", "destination"], "is the destination: a backup cannot store its own repository"),
        (["--source", "source", "--source", "source/."], "is a source already"),
        (["--set", "my set"], "'my set' is not a name"),
        (["--schedule", "weekly"], "'weekly' is not a schedule: daily (at 01:00), hourly, a time HH:MM (daily at it) or none"),
        (["--retention", "forever"], "'forever' is not a retention"),
        (["--encryption", "aes"], "'aes' is not an encryption"),
        (["--encryption", "none", "--key-file", "k"], "--key-file goes with an encryption other than none"),
        (["-c", "same", "--key-file", "same"], "the config and the key file are both"),
    ])
    func invalidOptionsAreRefusedWithTheReason(arguments: [String], reason: String) throws {
        let workspace = try InitWorkspace()
        var full = ["init"] + arguments
        if !arguments.contains("--destination") { full += ["--destination", "destination"] }
        if !arguments.contains("--source") { full += ["--source", "source"] }
        let output = try workspace.run(full)
        #expect(output.status == 64, "\(output.all)")
        #expect(output.standardError.contains(reason), "\(output.all)")
        #expect(!FileManager.default.fileExists(atPath: workspace.config) && !FileManager.default.fileExists(atPath: workspace.keyFile))
    }

    @Test(arguments: ["cairn.yaml", "cairn.key"])
    func anExistingConfigOrKeyFileIsNeverOverwritten(existing: String) throws {
        let workspace = try InitWorkspace()
        let path = try workspace.directory.write(existing, "mine, not cairn's\n")
        let other = existing == "cairn.yaml" ? workspace.keyFile : workspace.config
        let output = try workspace.run(["init", "--destination", "destination", "--source", "source"])
        #expect(output.status == 1, "\(output.all)")
        #expect(output.standardError.contains("cairn: error: \(path) exists already: cairn init never overwrites a file, and wrote nothing"), "\(output.all)")
        #expect(workspace.contents(path) == "mine, not cairn's\n")
        #expect(!FileManager.default.fileExists(atPath: other), "neither file is written")

        // On a terminal, init says so before the first question.
        let session = try workspace.onTerminal(["init"], [.expect("exists already")])
        #expect(session.status == 1 && !session.output.contains("Destination"), "\(session.output)")
        #expect(workspace.contents(path) == "mine, not cairn's\n")
        #expect(!FileManager.default.fileExists(atPath: other))
    }

    @Test func aSetWhoseFolderIsInTheDestinationAlreadyIsRefused() throws {
        let workspace = try InitWorkspace()
        try workspace.directory.write("destination/source/cairn-repository", "{}")
        let output = try workspace.run(["init", "--destination", "destination", "--source", "source"])
        #expect(output.status == 64, "\(output.all)")
        #expect(
            output.standardError.contains("\(workspace.destination)/source is a cairn repository already, which a new key cannot open: give the set another name (--set NAME)"),
            "\(output.all)")
        let session = try workspace.onTerminal(
            ["init", "--destination", "destination", "--source", "source", "--schedule", "none", "--retention", "keep-all", "--encryption", "none"],
            [.expect("Name [source]: "), .send("\n"), .expect("a cairn repository already"), .expect("Name [source]: "), .send("other\n"), .expect("Write it? [Y/n]: "), .send("y\n")])
        #expect(session.status == 0 && session.output.contains("backup set 'other'"), "\(session.output)")
    }

    @Test func decliningAtTheEndWritesNothingAndADestinationCanBeCreated() throws {
        let workspace = try InitWorkspace()
        let steps: [TerminalSession.Step] = [
            .expect("Destination: "), .send("new-disk/backups\n"), .expect("Create \(workspace.directory.subpath("new-disk/backups"))? [y/N]: "), .send("y\n"),
            .expect("Source ["), .send("source\n"), .expect("Another source (Enter when done): "), .send("\n"),
            .expect("Encryption [aes-256-gcm]: "), .send("none\n"),
        ]
        let declined = try workspace.onTerminal(
            ["init", "--schedule", "none", "--retention", "keep-all", "--set", "files"], steps + [.expect("Write it? [Y/n]: "), .send("n\n")])
        #expect(declined.status == 1 && declined.output.contains("cairn: nothing was written"), "\(declined.output)")
        #expect(!declined.output.contains("Schedule [") && !declined.output.contains("Name ["), "options given are not asked")
        #expect(!FileManager.default.fileExists(atPath: workspace.config) && !FileManager.default.fileExists(atPath: workspace.directory.subpath("new-disk")))

        let accepted = try workspace.onTerminal(
            ["init", "--schedule", "none", "--retention", "keep-all", "--set", "files"], steps + [.expect("Write it? [Y/n]: "), .send("yes\n")])
        #expect(accepted.status == 0, "\(accepted.output)")
        #expect(accepted.output.contains("destination  \(workspace.directory.subpath("new-disk/backups")) (created now)"))
        #expect(!accepted.output.contains("schedule install"), "no schedule, no cron")
        #expect(!FileManager.default.fileExists(atPath: workspace.keyFile), "encryption none has no key file")
        let config = try #require(workspace.contents(workspace.config))
        #expect(config.contains("algorithm: none") && !config.contains("key:") && !config.contains("\nretention:") && !config.contains("\nschedules:"), "\(config)")
        #expect(try workspace.run(["validate"]).status == 0)
        #expect(try InitWorkspace.schemaCheck(workspace.config) == "valid\n")
        let differences = try workspace.backUpAndRestore(set: "files")
        #expect(differences == [], "\(differences.joined(separator: "\n"))")
    }

    @Test func aDestinationUnderASourceIsLeftOutAndTheKeyShownOnlyWhenAsked() throws {
        let workspace = try InitWorkspace()
        let output = try workspace.run(["init", "--destination", "~/destination", "--source", "~", "--show-key", "--schedule", "none"])
        #expect(output.status == 0, "\(output.all)")
        let key = try #require(workspace.contents(workspace.keyFile)).dropLast()
        #expect(output.standardOutput.contains("The key:\n  \(key)\n"), "\(output.all)")
        let config = try #require(workspace.contents(workspace.config))
        #expect(config.contains("    exclude:                          # the destination is under a source: left out\n      - \(workspace.destination)\n"), "\(config)")
        #expect(config.contains("  home:\n"), "the home folder's set is named home")
        let show = try workspace.run(["validate", "--show"])
        #expect(show.status == 0 && show.standardOutput.contains("- \(workspace.destination)"), "\(show.all)")
    }

    @Test func theConfigGoesWhereCairnLooksFirst() throws {
        var workspace = try InitWorkspace()
        workspace.environment["CAIRN_CONFIG"] = workspace.directory.subpath("configs/laptop.yaml")
        let output = try workspace.run(["init", "--destination", "destination", "--source", "source"])
        #expect(output.status == 0, "\(output.all)")
        #expect(output.standardOutput.contains("wrote \(workspace.directory.subpath("configs/laptop.yaml")): backup set 'source'"))
        #expect(output.standardOutput.contains("wrote \(workspace.directory.subpath("configs/cairn.key"))"))
        #expect(output.standardOutput.contains("  cairn plan "), "cairn finds it without -c: \(output.standardOutput)")
        let validate = try workspace.run(["validate"])
        #expect(validate.status == 0 && validate.standardOutput.contains("laptop.yaml: valid"), "\(validate.all)")

        // Elsewhere, the next commands name it.
        let elsewhere = try InitWorkspace()
        let named = try elsewhere.run(["init", "--destination", "destination", "--source", "source", "-c", "sub/my.yaml", "--key-file", "keys/k"])
        #expect(named.status == 0, "\(named.all)")
        #expect(named.standardOutput.contains("cairn -c \(elsewhere.directory.subpath("sub/my.yaml")) backup"), "\(named.standardOutput)")
        #expect(elsewhere.mode(elsewhere.directory.subpath("keys/k")) == 0o600)
    }

    /// A user who cannot write the current folder gets the config in ~/.config/cairn/, where
    /// cairn finds it from anywhere.
    @Test func whereTheCurrentFolderIsNotWritableTheConfigGoesToTheUsersConfigFolder() throws {
        try #require(getuid() == 0, "run as root: the test runs cairn as nobody through runuser")
        var workspace = try InitWorkspace()
        chmod(workspace.directory.path, 0o755)
        let home = workspace.directory.subpath("nobody")
        for folder in ["nobody", "nobody/docs", "nobody/backup"] {
            try FileManager.default.createDirectory(atPath: workspace.directory.subpath(folder), withIntermediateDirectories: true)
            chown(workspace.directory.subpath(folder), 65534, 65534)
        }
        // runuser sets HOME to nobody's own; the XDG folders pass.
        workspace.environment["XDG_CONFIG_HOME"] = home + "/.config"
        workspace.environment["XDG_STATE_HOME"] = home + "/state"
        workspace.environment["XDG_CACHE_HOME"] = home + "/cache"
        let asNobody = ["/usr/sbin/runuser", "-u", "nobody", "--"]
        let output = try workspace.run(["init", "--destination", "nobody/backup", "--source", "nobody/docs"], prefix: asNobody)
        #expect(output.status == 0, "\(output.all)")
        let config = home + "/.config/cairn/cairn.yaml"
        let key = home + "/.config/cairn/cairn.key"
        #expect(output.standardOutput.contains("wrote \(config): backup set 'docs'"), "\(output.all)")
        #expect(output.standardOutput.contains("\n  cairn plan "), "found without -c: \(output.standardOutput)")
        #expect(!FileManager.default.fileExists(atPath: workspace.config))
        var info = stat()
        #expect(stat(key, &info) == 0 && info.st_uid == 65534 && info.st_mode & 0o777 == 0o600)
        let validate = try workspace.run(["validate"], prefix: asNobody)
        #expect(validate.status == 0 && validate.standardOutput.contains("\(config): valid, 1 backup set"), "\(validate.all)")
    }

    @Test func helpEndsWithTheExitStatus() throws {
        let output = try CairnProcess().run(["init", "--help"])
        #expect(output.status == 0)
        let text = output.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(text.hasSuffix("64  usage error (wrong arguments or options)"), "\(text.suffix(200))")
        #expect(text.contains("Examples:") && !text.contains("\\"))
    }
}
