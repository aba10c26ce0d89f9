import Foundation
import Yams

/// Backup sets and their options.
extension ConfigDecoder {
    static let backupSetKeys = [
        "account", "repository", "host", "sources", "exclude", "filters", "schedules", "retention",
        "encryption", "compression", "in-file-delta", "commands", "follow-symlinks", "permissions",
        "local-copy", "notify", "max-removed", "offline-interval", "verify",
    ]

    func backupSet(_ name: String, key: Node, _ node: Node) -> BackupSet? {
        let what = "backup set '\(name)'"
        guard let fields = mapping(node, what, keys: Self.backupSetKeys, owner: key) else { return nil }
        var failed = false
        func required<T>(_ value: T?) -> T? {
            if value == nil { failed = true }
            return value
        }
        func optional<T>(_ key: String, _ read: (Node) -> T?) -> T? {
            guard let node = fields[key] else { return nil }
            return required(read(node))
        }

        let account = required(fields.required("account").flatMap { locatedString($0, "\(what): account") })
        let repository = optional("repository") { repositoryFolder($0, "\(what): repository") } ?? name
        let host = optional("host") { locatedString($0, "\(what): host") }
        var sources: [Located<String>] = []
        var optionalSources: Set<String> = []
        if let node = fields.required("sources") {
            if let read = required(sourceList(node, "\(what): sources")) {
                sources = read.map(\.path)
                optionalSources = Set(read.filter(\.isOptional).map(\.path.value))
            }
            if case .sequence(let items) = node, items.isEmpty {
                error("\(what) has no sources: list at least one file or folder to back up", at: node)
                failed = true
            }
        } else {
            failed = true
        }
        let exclude = optional("exclude") { pathList($0, "\(what): exclude") } ?? []
        let filters = optional("filters") { nameList($0, "\(what): filters") } ?? []
        let schedules = optional("schedules") { nameList($0, "\(what): schedules") } ?? []
        let retention = optional("retention") { locatedString($0, "\(what): retention") }
        let encryption =
            optional("encryption") { locatedString($0, "\(what): encryption") }
            ?? Located("default", at: location(of: key))
        let compression = optional("compression") { self.compression($0, "\(what): compression") } ?? .default
        let delta = optional("in-file-delta") { self.inFileDelta($0, "\(what): in-file-delta") } ?? .off
        let commands = optional("commands") { self.commands($0, "\(what): commands") } ?? Commands()
        let followSymlinks = optional("follow-symlinks") { boolean($0, "\(what): follow-symlinks") } ?? false
        let permissions = optional("permissions") { boolean($0, "\(what): permissions") } ?? true
        let localCopy = optional("local-copy") { self.localCopy($0, "\(what): local-copy") }
        let notify = optional("notify") { self.notifyList($0, "\(what): notify") } ?? []
        let maxRemoved =
            optional("max-removed") { node -> Percentage?? in
                orOff(node) { node -> Percentage? in
                    guard let text = string(node, "\(what): max-removed") else { return nil }
                    guard let percent = Percentage(parsing: text), percent.value >= 0, percent.value <= 100 else {
                        error("\(what): max-removed must be a percentage from 0% to 100%, or off, found '\(text)'", at: node)
                        return nil
                    }
                    return percent
                }
            } ?? Percentage(50)
        let offlineInterval = optional("offline-interval") { node -> ConfigDuration? in
            guard let interval = duration(node, "\(what): offline-interval") else { return nil }
            guard interval.seconds >= 60 else {
                error("\(what): offline-interval must be at least a minute, found \(interval)", at: node)
                return nil
            }
            return interval
        }
        let verify = optional("verify") { self.verifySchedule($0, "\(what): verify") }

        // A set with errors is still returned, so its references are checked too; the errors
        // already make the config invalid.
        _ = failed
        guard let account else { return nil }
        return BackupSet(
            name: name, location: location(of: key), account: account, repository: repository, host: host,
            sources: sources, exclude: exclude, filters: filters, schedules: schedules, retention: retention,
            encryption: encryption, compression: compression, inFileDelta: delta, commands: commands,
            followSymlinks: followSymlinks, permissions: permissions, localCopy: localCopy, notify: notify,
            optionalSources: optionalSources, maxRemoved: maxRemoved, offlineInterval: offlineInterval, verify: verify)
    }

