import CairnTesting
import Foundation

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
        ConfigLoader(environment: environment, now: now, hostName: hostName, currentDirectory: directory.path)
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
