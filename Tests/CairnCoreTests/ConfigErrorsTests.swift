import CairnTesting
import Foundation
import Testing

@testable import CairnCore

@Suite("Config errors: every problem, at its place")
struct ConfigErrorsTests {
    @Test func reportsEveryProblemOfAFileInOneRun() throws {
        let yaml = """
            version: 1
            accounts:
              nas:
                destinaton: /srv
            schedules:
              a: {type: daily, at: 25:00}
            retention:
              r: {keep-days: "30"}
            backup-sets:
              s:
                account: naz
                sources: []
                permissions: yes
                permissions: false
            """
        let result = try ConfigFixture().load(yaml)
        #expect(result.config == nil)
        #expect(result.located == [
            "3:3 account 'nas' is missing the required key 'destination'",
            "4:5 unknown key 'destinaton' in account 'nas' (did you mean 'destination'?)",
            "6:24 schedule 'a': at must be a time of day HH:MM (00:00 to 23:59), found '25:00'",
            "8:18 retention 'r': keep-days must be an integer, found the quoted string \"30\" (quoted values are always strings)",
            "10:3 backup set 's' names no encryption and no profile named 'default' is defined: add 'encryption: NAME' or define encryption.default (algorithm: none stores data in clear)",
            "11:14 backup set 's' refers to account 'naz', which is not defined (did you mean 'nas'?)",
            "12:14 backup set 's' has no sources: list at least one file or folder to back up",
            "13:18 backup set 's': permissions must be true or false, found 'yes'",
            "14:5 the key 'permissions' is repeated in this mapping; each key may appear once",
        ])
    }

    @Test func readsTimesAsYAML12Does() throws {
        // YAML 1.1 would read 13:00 as the integer 780.
        let result = try ConfigFixture().load(preamble + "schedules:\n  n: {type: daily, at: 13:00}\n")
        #expect(result.config?.schedules["n"]?.kind == .daily(at: [TimeOfDay(hour: 13, minute: 0)]))
    }

    @Test(arguments: [
        ("version: 1\nbackup-sets: []\n", "2:14 backup-sets must be a mapping of names to definitions, found a list"),
        ("- version: 1\n", "1:1 the config file must be a mapping, found a list"),
        ("version: 1\nfoo: 1\n", "2:1 unknown key 'foo' in the config file"),
        ("version: 1\nbackup-set: {}\n", "2:1 unknown key 'backup-set' in the config file (did you mean 'backup-sets'?)"),
        ("version: 0x2\n", "1:10 this cairn reads config version 1, found version 2"),
        ("version: 1\ntimezone: Mars/Olympus\n", "2:11 unknown time zone 'Mars/Olympus'; use an IANA name such as Europe/Berlin"),
        ("", "1:1 the file is empty: a config needs at least 'version: 1'"),
        ("version: 1\n---\nversion: 1\n", "3:1 a config file holds one YAML document; split further documents into files of a config directory"),
        ("version: 1\nkey: \"unterminated\n", "3:1 invalid YAML: found unexpected end of stream; while scanning a quoted scalar that starts at line 2, column 6"),
    ])
    func locatesFileLevelProblems(yaml: String, expected: String) throws {
        let result = try ConfigFixture().load(yaml)
        #expect(result.located.first == expected)
        #expect(result.config == nil)
    }

    @Test(arguments: [
        ("schedules:\n  n: {type: weekly, days: [sat], at: \"01:00\"}\n", "saturday"),
        ("schedules:\n  n: {type: monthly, day: last-workday, at: \"01:00\"}\n", "last-weekday"),
        ("filters:\n  f: {top: /, match: endswith, patterns: [x], mode: include}\n", "ends-with"),
        ("retention:\n  r: {keep: [{every: weak, copies: 2}]}\n", "week"),
        ("backup-sets:\n  s: {account: nas, sources: [/x], compresion: zstd}\n", "compression"),
        ("backup-sets:\n  s: {account: nas, sources: [/x], in-file-delta: {mode: diferential}}\n", "differential"),
    ])
    func suggestsTheIntendedWord(yaml: String, suggestion: String) throws {
        let result = try ConfigFixture().load(preamble + yaml)
        #expect(result.errorMessages.contains { $0.contains("did you mean '\(suggestion)'?") }, "\(result.errorMessages)")
    }

    @Test(arguments: [
        "backup-sets:\n  s: {account: nas, sources: [/x], repository: /abs}\n",
        "backup-sets:\n  s: {account: nas, sources: [/x], repository: a/../b}\n",
        "backup-sets:\n  s: {account: nas, sources: [/x], compression: \"zlib:10\"}\n",
        "backup-sets:\n  s: {account: nas, sources: [/x], compression: \"none:1\"}\n",
        "backup-sets:\n  s: {account: nas, sources: [/x], compression: \"zstd:03\"}\n",
        "backup-sets:\n  s: {account: nas, sources: [/x], in-file-delta: {block-size: 4096}}\n",
        "backup-sets:\n  s: {account: nas, sources: [/x], in-file-delta: {max-delta-ratio: 150%}}\n",
        "backup-sets:\n  s: {account: nas, sources: [/x], in-file-delta: {full-on: [{day: 0}]}}\n",
        "backup-sets:\n  s: {account: nas, sources: [/x], commands: {pre: [{name: a, run: x}, {name: a, run: y}]}}\n",
        "backup-sets:\n  s: {account: nas, sources: [/x], commands: {pre: [{name: a, run: x, env: {1BAD: v}}]}}\n",
        "backup-sets:\n  s: {account: nas, sources: [\"${UNSET_VARIABLE_FOR_TEST}\"]}\n",
        "backup-sets:\n  s: {account: nas, sources: [\"${DATA\"]}\n",
        "schedules:\n  n: {type: interval, every: 15m, at: \"01:00\"}\n",
        "schedules:\n  n: {type: daily, at: []}\n",
        "retention:\n  r: {keep-days: 0}\n",
        "retention:\n  r: {keep-days: 3, remove-overlap: true}\n",
        "retention:\n  r: {}\n",
        "retention:\n  r: {keep: [{every: quarter, day: 1, months: [1, 4, 7], copies: 4}]}\n",
        "retention:\n  r: {keep: [{every: custom, dates: [2026-02-30]}]}\n",
        "retention:\n  r: {keep: [{every: custom, dates: [2026-06-30], copies: 3}]}\n",
        "filters:\n  f: {top: /, match: regex, patterns: [\"(\"], mode: include}\n",
        "accounts:\n  bad name: {destination: /x}\n",
        "accounts:\n  file: {destination: \"file://relative\"}\n",
        "encryption:\n  e: {algorithm: aes-256-gcm, key: {env: \"\"}}\n",
    ])
    func rejects(yaml: String) throws {
        let result = try ConfigFixture().load(preamble + yaml)
        #expect(result.config == nil)
        #expect(!result.diagnostics.errors.isEmpty)
        #expect(result.diagnostics.errors.allSatisfy { $0.location != nil }, "every error has a place")
    }

    @Test func plannedDestinationsAreAcceptedWithAWarning() throws {
        let result = try ConfigFixture().load(preamble.replacingOccurrences(of: "/srv/backup", with: "sftp://backup.example/cairn"))
        #expect(result.config != nil)
        #expect(result.warningMessages.contains { $0.contains("sftp:// destinations are not built yet") })
    }

    /// A cairn server account: https://HOST[:PORT]/ACCOUNT, a password by reference, its keys
    /// only with such a destination, and located errors for what is wrong.
    @Test func aServerDestinationIsAnAccountWithAPasswordReference() throws {
        let good = try ConfigFixture().load(
            preamble.replacingOccurrences(of: "destination: /srv/backup", with: "destination: https://backup.example:8443/alice, password: {env: PW}, proxy: \"http://proxy.lan:3128\""))
        #expect(good.config != nil, "\(good.diagnostics.all)")
        let server = good.config?.accounts.values.first?.server
        #expect(server?.server == "https://backup.example:8443" && server?.account == "alice" && server?.user == "alice" && server?.proxy?.port == 3128)
        for (replacement, message) in [
            ("destination: https://backup.example/alice", "missing the required key 'password'"),
            ("destination: https://backup.example/alice, password: hunter2", "must be a reference"),
            ("destination: https://backup.example/, password: {env: PW}", "the path must be the account's name"),
            ("destination: https://u:p@backup.example/alice, password: {env: PW}", "not in the URL"),
            ("destination: https://backup.example/alice, password: {env: PW}, proxy: \"socks5://p:1080\"", "a proxy is http://HOST:PORT"),
            ("destination: /srv/backup, password: {env: PW}", "is a setting of https:// destinations"),
        ] {
            let result = try ConfigFixture().load(preamble.replacingOccurrences(of: "destination: /srv/backup", with: replacement))
            #expect(result.config == nil, "\(replacement)")
            #expect(result.diagnostics.errors.contains { $0.message.contains(message) && $0.location != nil }, "\(replacement): \(result.diagnostics.errors.map(\.message))")
        }
    }

    @Test func anS3DestinationIsBucketPrefixAndSettings() throws {
        let yaml = """
            version: 1
            accounts:
              cloud:
                destination: s3://my-bucket/hosts//laptop/
                endpoint: http://127.0.0.1:9000/
                path-style: true
                credentials: {access-key-id: {env: ID}, secret-access-key: {file: /etc/secret}}
            encryption:
              default: {algorithm: aes-256-gcm, key: {env: CAIRN_KEY}}

            """
        let result = try ConfigFixture().load(yaml)
        let account = try #require(result.config?.accounts.values.first, "\(result.errorMessages)")
        #expect(result.warningMessages.allSatisfy { !$0.contains("not built") })
        let s3 = try #require(account.s3)
        #expect(s3.bucket == "my-bucket" && s3.prefix == "hosts/laptop/" && s3.endpoint == "http://127.0.0.1:9000" && s3.pathStyle)
        #expect(s3.maxRequests == 16 && s3.region == nil && s3.credentials != nil)
        #expect(s3.resolvedRegion(environment: ["AWS_DEFAULT_REGION": "eu-west-1"]) == "eu-west-1")
    }

    @Test func s3CredentialsComeFromTheUsualAWSSourcesWhenTheAccountNamesNone() throws {
        let options = S3Options(bucket: "b-1", prefix: "", pathStyle: false, maxRequests: 16)
        let fromEnvironment = try options.resolveCredentials(account: "a", environment: ["AWS_ACCESS_KEY_ID": "ID", "AWS_SECRET_ACCESS_KEY": "SECRET", "AWS_SESSION_TOKEN": "T"])
        #expect(fromEnvironment == SigV4Signer.Credentials(accessKey: "ID", secretKey: "SECRET", sessionToken: "T"))
        let directory = try TemporaryDirectory()
        let file = try directory.write("credentials", "[default]\naws_access_key_id = D\naws_secret_access_key = DS\n\n[work]\n# a comment\naws_access_key_id=W\naws_secret_access_key = W/S+=\n")
        #expect(try options.resolveCredentials(account: "a", environment: ["AWS_SHARED_CREDENTIALS_FILE": file]).accessKey == "D")
        let work = try options.resolveCredentials(account: "a", environment: ["AWS_SHARED_CREDENTIALS_FILE": file, "AWS_PROFILE": "work"])
        #expect(work == SigV4Signer.Credentials(accessKey: "W", secretKey: "W/S+="))
        #expect(throws: S3Options.MissingCredentials.self) {
            _ = try options.resolveCredentials(account: "a", environment: ["AWS_SHARED_CREDENTIALS_FILE": file, "AWS_PROFILE": "absent"])
        }
    }

    @Test func aMissingConfigSaysWhereItLooked() throws {
        let environment = ["HOME": "/nonexistent-home", "CAIRN_SYSTEM_CONFIG": "/nonexistent-etc"]
        let result = ConfigLoader(environment: environment, now: Date(), hostName: "laptop", currentDirectory: "/nonexistent-cairn-dir", timeZone: .current).load(explicitPath: nil)
        #expect(result.errorMessages == [
            "no config found (looked for ./cairn.yaml, /nonexistent-home/.config/cairn/*.yaml, /nonexistent-etc/*.yaml): pass -c PATH or set CAIRN_CONFIG"
        ])
        let named = ConfigLoader(environment: environment, now: Date(), hostName: "laptop", currentDirectory: "/nonexistent-cairn-dir", timeZone: .current).load(explicitPath: "mine.yaml")
        #expect(named.errorMessages == ["no config at 'mine.yaml': no such file or folder"])
    }

    /// Without -c or CAIRN_CONFIG: ./cairn.yaml, then the user's config folder, then the
    /// system's, each folder only when it holds a *.yaml file.
    @Test func theConfigIsFoundInTheCurrentFolderThenTheUsersThenTheSystems() throws {
        let directory = try TemporaryDirectory()
        let text = "version: 1\naccounts: {a: {destination: /tmp/x}}\nencryption: {default: {algorithm: none}}\nbackup-sets:\n  s: {account: a, sources: [/tmp]}\n"
        func loader(_ environment: [String: String], in folder: String) -> ConfigLoader {
            ConfigLoader(environment: environment, now: Date(), hostName: "laptop", currentDirectory: folder, timeZone: .current)
        }
        let environment = ["XDG_CONFIG_HOME": directory.subpath("xdg"), "HOME": directory.subpath("home"), "CAIRN_SYSTEM_CONFIG": directory.subpath("etc")]
        try FileManager.default.createDirectory(atPath: directory.subpath("here"), withIntermediateDirectories: true)
        #expect(loader(environment, in: directory.subpath("here")).configPath(explicit: nil) == "cairn.yaml")
        #expect(!loader(environment, in: directory.subpath("here")).findsConfig(explicit: nil))
        _ = try directory.write("etc/system.yaml", text)
        #expect(loader(environment, in: directory.subpath("here")).configPath(explicit: nil) == directory.subpath("etc"))
        // A folder without *.yaml files is passed over.
        _ = try directory.write("xdg/cairn/notes.txt", "not a config")
        #expect(loader(environment, in: directory.subpath("here")).configPath(explicit: nil) == directory.subpath("etc"))
        _ = try directory.write("xdg/cairn/user.yaml", text)
        let user = loader(environment, in: directory.subpath("here"))
        #expect(user.configPath(explicit: nil) == directory.subpath("xdg") + "/cairn")
        let loaded = user.load(explicitPath: nil)
        #expect(loaded.config?.files == [directory.subpath("xdg") + "/cairn/user.yaml"], "\(loaded.errorMessages)")
        // Without XDG_CONFIG_HOME: ~/.config/cairn.
        var home = environment
        home["XDG_CONFIG_HOME"] = nil
        _ = try directory.write("home/.config/cairn/home.yaml", text)
        #expect(loader(home, in: directory.subpath("here")).configPath(explicit: nil) == directory.subpath("home") + "/.config/cairn")
        _ = try directory.write("here/cairn.yaml", text)
        #expect(loader(environment, in: directory.subpath("here")).configPath(explicit: nil) == "cairn.yaml")
        var named = environment
        named["CAIRN_CONFIG"] = directory.subpath("etc/system.yaml")
        #expect(loader(named, in: directory.subpath("here")).configPath(explicit: nil) == directory.subpath("etc/system.yaml"))
        #expect(loader(named, in: directory.subpath("here")).configPath(explicit: "x.yaml") == "x.yaml")
    }

    /// `~name/` is that user's home folder; an unknown user is a sentence, not a Swift value.
    @Test func tildeUserIsThatUsersHome() throws {
        #expect(try PathExpansion.expand("~root/backups", relativeTo: "/elsewhere", environment: [:]) == "/root/backups")
        #expect(try PathExpansion.expand("~root", relativeTo: "/elsewhere", environment: [:]) == "/root")
        #expect(try PathExpansion.expand("~/x", relativeTo: "/elsewhere", environment: ["HOME": "/home/me"]) == "/home/me/x")
        do {
            _ = try PathExpansion.expand("~no-such-user-cairn/x", relativeTo: "/", environment: [:])
            Issue.record("an unknown user was expanded")
        } catch {
            #expect("\(error)" == "'~no-such-user-cairn' cannot be expanded: this machine has no user 'no-such-user-cairn'")
        }
        let unset = SecretReference.ResolutionError.unsetVariable("NOPE", SourceLocation(file: "c.yaml", line: 3, column: 5))
        #expect("\(unset)" == "c.yaml:3:5: the secret's environment variable NOPE is not set")
    }
}
