import Foundation

/// Merges the fragments of a config directory: names are unique across files, `version` must
/// agree and `timezone` may appear once.
struct ConfigMerger {
    let fragments: [ConfigFragment]
    var diagnostics: Diagnostics
    /// The zone of a config without `timezone`: the run's.
    let defaultTimeZone: TimeZone

    /// The merged config, and the names written anywhere (including definitions with errors).
    struct Merged {
        var config: Config
        var definedNames: [String: Set<String>]
    }

    mutating func merge() -> Merged {
        var config = Config(timeZone: defaultTimeZone, files: fragments.map(\.file))
        var firstVersion: Located<Int>?
        var zone: Located<String>?
        var metricsFile: Located<String>?
        for fragment in fragments {
            if let version = fragment.version {
                if let first = firstVersion, first.value != version.value {
                    diagnostics.error(
                        "version \(version.value) disagrees with version \(first.value) at \(first.location); every file of a config has the same version",
                        at: version.location)
                }
                firstVersion = firstVersion ?? version
            }
            if let file = fragment.metricsFile {
                if let first = metricsFile {
                    diagnostics.error("metrics-file is already set at \(first.location); it may appear in one file only", at: file.location)
                } else {
                    metricsFile = file
                }
            }
            if let timeZone = fragment.timeZone {
                if let first = zone {
                    diagnostics.error("timezone is already set at \(first.location); it may appear in one file only", at: timeZone.location)
                } else {
                    zone = timeZone
                }
            }
        }
        config.version = firstVersion?.value ?? Config.supportedVersion
        config.metricsFile = metricsFile
        if let zone, let timeZone = TimeZone(identifier: zone.value) {
            config.timeZone = timeZone
            config.timeZoneName = zone.value
            config.timeZoneLocation = zone.location
        }

        var names: [String: Set<String>] = [:]
        config.accounts = collect("account", \.accounts, into: &names)
        config.encryption = collect("encryption profile", \.encryption, into: &names)
        config.filters = collect("filter", \.filters, into: &names)
        config.schedules = collect("schedule", \.schedules, into: &names)
        config.retention = collect("retention policy", \.retention, into: &names)
        config.backupSets = collect("backup set", \.backupSets, into: &names)
        return Merged(config: config, definedNames: names)
    }

    private mutating func collect<Value>(
        _ kind: String, _ entries: KeyPath<ConfigFragment, [ConfigFragment.Entry<Value>]>, into names: inout [String: Set<String>]
    ) -> [String: Value] {
        var values: [String: Value] = [:]
        var firstPlace: [String: SourceLocation] = [:]
        for fragment in fragments {
            for entry in fragment[keyPath: entries] {
                if let first = firstPlace[entry.name] {
                    diagnostics.error("\(kind) '\(entry.name)' is defined twice: here and at \(first)", at: entry.location)
                    continue
                }
                firstPlace[entry.name] = entry.location
                names[kind, default: []].insert(entry.name)
                if let value = entry.value { values[entry.name] = value }
            }
        }
        return values
    }
}
