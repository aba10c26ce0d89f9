import Foundation
import Yams

/// What one config file defines, before files are merged.
struct ConfigFragment {
    /// A definition; `value` is nil when it was written but had errors (already reported), so
    /// references to it are not reported as undefined as well.
    struct Entry<Value> {
        var name: String
        var location: SourceLocation
        var value: Value?
    }

    var file: String
    var version: Located<Int>?
    var timeZone: Located<String>?
    var metricsFile: Located<String>?
    var accounts: [Entry<Account>] = []
    var encryption: [Entry<EncryptionProfile>] = []
    var filters: [Entry<Filter>] = []
    var schedules: [Entry<Schedule>] = []
    var retention: [Entry<RetentionPolicy>] = []
    var backupSets: [Entry<BackupSet>] = []

    static let topLevelKeys = [
        "version", "timezone", "metrics-file", "accounts", "encryption", "filters", "schedules", "retention", "backup-sets",
    ]
}

extension ConfigDecoder {
    /// Decodes one file's root node.
    func fragment(_ root: Node) -> ConfigFragment {
        var fragment = ConfigFragment(file: file)
        guard let fields = mapping(root, "the config file", keys: ConfigFragment.topLevelKeys) else { return fragment }
        if let node = fields.required("version"), let version = integer(node, "version", in: 0...Int.max) {
            if version != Config.supportedVersion {
                error("this cairn reads config version \(Config.supportedVersion), found version \(version)", at: node)
            }
            fragment.version = Located(version, at: location(of: node))
        }
        if let node = fields["timezone"], let name = string(node, "timezone") {
            if TimeZone(identifier: name) == nil {
                let known = TimeZone.knownTimeZoneIdentifiers
                error("unknown time zone '\(name)'; use an IANA name such as Europe/Berlin\(Suggestion.didYouMean(name, among: known))", at: node)
            } else {
                fragment.timeZone = Located(name, at: location(of: node))
            }
        }
        if let node = fields["metrics-file"] {
            fragment.metricsFile = locatedPath(node, "metrics-file")
        }
        func entries<T>(_ key: String, _ what: String, _ decode: (String, Node, Node) -> T?) -> [ConfigFragment.Entry<T>] {
            guard let node = fields[key] else { return [] }
            return namedEntries(node, what).map { entry in
                ConfigFragment.Entry(name: entry.name, location: location(of: entry.key), value: decode(entry.name, entry.key, entry.value))
            }
        }
        fragment.accounts = entries("accounts", "accounts", account)
        fragment.encryption = entries("encryption", "encryption", encryptionProfile)
        fragment.filters = entries("filters", "filters", filter)
        fragment.schedules = entries("schedules", "schedules", schedule)
        fragment.retention = entries("retention", "retention", retentionPolicy)
        fragment.backupSets = entries("backup-sets", "backup-sets", backupSet)
        return fragment
    }
}
