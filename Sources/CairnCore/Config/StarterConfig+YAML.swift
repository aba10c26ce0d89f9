import Foundation

/// The starter config as the commented YAML `cairn init` writes.
extension StarterConfig {
    public var yaml: String {
        var lines = [
            "# yaml-language-server: $schema=\(schema)",
            "#",
            "# The config 'cairn init' wrote: one backup set, '\(setName)'. Every key, its default and",
            "# meaning are in cairn.yaml(5) ('man 5 cairn.yaml'). 'cairn validate' checks this file,",
            "# 'cairn plan' shows what a backup would store, 'cairn backup' makes one.",
            "version: 1",
        ]
        if let timeZone { lines.append("timezone: \(Self.scalar(timeZone))    # schedule times and retention days are in this zone") }
        lines += ["", "# Accounts: where backups go. Each backup set's repository is a folder (or prefix) in it."]
        lines += ["accounts:", "  \(accountName):"]
        switch destination {
        case .folder(let folder):
            lines.append("    destination: \(Self.scalar(folder))")
        case .s3(let url):
            lines += [
                "    destination: \(Self.scalar(url))",
                "    # The credentials come from the usual AWS sources (AWS_ACCESS_KEY_ID and",
                "    # AWS_SECRET_ACCESS_KEY, or ~/.aws/credentials), or name them here:",
                "    #   credentials: {access-key-id: {env: VAR}, secret-access-key: {file: PATH}}",
                "    # region: eu-central-1             # the bucket's region (AWS_REGION, else us-east-1)",
                "    # endpoint: https://s3.example.com  # a service other than AWS (MinIO, Backblaze B2...)",
                "    # path-style: true                  # MinIO and most self-hosted servers",
            ]
        }
        lines += ["", "# Encryption: how the repository is encrypted, and where its key comes from."]
        lines += ["encryption:", "  default:                          # the profile of every set that names none"]
        lines.append("    algorithm: \(algorithm.rawValue)")
        if let keyFile {
            lines += [
                "    # The key is read from this file (mode 0600), never written here. Without it nothing",
                "    # can be restored: keep a copy away from this computer. Other ways: {env: VAR},",
                "    # {command: \"...\"} or {prompt: true} (typed on the terminal).",
                "    key: {file: \(Self.scalar(keyFile))}",
            ]
        } else {
            lines.append("    # none: file contents and names are stored in clear at the destination.")
        }
        if let name = schedule.name {
            lines += ["", "# Schedules: when 'cairn run-due' (called by cron: 'cairn schedule install') backs up."]
            lines.append("schedules:")
            switch schedule {
            case .daily(let time): lines.append("  \(name): {type: daily, at: \"\(time)\"}")
            case .hourly: lines.append("  \(name): {type: interval, every: 1h}")
            case .none: break
            }
        }
        if let name = retention.name {
            lines += ["", "# Retention: which snapshots stay. 'cairn retention preview \(name)' shows it on a simulated history."]
            lines += ["retention:", "  \(name):"]
            switch retention {
            case .standard:
                lines += [
                    "    keep:                            # the files as they were:",
                    "      - {every: day, copies: 7}                    # on each of the last 7 days,",
                    "      - {every: week, day: saturday, copies: 4}    # the last 4 Saturdays,",
                    "      - {every: month, day: 1, copies: 12}         # and the 1st of the last 12 months",
                ]
            case .tapeRotation:
                lines += [
                    "    remove-overlap: true             # a rule drops what the next coarser rule keeps",
                    "    keep:",
                    "      - {every: day, copies: 7}",
                    "      - {every: week, day: saturday, copies: 4}",
                    "      - {every: month, day: 1, copies: 3}",
                    "      - {every: quarter, day: 1, copies: 4}        # 1 January, April, July, October",
                    "      - {every: year, date: \"01-01\", copies: 7}",
                ]
            case .days(let count):
                lines.append("    keep-days: \(count)                    # every snapshot of the last \(count) day\(count == 1 ? "" : "s")")
            case .keepAll: break
            }
        }
        lines += ["", "# Backup sets: what is backed up, where, when, and for how long."]
        lines += ["backup-sets:", "  \(Self.scalar(setName)):", "    account: \(accountName)", "    sources:"]
        lines += sources.map { "      - \(Self.scalar($0))" }
        if excludes.isEmpty {
            lines.append("    # exclude: [PATH, ...]            # files and folders under the sources to leave out")
        } else {
            lines.append("    exclude:                          # the destination is under a source: left out")
            lines += excludes.map { "      - \(Self.scalar($0))" }
        }
        if let name = schedule.name { lines.append("    schedules: [\(name)]") }
        if let name = retention.name {
            lines.append("    retention: \(name)")
        } else {
            lines.append("    # No retention: no snapshot is ever expired ('man 5 cairn.yaml', RETENTION, to add one).")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A plain scalar when it reads back as the same string, else a double-quoted one.
    static func scalar(_ text: String) -> String {
        // ':' only inside (s3://...): a plain scalar ending in one would be a key.
        let plain = text.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "/._-+@~:".unicodeScalars.contains($0)) } && !text.hasSuffix(":")
        let first = text.first.map { $0.isLetter || $0 == "/" } ?? false
        let words: Set<String> = ["true", "false", "null", "yes", "no", "on", "off", "y", "n"]
        if plain, first, text != "~", !words.contains(text.lowercased()) { return text }
        var quoted = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": quoted += "\\\""
            case "\\": quoted += "\\\\"
            case "\t": quoted += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    quoted += String(format: "\\x%02X", scalar.value)
                } else {
                    quoted.unicodeScalars.append(scalar)
                }
            }
        }
        return quoted + "\""
    }
}
