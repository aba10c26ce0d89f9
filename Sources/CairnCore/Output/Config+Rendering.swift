import Foundation

/// The merged, normalised config as `cairn validate --show` prints it: every default filled in,
/// paths absolute, secrets shown as the reference (never a value; command text masked).
/// The YAML form is itself a valid config that loads to the same values.
extension Config {
    public var normalized: StructuredValue {
        func section<T>(_ values: [String: T], _ render: (T) -> StructuredValue) -> StructuredValue {
            .map(values.keys.sorted().map { ($0, render(values[$0]!)) })
        }
        return .map([
            ("version", .integer(version)),
            ("timezone", .string(timeZoneName)),
        ] + (metricsFile.map { [("metrics-file", StructuredValue.string($0.value))] } ?? []) + [
            ("accounts", section(accounts, Self.render)),
            ("encryption", section(encryption, Self.render)),
            ("filters", section(filters, Self.render)),
            ("schedules", section(schedules, Self.render)),
            ("retention", section(retention, Self.render)),
            ("backup-sets", section(backupSets, Self.render)),
        ])
    }

    static func strings(_ values: [String]) -> StructuredValue { .list(values.map { .string($0) }) }

    static func render(_ account: Account) -> StructuredValue {
        var pairs: [(String, StructuredValue)] = [("destination", .string(account.destination.description))]
        if let s3 = account.s3 {
            // Endpoint and region as a run resolves them without the environment's AWS_REGION.
            if let endpoint = s3.endpoint { pairs.append(("endpoint", .string(endpoint))) }
            if let region = s3.region { pairs.append(("region", .string(region))) }
            pairs.append(("path-style", .boolean(s3.pathStyle)))
            if let storageClass = s3.storageClass { pairs.append(("storage-class", .string(storageClass))) }
            pairs.append(("max-requests", .integer(s3.maxRequests)))
            if let credentials = s3.credentials {
                var entries: [(String, StructuredValue)] = [
                    ("access-key-id", render(credentials.accessKeyID)), ("secret-access-key", render(credentials.secretAccessKey)),
                ]
                if let token = credentials.sessionToken { entries.append(("session-token", render(token))) }
                pairs.append(("credentials", .map(entries)))
            }
        }
        if let server = account.server {
            if !server.account.isEmpty, server.user != server.account { pairs.append(("user", .string(server.user))) }
            if server.account.isEmpty { pairs.append(("user", .string(server.user))) }
            if let password = server.password { pairs.append(("password", render(password))) }
            if let caFile = server.caFile { pairs.append(("ca-file", .string(caFile))) }
            if let proxy = server.proxy {
                // A password in the proxy's URL is masked, as secret commands are.
                let credentials = proxy.user.map { "\($0)\(proxy.password == nil ? "" : ":***")@" } ?? ""
                let host = proxy.host.contains(":") ? "[\(proxy.host)]" : proxy.host
                pairs.append(("proxy", .string("http://\(credentials)\(host):\(proxy.port)")))
            }
            pairs.append(("max-requests", .integer(server.maxRequests)))
        }
        return .map(pairs)
    }

    static func render(_ profile: EncryptionProfile) -> StructuredValue {
        var pairs: [(String, StructuredValue)] = [("algorithm", .string(profile.algorithm.rawValue))]
        if let key = profile.key {
            switch key.source {
            case .environment(let name): pairs.append(("key", .map([("env", .string(name))])))
            case .file(let path): pairs.append(("key", .map([("file", .string(path))])))
            case .command: pairs.append(("key", .map([("command", .string("***")), ("timeout", .string(key.timeout.description))])))
            case .prompt: pairs.append(("key", .map([("prompt", .boolean(true))])))
            }
        }
        return .map(pairs)
    }

