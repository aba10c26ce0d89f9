import CairnTesting
import Foundation
import Testing

@Suite("cairn validate, run as a program")
struct ValidateCommandTests {
    let cairn = CairnProcess()

    static let examples: [String] =
        SourceTree.files(under: "examples", endingWith: ".yaml").filter { !$0.contains("/directory/") && !$0.contains("/server/") }
        + [SourceTree.path("examples/directory")]

    @Test(arguments: examples)
    func everyExampleIsValid(path: String) throws {
        let output = try cairn.run(["validate", "-c", path])
        #expect(output.status == 0, "\(output.all)")
        #expect(output.standardOutput.contains(": valid, "))
        #expect(!output.standardError.contains("error:"))
    }

    /// The invalid corpus: each file (or directory) states `# expect: TEXT` on its first line.
    static let invalid: [String] = {
        let root = SourceTree.path("Tests/Fixtures/invalid")
        return ["schema", "semantic"].flatMap { folder -> [String] in
            let base = (root as NSString).appendingPathComponent(folder)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []
            return names.sorted().map { (base as NSString).appendingPathComponent($0) }
        }
    }()

    @Test func theInvalidCorpusHasAtLeastThirtyConfigs() {
        #expect(Self.invalid.count >= 30)
    }

    @Test(arguments: invalid)
    func everyInvalidConfigFailsWithALocatedMessage(path: String) throws {
        var isDirectory: ObjCBool = false
        FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        let first = isDirectory.boolValue ? (path as NSString).appendingPathComponent("a.yaml") : path
        let header = try String(contentsOfFile: first, encoding: .utf8).split(separator: "\n").first ?? ""
        let expected = String(header.dropFirst("# expect: ".count))
        #expect(header.hasPrefix("# expect: ") && !expected.isEmpty)

        let output = try cairn.run(["validate", "-c", path], environment: ["NO_COLOR": "1"])
        #expect(output.status == 1)
        let lines = output.standardError.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let matching = lines.indices.filter { lines[$0].contains("error: ") && lines[$0].contains(expected) }
        #expect(!matching.isEmpty, "no error mentions \(expected):\n\(output.standardError)")
        for index in matching {
            // FILE:LINE:COL: error: message, then the source line and a caret under the column.
            let parts = lines[index].split(separator: ":", maxSplits: 3).map(String.init)
            #expect(parts.count == 4 && Int(parts[1]) != nil && Int(parts[2]) != nil, "\(lines[index])")
            #expect(parts.first.map { $0.hasPrefix(path) } == true)
            guard parts.count == 4, let column = Int(parts[2]), index + 2 < lines.count else { continue }
            let caret = lines[index + 2]
            #expect(caret.hasSuffix("^") && caret.count == column, "caret line '\(caret)' for column \(column)")
        }
    }

    @Test func jsonListsTheProblems() throws {
        let path = SourceTree.path("Tests/Fixtures/invalid/schema/retention-quoted-number.yaml")
        let output = try cairn.run(["validate", "--json", "-c", path])
        #expect(output.status == 1)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(output.standardOutput.utf8)) as? [String: Any])
        #expect(report["valid"] as? Bool == false)
        #expect(report["errors"] as? Int == 1)
        let problems = try #require(report["problems"] as? [[String: Any]])
        #expect(problems.first?["line"] as? Int == 8)
        #expect(problems.first?["column"] as? Int == 18)
        #expect(problems.first?["severity"] as? String == "error")
        #expect((problems.first?["message"] as? String)?.contains("quoted") == true)
    }

    @Test func showPrintsTheNormalisedConfigAsYAMLOrJSON() throws {
        let path = SourceTree.path("examples/quickstart/cairn.yaml")
        let yaml = try cairn.run(["validate", "--show", "-c", path])
        #expect(yaml.status == 0)
        #expect(yaml.standardOutput.contains("destination: \(SourceTree.path("examples/quickstart/backups"))"))
        #expect(yaml.standardOutput.contains("compression: zstd\n"), "no level: the automatic one")
        #expect(yaml.standardOutput.contains("env: CAIRN_KEY"))

        let json = try cairn.run(["validate", "--show", "--json", "-c", path])
        let report = try #require(try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any])
        #expect(report["valid"] as? Bool == true)
        let config = try #require(report["config"] as? [String: Any])
        #expect((config["backup-sets"] as? [String: Any])?.keys.sorted() == ["sample"])
    }

    @Test func theConfigIsFoundThroughTheEnvironmentOrTheCurrentFolder() throws {
        let directory = try TemporaryDirectory()
        let text = try String(contentsOfFile: SourceTree.path("examples/quickstart/cairn.yaml"), encoding: .utf8)
        try directory.write("cairn.yaml", text)
        let here = try cairn.run(["validate"], in: directory.path, removing: ["CAIRN_CONFIG"])
        #expect(here.status == 0, "\(here.all)")
        #expect(here.standardOutput.hasPrefix("cairn.yaml: valid"))

        try directory.write("elsewhere/mine.yaml", text)
        let fromEnvironment = try cairn.run(["validate"], in: "/", environment: ["CAIRN_CONFIG": directory.subpath("elsewhere/mine.yaml")])
        #expect(fromEnvironment.status == 0, "\(fromEnvironment.all)")
        #expect(fromEnvironment.standardOutput.contains("elsewhere/mine.yaml: valid"))

        let missing = try cairn.run(
            ["validate"], in: directory.subpath("elsewhere"), environment: ["HOME": directory.subpath("home"), "CAIRN_SYSTEM_CONFIG": directory.subpath("etc")],
            removing: ["CAIRN_CONFIG", "XDG_CONFIG_HOME"])
        #expect(missing.status == 1)
        #expect(missing.standardError.contains("no config found (looked for ./cairn.yaml, \(directory.subpath("home"))/.config/cairn/*.yaml"), "\(missing.all)")
        // The user's config folder, named by validate.
        try directory.write("home/.config/cairn/mine.yaml", text)
        let found = try cairn.run(
            ["validate"], in: directory.subpath("elsewhere"), environment: ["HOME": directory.subpath("home"), "CAIRN_SYSTEM_CONFIG": directory.subpath("etc")],
            removing: ["CAIRN_CONFIG", "XDG_CONFIG_HOME"])
        #expect(found.status == 0 && found.standardOutput.contains(directory.subpath("home") + "/.config/cairn/mine.yaml: valid"), "\(found.all)")
    }