    /// `local-copy: DIR` or `{path: DIR, only: true}`.
    func localCopy(_ node: Node, _ what: String) -> LocalCopyTarget? {
        guard case .mapping = node else { return locatedPath(node, what).map { LocalCopyTarget(path: $0, only: false) } }
        guard let fields = mapping(node, what, keys: ["path", "only"]), let pathNode = fields.required("path"),
            let path = locatedPath(pathNode, "\(what): path")
        else { return nil }
        var only = false
        if let node = fields["only"] {
            guard let value = boolean(node, "\(what): only") else { return nil }
            only = value
        }
        return LocalCopyTarget(path: path, only: only)
    }

    /// `verify: {schedule: NAME, read-data: 10%}`.
    func verifySchedule(_ node: Node, _ what: String) -> VerifySchedule? {
        guard let fields = mapping(node, what, keys: ["schedule", "read-data"]),
            let scheduleNode = fields.required("schedule"), let schedule = locatedString(scheduleNode, "\(what): schedule")
        else { return nil }
        var readData: Percentage?
        if let node = fields["read-data"] {
            guard let text = string(node, "\(what): read-data") else { return nil }
            guard let percent = Percentage(parsing: text), percent.value > 0, percent.value <= 100 else {
                error("\(what): read-data must be a percentage above 0% and at most 100% (the share of the packs each run reads), found '\(text)'", at: node)
                return nil
            }
            readData = percent
        }
        return VerifySchedule(location: location(of: node), schedule: schedule, readData: readData)
    }

    /// Sources: paths, or `{path: PATH, optional: true}` for one that may be absent (a disk
    /// that is not always there).
    func sourceList(_ node: Node, _ what: String) -> [(path: Located<String>, isOptional: Bool)]? {
        guard let items = list(node, what) else { return nil }
        let sources = items.map { item -> (path: Located<String>, isOptional: Bool)? in
            guard case .mapping = item else { return locatedPath(item, what).map { ($0, false) } }
            guard let fields = mapping(item, "\(what): a source", keys: ["path", "optional"]) else { return nil }
            guard let pathNode = fields.required("path"), let path = locatedPath(pathNode, "\(what): path") else { return nil }
            let isOptional = fields["optional"].map { boolean($0, "\(what): optional") }
            if let isOptional, isOptional == nil { return nil }
            return (path, (isOptional ?? false) ?? false)
        }
        return sources.contains { $0 == nil } ? nil : sources.compactMap { $0 }
    }

