import Foundation

/// Checks across definitions: references to defined names, sets that would share a repository,
/// paths that cannot have an effect, and keys whose feature this version has not built yet.
struct ConfigValidator {
    var config: Config
    let definedNames: [String: Set<String>]
    var diagnostics: Diagnostics
    let loader: ConfigLoader

    init(config merged: ConfigMerger.Merged, diagnostics: Diagnostics, loader: ConfigLoader) {
        self.config = merged.config
        self.definedNames = merged.definedNames
        self.diagnostics = diagnostics
        self.loader = loader
    }

    mutating func validate() {
        for set in config.backupSets.values.sorted(by: { $0.location < $1.location }) {
            checkReferences(of: set)
            checkPaths(of: set)
        }
        checkSharedRepositories()
        for account in config.accounts.values {
            if case .remote(let scheme, _) = account.destination, scheme != "s3", scheme != "https" {
                diagnostics.warning(
                    "account '\(account.name)': \(scheme):// destinations are not built yet in this version of cairn; a run that needs this account will fail",
                    at: account.location)
            }
        }
        if let file = config.metricsFile {
            let folder = (file.value as NSString).deletingLastPathComponent
            if !file.value.hasSuffix(".prom") {
                diagnostics.warning("metrics-file: node_exporter's textfile collector reads only files ending in .prom", at: file.location)
            }
            var isFolder: ObjCBool = false
            if !FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder) || !isFolder.boolValue {
                diagnostics.warning(
                    "metrics-file: the folder \(folder) does not exist on this host; runs will make it (node_exporter's --collector.textfile.directory must name it)",
                    at: file.location)
            }
        }
        for schedule in config.schedules.values {
            if case .once(let moment) = schedule.kind, let instant = moment.instant(in: config.timeZone), instant < loader.now {
                diagnostics.warning("schedule '\(schedule.name)': \(moment) is in the past, so it will not run again", at: schedule.location)
            }
        }
    }

    private mutating func reference(_ name: Located<String>, kind: String, from what: String) {
        let known = definedNames[kind] ?? []
        guard !known.contains(name.value) else { return }
        diagnostics.error(
            "\(what) refers to \(kind) '\(name.value)', which is not defined\(Suggestion.didYouMean(name.value, among: known))",
            at: name.location)
    }

    private mutating func checkReferences(of set: BackupSet) {
        let what = "backup set '\(set.name)'"
        reference(set.account, kind: "account", from: what)
        if set.encryption.value == "default", !(definedNames["encryption profile"] ?? []).contains("default") {
            diagnostics.error(
                "\(what) names no encryption and no profile named 'default' is defined: add 'encryption: NAME' or define encryption.default (algorithm: none stores data in clear)",
                at: set.location)
        } else {
            reference(set.encryption, kind: "encryption profile", from: what)
        }
        if !set.schedules.isEmpty || set.offlineInterval != nil || set.verify != nil, let profile = config.encryption[set.encryption.value],
            let key = profile.key, key.source == .prompt
        {
            diagnostics.warning(
                "\(what) runs on a schedule, and the key of its encryption profile '\(profile.name)' is asked at a prompt: runs started by cron have no terminal to ask on and will fail (use {file: PATH} or {command: \"...\"} for scheduled sets)",
                at: key.location)
        }
        for filter in set.filters { reference(filter, kind: "filter", from: what) }
        for schedule in set.schedules { reference(schedule, kind: "schedule", from: what) }
        if let verify = set.verify { reference(verify.schedule, kind: "schedule", from: "\(what): verify") }
        if let retention = set.retention { reference(retention, kind: "retention policy", from: what) }
        for (kind, names) in [("filter", set.filters), ("schedule", set.schedules)] {
            var seen: Set<String> = []
            for name in names where !seen.insert(name.value).inserted {
                diagnostics.warning("\(what) lists \(kind) '\(name.value)' twice", at: name.location)
            }
        }
    }

    private mutating func checkPaths(of set: BackupSet) {
        let what = "backup set '\(set.name)'"
        let sources = set.sources.map(\.value)
        for (index, source) in set.sources.enumerated() {
            if let outer = sources.enumerated().first(where: { $0.offset != index && Self.path(source.value, isInside: $0.element) }) {
                let detail = outer.element == source.value ? "is listed twice" : "is inside the source \(outer.element)"
                if outer.element != source.value || outer.offset < index {
                    diagnostics.warning("\(what): the source \(source.value) \(detail)", at: source.location)
                }
            }
            if runsHere(set), !set.optionalSources.contains(source.value), !FileManager.default.fileExists(atPath: source.value) {
                diagnostics.warning(
                    "\(what): the source \(source.value) does not exist on this host: a run fails the set until it does (declare it {path: ..., optional: true} if it may be absent)",
                    at: source.location)
            }
        }
        for excluded in set.exclude where !sources.contains(where: { Self.path(excluded.value, isInside: $0) }) {
            diagnostics.warning("\(what): \(excluded.value) is not inside any source, so excluding it has no effect", at: excluded.location)
        }
        for name in set.filters {
            guard let filter = config.filters[name.value] else { continue }
            let overlaps = sources.contains { Self.path(filter.top, isInside: $0) || Self.path($0, isInside: filter.top) }
            if !overlaps {
                diagnostics.warning(
                    "\(what): filter '\(filter.name)' applies under \(filter.top), which holds none of the set's sources, so it has no effect",
                    at: name.location)
            }
        }
    }

    private func runsHere(_ set: BackupSet) -> Bool {
        set.host == nil || set.host?.value == loader.hostName
    }

    static func path(_ path: String, isInside folder: String) -> Bool {
        path == folder || folder == "/" || path.hasPrefix(folder + "/")
    }

    private mutating func checkSharedRepositories() {
        var owners: [String: BackupSet] = [:]
        for set in config.backupSets.values.sorted(by: { $0.location < $1.location }) {
            guard let account = config.accounts[set.account.value] else { continue }
            let place = "\(account.destination)/\(set.repository)"
            if let owner = owners[place] {
                diagnostics.error(
                    "backup set '\(set.name)' would share the repository \(place) with backup set '\(owner.name)' (\(owner.location)); give one a different 'repository:'",
                    at: set.location)
            } else {
                owners[place] = set
            }
        }
    }
}