    /// A secret reference as the config writes it; a command's text masked.
    static func render(_ reference: SecretReference) -> StructuredValue {
        switch reference.source {
        case .environment(let name): return .map([("env", .string(name))])
        case .file(let path): return .map([("file", .string(path))])
        case .command: return .map([("command", .string("***")), ("timeout", .string(reference.timeout.description))])
        case .prompt: return .map([("prompt", .boolean(true))])
        }
    }

    static func render(_ filter: Filter) -> StructuredValue {
        .map([
            ("top", .string(filter.top)),
            ("apply-to", strings(filter.applyTo.map(\.rawValue))),
            ("match", .string(filter.match.rawValue)),
            ("patterns", strings(filter.patterns)),
            ("mode", .string(filter.mode.rawValue)),
            ("others", .string(filter.others.rawValue)),
        ])
    }

    static func render(_ schedule: Schedule) -> StructuredValue {
        var pairs: [(String, StructuredValue)] = [("type", .string(schedule.kind.typeName))]
        let times = { (at: [TimeOfDay]) in strings(at.map(\.description)) }
        switch schedule.kind {
        case .daily(let at):
            pairs.append(("at", times(at)))
        case .weekly(let days, let at):
            pairs += [("days", strings(days.map(\.rawValue))), ("at", times(at))]
        case .monthly(let day, let at):
            let dayValue: StructuredValue = if case .number(let n) = day { .integer(n) } else { .string(day.description) }
            pairs += [("day", dayValue), ("at", times(at))]
        case .once(let at):
            pairs.append(("at", .string(at.description)))
        case .interval(let every):
            pairs.append(("every", .string(every.description)))
        }
        if let maxDuration = schedule.maxDuration { pairs.append(("max-duration", .string(maxDuration.description))) }
        return .map(pairs)
    }

    static func render(_ policy: RetentionPolicy) -> StructuredValue {
        var pairs: [(String, StructuredValue)]
        switch policy.kind {
        case .keepDays(let days): pairs = [("keep-days", .integer(days))]
        case .keepJobs(let jobs): pairs = [("keep-jobs", .integer(jobs))]
        case .advanced(let removeOverlap, let rules): pairs = [("remove-overlap", .boolean(removeOverlap)), ("keep", .list(rules.map(render)))]
        }
        if !policy.keepTags.isEmpty { pairs.append(("keep-tags", .list(policy.keepTags.map { .string($0) }))) }
        return .map(pairs)
    }

    static func render(_ day: RetentionRule.DayOfMonth) -> StructuredValue {
        switch day {
        case .number(let n): return .integer(n)
        case .last: return .string("last")
        }
    }

    static func render(_ rule: RetentionRule) -> StructuredValue {
        var pairs: [(String, StructuredValue)] = [("every", .string(rule.frequency.name))]
        switch rule.frequency {
        case .day: break
        case .week(let day): pairs.append(("day", .string(day.rawValue)))
        case .month(let day): pairs.append(("day", render(day)))
        case .quarter(let day, let months): pairs += [("day", render(day)), ("months", .list(months.map { .integer($0) }))]
        case .year(let month, let day): pairs.append(("date", .string(String(format: "%02d-%02d", month, day))))
        case .custom(let dates): pairs.append(("dates", strings(dates.map(\.description))))
        }
        if let copies = rule.copies { pairs.append(("copies", .integer(copies))) }
        return .map(pairs)
    }