    /// A folder name, or a relative path of names, under the account's destination.
    func repositoryFolder(_ node: Node, _ what: String) -> String? {
        guard let text = string(node, what) else { return nil }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard !text.hasPrefix("/"), !parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
            error("\(what) must be a folder name under the account's destination (no leading '/', no '.' or '..'), found '\(text)'", at: node)
            return nil
        }
        return text
    }

    func pathList(_ node: Node, _ what: String) -> [Located<String>]? {
        guard let items = list(node, what) else { return nil }
        let paths = items.map { locatedPath($0, what) }
        return paths.contains { $0 == nil } ? nil : paths.compactMap { $0 }
    }

    func nameList(_ node: Node, _ what: String) -> [Located<String>]? {
        guard let items = list(node, what) else { return nil }
        let names = items.map { locatedString($0, what) }
        return names.contains { $0 == nil } ? nil : names.compactMap { $0 }
    }

    func compression(_ node: Node, _ what: String) -> Compression? {
        guard let text = string(node, what) else { return nil }
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let names = Compression.Algorithm.allCases.map(\.rawValue)
        guard let algorithm = Compression.Algorithm(rawValue: parts[0]) else {
            error("\(what) must be zstd, zlib or none, optionally with :LEVEL, found '\(text)'\(Suggestion.didYouMean(parts[0], among: names))", at: node)
            return nil
        }
        guard parts.count == 2 else { return Compression(algorithm: algorithm, level: nil) }
        guard let levels = algorithm.levels else {
            error("\(what): none takes no level", at: node)
            return nil
        }
        guard let level = Int(parts[1]), parts[1] == String(level), levels.contains(level) else {
            error("\(what): \(algorithm.rawValue) levels are \(levels.lowerBound) to \(levels.upperBound), found '\(parts[1])'", at: node)
            return nil
        }
        return Compression(algorithm: algorithm, level: level)
    }

    func inFileDelta(_ node: Node, _ what: String) -> InFileDelta? {
        let keys = ["mode", "block-size", "min-size", "max-deltas", "max-delta-ratio", "full-on"]
        guard let fields = mapping(node, what, keys: keys) else { return nil }
        var delta = InFileDelta(mode: .incremental)
        var failed = false
        if let node = fields["mode"] {
            if let mode = word(node, "\(what): mode", as: InFileDelta.Mode.self) { delta.mode = mode } else { failed = true }
        }
        if let node = fields["block-size"] {
            let sizes = ["4KiB", "8KiB", "16KiB", "32KiB", "64KiB"]
            if let text = string(node, "\(what): block-size"), text == "auto" || sizes.contains(text) {
                delta.blockSize = text == "auto" ? .auto : .fixed(ByteSize(parsing: text)!)
            } else {
                if case .scalar(let scalar) = node, !isNull(scalar) {
                    error("\(what): block-size must be auto, \(sizes.joined(separator: ", ")), found '\(scalar.string)'", at: node)
                }
                failed = true
            }
        }
        if let node = fields["min-size"] {
            if let size = size(node, "\(what): min-size") { delta.minSize = size } else { failed = true }
        }
        if let node = fields["max-deltas"] {
            if case .scalar(let scalar) = node, scalar.style == .plain, scalar.string != "off", Self.coreInteger(scalar.string) == nil {
                error("\(what): max-deltas must be an integer or off, found '\(scalar.string)'", at: node)
                failed = true
            } else if let value = orOff(node, { integer($0, "\(what): max-deltas", in: 1...100_000) }) {
                delta.maxDeltas = value
            } else {
                failed = true
            }
        }
        if let node = fields["max-delta-ratio"] {
            let value = orOff(node) { node -> Percentage? in
                guard let text = string(node, "\(what): max-delta-ratio") else { return nil }
                guard let percent = Percentage(parsing: text), percent.value > 0, percent.value <= 100 else {
                    error("\(what): max-delta-ratio must be a percentage above 0% and at most 100%, or off, found '\(text)'", at: node)
                    return nil
                }
                return percent
            }
            if let value { delta.maxDeltaRatio = value } else { failed = true }
        }
        if let node = fields["full-on"] {
            if let items = list(node, "\(what): full-on") {
                let days = items.map { fullOnDay($0, "\(what): full-on") }
                if days.contains(where: { $0 == nil }) { failed = true } else { delta.fullOn = days.compactMap { $0 } }
            } else {
                failed = true
            }
        }
        return failed ? nil : delta
    }

    private func fullOnDay(_ node: Node, _ what: String) -> InFileDelta.FullOnDay? {
        if case .mapping = node {
            guard let fields = mapping(node, "\(what) entry", keys: ["day"]), let dayNode = fields.required("day") else { return nil }
            return integer(dayNode, "\(what): day", in: 1...31).map { .dayOfMonth($0) }
        }
        return weekday(node, what).map { .weekday($0) }
    }

    func commands(_ node: Node, _ what: String) -> Commands? {
        guard let fields = mapping(node, what, keys: ["pre", "post"]) else { return nil }
        let pre = fields["pre"].map { commandList($0, "\(what): pre") } ?? []
        let post = fields["post"].map { commandList($0, "\(what): post") } ?? []
        guard let pre, let post else { return nil }
        return Commands(pre: pre, post: post)
    }

    private func commandList(_ node: Node, _ what: String) -> [Command]? {
        guard let items = list(node, what) else { return nil }
        let commands = items.map { command($0, what) }
        var seen: Set<String> = []
        for (index, command) in commands.enumerated() {
            guard let command else { continue }
            if !seen.insert(command.name).inserted {
                error("\(what): the command name '\(command.name)' is used twice", at: items[index])
            }
        }
        return commands.contains { $0 == nil } ? nil : commands.compactMap { $0 }
    }

    private func command(_ node: Node, _ what: String) -> Command? {
        let keys = ["name", "run", "cwd", "timeout", "env", "on-failure"]
        guard let fields = mapping(node, "\(what) entry", keys: keys) else { return nil }
        let name = fields.required("name").flatMap { string($0, "\(what): name") }
        let what = name.map { "\(what) '\($0)'" } ?? what
        let run = fields.required("run").flatMap { string($0, "\(what): run") }
        var failed = false
        var cwd: String?
        if let node = fields["cwd"] {
            cwd = path(node, "\(what): cwd")
            failed = failed || cwd == nil
        }
        var timeout: ConfigDuration?
        if let node = fields["timeout"] {
            timeout = duration(node, "\(what): timeout")
            failed = failed || timeout == nil
        }
        let onFailure = fields["on-failure"].map { word($0, "\(what): on-failure", as: Command.OnFailure.self) } ?? .abort
        let environment = fields["env"].map { namedEnvironment($0, "\(what): env") } ?? []
        guard !failed, let name, let run, let onFailure, let environment else { return nil }
        return Command(
            name: name, location: location(of: node), run: run, cwd: cwd, timeout: timeout,
            environment: environment, onFailure: onFailure)
    }

    private func namedEnvironment(_ node: Node, _ what: String) -> [(name: String, value: String)]? {
        guard case .mapping(let mapping) = node else {
            error("\(what) must be a mapping of variable names to values, found \(describe(node))", at: node)
            return nil
        }
        var result: [(String, String)] = []
        var failed = false
        for (keyNode, valueNode) in mapping {
            guard let name = string(keyNode, "\(what): variable name"),
                name.range(of: "^[A-Za-z_][A-Za-z0-9_]*$", options: .regularExpression) != nil
            else {
                error("\(what): variable names are letters, digits and '_', not starting with a digit", at: keyNode)
                failed = true
                continue
            }
            guard let value = string(valueNode, "\(what): \(name)", allowEmpty: true) else {
                failed = true
                continue
            }
            result.append((name, value))
        }
        return failed ? nil : result
    }

    /// `notify:`: one channel, or a list of them.
    func notifyList(_ node: Node, _ what: String) -> [Notify]? {
        guard case .sequence(let sequence) = node else { return notify(node, what).map { [$0] } }
        guard !sequence.isEmpty else {
            error("\(what) is an empty list: name a channel (command, email or webhook), or remove the key", at: node)
            return nil
        }
        let read = sequence.enumerated().map { notify($0.element, "\(what) #\($0.offset + 1)") }
        return read.contains { $0 == nil } ? nil : read.compactMap { $0 }
    }

    func notify(_ node: Node, _ what: String) -> Notify? {
        if case .mapping(let mapping) = node,
            let on = mapping.keys.first(where: { if case .scalar(let key) = $0 { return ["on", "On", "ON"].contains(key.string) } else { return false } })
        {
            error("\(what): the outcomes to send go under 'when:' ('on' means true in YAML 1.1, so cairn does not use it)", at: on)
            return nil
        }
        let channels = ["command", "email", "webhook"]
        guard let fields = mapping(node, what, keys: channels + ["when", "stale-after", "timeout"]) else { return nil }
        let named = channels.filter(fields.has)
        guard named.count == 1, let kind = named.first, let channelNode = fields[kind] else {
            let found = named.isEmpty ? "none" : named.joined(separator: " and ")
            error("\(what) must have exactly one channel: command, email or webhook (found \(found); a list of notify entries sends to several)", at: node)
            return nil
        }
        let channel: Notify.Channel
        switch kind {
        case "command":
            guard let command = string(channelNode, "\(what): command") else { return nil }
            channel = .command(command)
        case "email":
            guard let email = email(channelNode, "\(what): email") else { return nil }
            channel = .email(email)
        default:
            guard let hook = webhook(channelNode, "\(what): webhook") else { return nil }
            channel = .webhook(hook)
        }
        var when = Notify.Outcome.allCases
        if let node = fields["when"] {
            let words = oneOrMany(node).map { word($0, "\(what): when", as: Notify.Outcome.self) }
            if words.contains(where: { $0 == nil }) { return nil }
            guard !words.isEmpty else {
                error("\(what): when is an empty list: name failure, problems or success", at: node)
                return nil
            }
            when = Notify.Outcome.allCases.filter { words.contains($0) }
        }
        var staleAfter: ConfigDuration?
        if let node = fields["stale-after"] {
            guard let value = duration(node, "\(what): stale-after") else { return nil }
            guard value.seconds >= 3_600 else {
                error("\(what): stale-after must be at least 1h (how long without a successful backup before a reminder), found \(value)", at: node)
                return nil
            }
            staleAfter = value
        }
        var timeout = Notify.defaultTimeout
        if let node = fields["timeout"] {
            guard let value = duration(node, "\(what): timeout") else { return nil }
            guard value.seconds >= 1, value.seconds <= 3_600 else {
                error("\(what): timeout must be from 1s to 1h, found \(value)", at: node)
                return nil
            }
            timeout = value
        }
        if case .webhook(let hook) = channel, hook.style == .healthchecks {
            for key in ["when", "stale-after"] where fields.has(key) {
                error(
                    "\(what): \(key) does not go with style healthchecks: every job pings, so healthchecks itself sees failures and missed runs",
                    at: fields.values[key]!.key)
                return nil
            }
        }
        return Notify(location: location(of: node), channel: channel, when: when, staleAfter: staleAfter, timeout: timeout)
    }

    /// `email: ADDRESS`, a list of addresses, or `{to:, from:, sendmail:}`.
    private func email(_ node: Node, _ what: String) -> Notify.Email? {
        var from: String?
        var sendmail = Notify.defaultSendmail
        let toNode: Node
        if case .mapping = node {
            guard let fields = mapping(node, what, keys: ["to", "from", "sendmail"]), let to = fields.required("to") else { return nil }
            toNode = to
            if let node = fields["from"] {
                guard let address = emailAddress(node, "\(what): from") else { return nil }
                from = address
            }
            if let node = fields["sendmail"] {
                guard let program = path(node, "\(what): sendmail") else { return nil }
                sendmail = program
            }
        } else {
            toNode = node
        }
        let to = oneOrMany(toNode).map { emailAddress($0, "\(what): to") }
        if to.contains(where: { $0 == nil }) { return nil }
        guard !to.isEmpty else {
            error("\(what): to is an empty list: name at least one address", at: toNode)
            return nil
        }
        return Notify.Email(to: to.compactMap { $0 }, from: from, sendmail: sendmail)
    }

    /// A bare address (`name@example.com`): printable ASCII without spaces, quotes, brackets
    /// or separators, so that it can go into a header and onto sendmail's command line as it is.
    private func emailAddress(_ node: Node, _ what: String) -> String? {
        guard let text = string(node, what) else { return nil }
        guard Self.isPlainEmailAddress(text) else {
            error("\(what): '\(text.unicodeScalars.map { $0.properties.generalCategory == .control ? "?" : String($0) }.joined())' is not a plain e-mail address (name@example.com, without a display name)", at: node)
            return nil
        }
        return text
    }

    static func isPlainEmailAddress(_ text: String) -> Bool {
        let forbidden = Set("<>()[]\\,;:\"'` ")
        guard text.count <= 254, !text.hasPrefix("-"), text.allSatisfy({ $0.isASCII && !forbidden.contains($0) }),
            text.unicodeScalars.allSatisfy({ $0.value > 32 && $0.value < 127 })
        else { return false }
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && parts[1].contains(".") && !parts[1].hasPrefix(".") && !parts[1].hasSuffix(".")
    }

    /// `webhook: URL`, or `{url: URL | {env:}/{file:}/{command:}, style: report|healthchecks}`.
    private func webhook(_ node: Node, _ what: String) -> Notify.Webhook? {
        var style = Notify.Webhook.Style.report
        let urlNode: Node
        if case .mapping = node {
            guard let fields = mapping(node, what, keys: ["url", "style"]), let url = fields.required("url") else { return nil }
            urlNode = url
            if let node = fields["style"] {
                guard let read = word(node, "\(what): style", as: Notify.Webhook.Style.self) else { return nil }
                style = read
            }
        } else {
            urlNode = node
        }
        if case .mapping = urlNode {
            guard let reference = secretReference(urlNode, "\(what): url") else { return nil }
            return Notify.Webhook(url: .secret(reference), style: style)
        }
        guard let url = string(urlNode, "\(what): url") else { return nil }
        if let problem = Self.webhookURLProblem(url) {
            error("\(what): url \(problem)", at: urlNode)
            return nil
        }
        return Notify.Webhook(url: .literal(url), style: style)
    }

    /// Why a webhook URL cannot be used; nil when it can (http or https, with a host).
    public static func webhookURLProblem(_ url: String) -> String? {
        guard url.unicodeScalars.allSatisfy({ $0.value > 32 && $0.value < 127 }) else {
            return "must be a URL without spaces or control characters (percent-encode them)"
        }
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(), ["http", "https"].contains(scheme) else {
            return "must be an http:// or https:// URL, found '\(Notify.maskedURL(url))'"
        }
        guard let host = components.host, !host.isEmpty else { return "has no host" }
        guard components.user == nil, components.password == nil else {
            return "must not carry a user or password (use url: {env: VAR} to keep a secret URL out of the config)"
        }
        return nil
    }
}
