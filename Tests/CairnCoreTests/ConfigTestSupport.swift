import CairnTesting
import Foundation
import Testing

@testable import CairnCore

/// Loads configs written to a temporary folder, with a fixed environment, time and host.
struct ConfigFixture {
    let directory: TemporaryDirectory
    var environment = ["HOME": "/home/tester", "DATA": "/data", "CAIRN_KEY": "secret"]
    /// 2026-11-22T12:00:00Z.
    var now = Date(timeIntervalSince1970: 1_795_348_800)
    var hostName = "testhost"

    init() throws {
        directory = try TemporaryDirectory()
    }

    var loader: ConfigLoader {
        ConfigLoader(environment: environment, now: now, hostName: hostName, currentDirectory: directory.path, timeZone: .current)
    }

    /// Writes `yaml` as cairn.yaml and loads it.
    func load(_ yaml: String, name: String = "cairn.yaml") throws -> ConfigLoader.Result {
        try directory.write(name, yaml)
        return loader.load(path: name)
    }

    /// Writes each file into a config directory and loads the directory.
    func loadDirectory(_ files: [String: String]) throws -> ConfigLoader.Result {
        for (name, text) in files { try directory.write("config/\(name)", text) }
        return loader.load(path: "config")
    }
}

extension ConfigLoader.Result {
    var errorMessages: [String] { diagnostics.errors.map(\.message) }
    var warningMessages: [String] { diagnostics.warnings.map(\.message) }

    /// `LINE:COL message` of each error, for compact expectations.
    var located: [String] {
        diagnostics.sorted.filter { $0.severity == .error }.map { d in
            "\(d.location.map { "\($0.line):\($0.column)" } ?? "-") \(d.message)"
        }
    }
}

/// A valid preamble: one account and the default encryption profile.
let preamble = """
    version: 1
    accounts:
      nas: {destination: /srv/backup}
    encryption:
      default: {algorithm: aes-256-gcm, key: {env: CAIRN_KEY}}

    """

/// The set `files` backing up `./source` into `./destination` of `directory` (both made),
/// unencrypted, with `extra` lines added to its definition: for jobs run in process. The run's
/// home folder is `home` in `directory`, so run state and caches stay in the test's folder.
func localSetContext(_ directory: TemporaryDirectory, extra: String = "", timezone: String? = nil, environment: [String: String] = [:]) throws -> SetContext {
    try FileManager.default.createDirectory(atPath: directory.subpath("destination"), withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: directory.subpath("source"), withIntermediateDirectories: true)
    try directory.write("cairn.yaml", """
        version: 1
        \(timezone.map { "timezone: \($0)" } ?? "")
        accounts: {local: {destination: ./destination}}
        encryption: {default: {algorithm: none}}
        backup-sets:
          files:
            account: local
            sources: [./source]
        \(extra)
        """)
    let run = RunEnvironment.live()
    let result = ConfigLoader(environment: ["HOME": directory.path], now: run.now, hostName: run.hostName, currentDirectory: directory.path, timeZone: run.timeZone).load(path: "cairn.yaml")
    return try SetContext(config: try #require(result.config), setName: "files", run: run.with(variables: ["HOME": directory.subpath("home")].merging(environment) { _, given in given }))
}