    static func render(_ set: BackupSet) -> StructuredValue {
        var pairs: [(String, StructuredValue)] = [
            ("account", .string(set.account.value)),
            ("repository", .string(set.repository)),
        ]
        if let host = set.host { pairs.append(("host", .string(host.value))) }
        pairs += [
            (
                "sources",
                .list(
                    set.sources.map { source in
                        set.optionalSources.contains(source.value)
                            ? .map([("path", .string(source.value)), ("optional", .boolean(true))]) : .string(source.value)
                    })
            ),
            ("exclude", strings(set.exclude.map(\.value))),
            ("filters", strings(set.filters.map(\.value))),
            ("schedules", strings(set.schedules.map(\.value))),
        ]
        if let retention = set.retention { pairs.append(("retention", .string(retention.value))) }
        pairs += [
            ("encryption", .string(set.encryption.value)),
            ("compression", .string(set.compression.description)),
            ("in-file-delta", render(set.inFileDelta)),
            ("commands", .map([("pre", .list(set.commands.pre.map(render))), ("post", .list(set.commands.post.map(render)))])),
            ("follow-symlinks", .boolean(set.followSymlinks)),
            ("permissions", .boolean(set.permissions)),
            ("max-removed", .string(set.maxRemoved?.description ?? "off")),
        ]
        if let interval = set.offlineInterval { pairs.append(("offline-interval", .string(interval.description))) }
        if let copy = set.localCopy { pairs.append(("local-copy", .map([("path", .string(copy.path.value)), ("only", .boolean(copy.only))]))) }
        if let verify = set.verify {
            var fields: [(String, StructuredValue)] = [("schedule", .string(verify.schedule.value))]
            if let share = verify.readData { fields.append(("read-data", .string(share.description))) }
            pairs.append(("verify", .map(fields)))
        }
        if !set.notify.isEmpty { pairs.append(("notify", .list(set.notify.map(render)))) }
        return .map(pairs)
    }

    /// A notify entry in full (a webhook's URL as written: --show prints the user's own
    /// config; plans, logs and errors show it without its path), an e-mail entry always in
    /// its long form.
    static func render(_ notify: Notify) -> StructuredValue {
        var pairs: [(String, StructuredValue)] = []
        switch notify.channel {
        case .command(let command): pairs.append(("command", .string(command)))
        case .email(let email):
            var fields: [(String, StructuredValue)] = [("to", .list(email.to.map { .string($0) }))]
            if let from = email.from { fields.append(("from", .string(from))) }
            fields.append(("sendmail", .string(email.sendmail)))
            pairs.append(("email", .map(fields)))
        case .webhook(let hook):
            let url: StructuredValue
            switch hook.url {
            case .literal(let text): url = .string(text)
            case .secret(let reference): url = render(reference)
            }
            pairs.append(("webhook", .map([("url", url), ("style", .string(hook.style.rawValue))])))
        }
        if !notify.pingsEveryJob { pairs.append(("when", .list(notify.when.map { .string($0.rawValue) }))) }
        if let stale = notify.staleAfter { pairs.append(("stale-after", .string(stale.description))) }
        pairs.append(("timeout", .string(notify.timeout.description)))
        return .map(pairs)
    }

    static func render(_ delta: InFileDelta) -> StructuredValue {
        guard delta.mode != .off else { return .map([("mode", .string("off"))]) }
        return .map([
            ("mode", .string(delta.mode.rawValue)),
            ("block-size", .string(delta.blockSize.description)),
            ("min-size", .string(delta.minSize.description)),
            ("max-deltas", delta.maxDeltas.map { .integer($0) } ?? .string("off")),
            ("max-delta-ratio", .string(delta.maxDeltaRatio?.description ?? "off")),
            ("full-on", .list(delta.fullOn.map { day in
                switch day {
                case .weekday(let weekday): return .string(weekday.rawValue)
                case .dayOfMonth(let n): return .map([("day", .integer(n))])
                }
            })),
        ])
    }

    static func render(_ command: Command) -> StructuredValue {
        var pairs: [(String, StructuredValue)] = [("name", .string(command.name)), ("run", .string(command.run))]
        if let cwd = command.cwd { pairs.append(("cwd", .string(cwd))) }
        if let timeout = command.timeout { pairs.append(("timeout", .string(timeout.description))) }
        if !command.environment.isEmpty {
            pairs.append(("env", .map(command.environment.map { ($0.name, .string($0.value)) })))
        }
        pairs.append(("on-failure", .string(command.onFailure.rawValue)))
        return .map(pairs)
    }
}