    @Test func warningsDoNotFailValidation() throws {
        let directory = try TemporaryDirectory()
        try directory.write("cairn.yaml", """
            version: 1
            accounts: {nas: {destination: ./b}}
            encryption: {default: {algorithm: none}}
            schedules: {past: {type: once, at: "2001-01-01T00:00"}}
            backup-sets: {s: {account: nas, sources: [./missing], schedules: [past]}}
            """)
        let output = try cairn.run(["validate"], in: directory.path, environment: ["NO_COLOR": "1"])
        #expect(output.status == 0)
        #expect(output.standardOutput == "cairn.yaml: valid, 1 backup set, 3 warnings\n")
        #expect(output.standardError.contains("cairn.yaml:3:35: warning: encryption 'default': algorithm none stores"))
        #expect(output.standardError.contains("is in the past"))
        #expect(output.standardError.contains("does not exist on this host"))
        #expect(!output.standardError.contains("not built yet"), "schedules are built: cairn run-due")
    }

    @Test func usageErrorsExitWith64() throws {
        let output = try cairn.run(["validate", "--no-such-flag"])
        #expect(output.status == 64)
        let unknown = try cairn.run(["frobnicate"])
        #expect(unknown.status == 64)
        // A mistyped command gets the closest one, at any level.
        let typo = try cairn.run(["backpu", "files"])
        #expect(typo.status == 64 && typo.standardError.contains("'backpu' is not a cairn command (did you mean 'backup'?)"), "\(typo.all)")
        let nested = try cairn.run(["key", "lst"])
        #expect(nested.status == 64 && nested.standardError.contains("'lst' is not a cairn key command (did you mean 'list'?)"), "\(nested.all)")
        #expect(try cairn.run(["help", "backup"]).status == 0)
    }

    /// Messages name things once, in words: a secret's unset variable is a sentence, not a
    /// Swift value, and a job's failure does not repeat the set's name.
    @Test func messagesAreSentencesThatNameThingsOnce() throws {
        let directory = try TemporaryDirectory()
        try directory.write("cairn.yaml", """
            version: 1
            accounts: {local: {destination: ./dest}}
            encryption: {default: {algorithm: aes-256-gcm, key: {env: CAIRN_TEST_UNSET_KEY}}}
            backup-sets:
              pb: {account: local, sources: [./src]}
            """)
        try FileManager.default.createDirectory(atPath: directory.subpath("src"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory.subpath("dest"), withIntermediateDirectories: true)
        let backup = try cairn.run(["backup", "pb"], in: directory.path, removing: ["CAIRN_TEST_UNSET_KEY"])
        #expect(backup.status == 1 && backup.standardError.contains("the secret's environment variable CAIRN_TEST_UNSET_KEY is not set"), "\(backup.all)")
        #expect(!backup.standardError.contains("unsetVariable("), "\(backup.all)")
        let restore = try cairn.run(["restore", "pb", "--to", directory.subpath("out")], in: directory.path, environment: ["CAIRN_TEST_UNSET_KEY": "k"])
        #expect(restore.status == 1 && restore.standardError.contains("restore: backup set 'pb' has never been backed up"), "\(restore.all)")
        #expect(!restore.standardError.contains("'pb': backup set 'pb'"), "\(restore.all)")
    }

    @Test func versionNamesTheLinkedLibraries() throws {
        let output = try cairn.run(["--version"])
        #expect(output.status == 0)
        #expect(output.standardOutput.hasPrefix("cairn 0.1.0 (OpenSSL 3."))
        #expect(output.standardOutput.contains("zstd 1."))
        #expect(output.standardOutput.contains("libarchive 3."))
    }

    @Test(arguments: [["--help"], ["validate", "--help"], ["plan", "--help"], ["backup", "--help"], ["restore", "--help"], ["snapshots", "--help"], ["ls", "--help"], ["apply", "--help"], ["verify", "--help"], ["key", "--help"], ["key", "add", "--help"], ["log", "--help"], ["export", "--help"], ["seed-load", "--help"], ["seed-import", "--help"], ["repair", "--help"], ["prune", "--help"], ["retention", "--help"], ["schedule", "--help"], ["run-due", "--help"]])
    func helpEndsWithTheExitStatus(arguments: [String]) throws {
        let output = try cairn.run(arguments)
        #expect(output.status == 0)
        let text = output.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(text.contains("EXIT STATUS:"))
        #expect(text.hasSuffix("64  usage error (wrong arguments or options)"), "\(text.suffix(200))")
        // No source-code escapes leak into the text.
        #expect(!text.contains("\\"), "\(text)")
    }
}
