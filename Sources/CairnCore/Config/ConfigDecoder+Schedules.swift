import Foundation
import Yams

/// Schedules and retention policies.
extension ConfigDecoder {
    func schedule(_ name: String, key: Node, _ node: Node) -> Schedule? {
        let what = "schedule '\(name)'"
        let keys = ["type", "at", "days", "day", "every", "max-duration"]
        guard let fields = mapping(node, what, keys: keys, owner: key),
            let typeNode = fields.required("type"),
            let type = word(typeNode, "\(what): type", as: ScheduleType.self)
        else { return nil }
        let allowed: Set<String> =
            switch type {
            case .daily: ["at"]
            case .weekly: ["at", "days"]
            case .monthly: ["at", "day"]
            case .once: ["at"]
            case .interval: ["every"]
            }
        for extra in ["at", "days", "day", "every"] where fields.has(extra) && !allowed.contains(extra) {
            diagnostics.error("\(what): '\(extra)' does not apply to a \(type.rawValue) schedule", at: fields.keyLocation(extra))
        }
        let maxDuration = fields["max-duration"].map { duration($0, "\(what): max-duration") }
        if let maxDuration, maxDuration == nil { return nil }

        func times() -> [TimeOfDay]? {
            guard let node = fields.required("at") else { return nil }
            let items = oneOrMany(node)
            if items.isEmpty { error("\(what): at must name at least one time", at: node) }
            let read = items.map { time($0, "\(what): at") }
            return read.contains { $0 == nil } || items.isEmpty ? nil : read.compactMap { $0 }.sorted()
        }

        let kind: Schedule.Kind?
        switch type {
        case .daily:
            kind = times().map { .daily(at: $0) }
        case .weekly:
            let at = times()
            var days: [Weekday]?
            if let node = fields.required("days"), let items = list(node, "\(what): days") {
                if items.isEmpty { error("\(what): days must name at least one weekday", at: node) }
                let read = items.map { weekday($0, "\(what): days") }
                days = read.contains { $0 == nil } || items.isEmpty ? nil : Array(Set(read.compactMap { $0 })).sorted()
            }
            kind = at.flatMap { at in days.map { .weekly(days: $0, at: at) } }
        case .monthly:
            let at = times()
            let day = fields.required("day").flatMap { monthDay($0, "\(what): day") }
            kind = at.flatMap { at in day.map { .monthly(day: $0, at: at) } }
        case .once:
            guard let node = fields.required("at"), let text = string(node, "\(what): at") else { return nil }
            guard let moment = LocalDateTime(parsing: text) else {
                error("\(what): at must be a date and time YYYY-MM-DDTHH:MM, found '\(text)'", at: node)
                return nil
            }
            kind = .once(at: moment)
        case .interval:
            kind = fields.required("every").flatMap { node -> Schedule.Kind? in
                guard let every = duration(node, "\(what): every") else { return nil }
                // run-due is called every few minutes, and ten years is past any schedule.
                guard every.seconds >= 60, every.seconds <= 3650 * 86_400 else {
                    error("\(what): every must be from 1m to 3650d, found \(every)", at: node)
                    return nil
                }
                return .interval(every: every)
            }
        }
        guard let kind else { return nil }
        return Schedule(name: name, location: location(of: key), kind: kind, maxDuration: maxDuration ?? nil)
    }

    enum ScheduleType: String, CaseIterable {
        case daily, weekly, monthly, once, interval
    }

    func monthDay(_ node: Node, _ what: String) -> MonthDay? {
        if case .scalar(let scalar) = node, scalar.style == .plain, Self.coreInteger(scalar.string) != nil {
            return integer(node, what, in: 1...31).map { .number($0) }
        }
        guard let text = string(node, what) else { return nil }
        if let day = MonthDay(parsing: text) { return day }
        error(
            "\(what) must be a day 1 to 31 or a rule such as first-monday, last-weekday or second-weekend, found '\(text)'\(Suggestion.didYouMean(text, among: MonthDay.ruleSpellings))",
            at: node)
        return nil
    }

    func retentionPolicy(_ name: String, key: Node, _ node: Node) -> RetentionPolicy? {
        let what = "retention '\(name)'"
        guard let fields = mapping(node, what, keys: ["keep-days", "keep-jobs", "keep", "remove-overlap", "keep-tags"], owner: key) else { return nil }
        var keepTags: [String] = []
        if let node = fields["keep-tags"], let items = list(node, "\(what): keep-tags") {
            for item in items {
                guard let tag = string(item, "\(what): keep-tags") else { continue }
                if let problem = SnapshotTag.problem(tag) {
                    error("\(what): keep-tags: \(problem)", at: item)
                } else {
                    keepTags.append(tag)
                }
            }
        }
        let given = ["keep-days", "keep-jobs", "keep"].filter(fields.has)
        guard given.count == 1 else {
            let message =
                given.isEmpty
                ? "\(what) needs one of keep-days, keep-jobs (standard) or keep (advanced)"
                : "\(what) mixes \(given.joined(separator: " and ")); use exactly one"
            error(message, at: node)
            return nil
        }
        if given[0] != "keep", fields.has("remove-overlap") {
            diagnostics.error("\(what): remove-overlap applies only to an advanced policy (keep:)", at: fields.keyLocation("remove-overlap"))
        }
        let here = location(of: key)
        switch given[0] {
        case "keep-days":
            return integer(fields["keep-days"]!, "\(what): keep-days", in: 1...100_000)
                .map { RetentionPolicy(name: name, location: here, kind: .keepDays($0), keepTags: keepTags) }
        case "keep-jobs":
            return integer(fields["keep-jobs"]!, "\(what): keep-jobs", in: 1...1_000_000)
                .map { RetentionPolicy(name: name, location: here, kind: .keepJobs($0), keepTags: keepTags) }
        default:
            let removeOverlap = fields["remove-overlap"].map { boolean($0, "\(what): remove-overlap") } ?? false
            guard let items = list(fields["keep"]!, "\(what): keep") else { return nil }
            if items.isEmpty { error("\(what): keep must list at least one rule", at: fields["keep"]!) }
            let rules = items.map { retentionRule($0, "\(what): keep rule") }
            guard let removeOverlap, !items.isEmpty, !rules.contains(where: { $0 == nil }) else { return nil }
            return RetentionPolicy(
                name: name, location: here, kind: .advanced(removeOverlap: removeOverlap, rules: rules.compactMap { $0 }), keepTags: keepTags)
        }
    }

    enum RuleEvery: String, CaseIterable {
        case day, week, month, quarter, year, custom
    }

    func retentionRule(_ node: Node, _ what: String) -> RetentionRule? {
        guard let fields = mapping(node, what, keys: ["every", "copies", "day", "date", "dates", "months"]),
            let everyNode = fields.required("every"),
            let every = word(everyNode, "\(what): every", as: RuleEvery.self)
        else { return nil }
        let what = "\(what) 'every: \(every.rawValue)'"
        let allowed: Set<String> =
            switch every {
            case .day: ["copies"]
            case .week, .month: ["copies", "day"]
            case .quarter: ["copies", "day", "months"]
            case .year: ["copies", "date"]
            case .custom: ["dates"]
            }
        for extra in ["copies", "day", "date", "dates", "months"] where fields.has(extra) && !allowed.contains(extra) {
            diagnostics.error("\(what): '\(extra)' does not apply to this rule", at: fields.keyLocation(extra))
        }
        let copies: Int? = every == .custom ? nil : fields.required("copies").flatMap { integer($0, "\(what): copies", in: 1...100_000) }
        if every != .custom, copies == nil { return nil }

        let frequency: RetentionRule.Frequency?
        switch every {
        case .day:
            frequency = .day
        case .week:
            frequency = fields.required("day").flatMap { weekday($0, "\(what): day") }.map { .week($0) }
        case .month:
            frequency = fields.required("day").flatMap { dayOfMonth($0, "\(what): day") }.map { .month($0) }
        case .quarter:
            let day = fields.required("day").flatMap { dayOfMonth($0, "\(what): day") }
            var months: [Int]? = RetentionRule.defaultQuarterMonths
            if let node = fields["months"] {
                months = list(node, "\(what): months").flatMap { items in
                    let read = items.map { month($0, "\(what): months") }
                    if items.count != 4 || Set(read.compactMap { $0 }).count != 4 {
                        error("\(what): months must name 4 different months, one for each quarter", at: node)
                        return nil
                    }
                    return read.contains { $0 == nil } ? nil : read.compactMap { $0 }.sorted()
                }
            }
            frequency = day.flatMap { day in months.map { .quarter(day, months: $0) } }
        case .year:
            frequency = fields.required("date").flatMap { monthAndDay($0, "\(what): date") }.map { .year(month: $0.month, day: $0.day) }
        case .custom:
            frequency = fields.required("dates").flatMap { list($0, "\(what): dates") }.flatMap { items in
                if items.isEmpty { error("\(what): dates must list at least one date", at: fields["dates"]!) }
                let read = items.map { date($0, "\(what): dates") }
                return read.contains { $0 == nil } || items.isEmpty ? nil : .custom(dates: read.compactMap { $0 }.sorted())
            }
        }
        guard let frequency else { return nil }
        return RetentionRule(frequency: frequency, copies: copies, location: location(of: node))
    }

    func dayOfMonth(_ node: Node, _ what: String) -> RetentionRule.DayOfMonth? {
        if case .scalar(let scalar) = node, scalar.style == .plain, scalar.string == "last" { return .last }
        if case .scalar(let scalar) = node, scalar.style == .plain, Self.coreInteger(scalar.string) != nil {
            return integer(node, what, in: 1...31).map { .number($0) }
        }
        error("\(what) must be a day 1 to 31 or last, found \(describe(node))", at: node)
        return nil
    }

    static let monthNames = [
        "january", "february", "march", "april", "may", "june",
        "july", "august", "september", "october", "november", "december",
    ]

    func month(_ node: Node, _ what: String) -> Int? {
        if case .scalar(let scalar) = node, scalar.style == .plain, Self.coreInteger(scalar.string) != nil {
            return integer(node, what, in: 1...12)
        }
        guard let text = string(node, what) else { return nil }
        if let index = Self.monthNames.firstIndex(of: text) { return index + 1 }
        error("\(what) must be a month 1 to 12 or a name such as january, found '\(text)'\(Suggestion.didYouMean(text, among: Self.monthNames))", at: node)
        return nil
    }

    /// `MM-DD`, as a yearly rule's `date`; February 29 is allowed (kept on February 28 in other years).
    func monthAndDay(_ node: Node, _ what: String) -> (month: Int, day: Int)? {
        guard let text = string(node, what) else { return nil }
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        if parts.count == 2, parts.allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isNumber) }),
            let month = Int(parts[0]), let day = Int(parts[1]), (1...12).contains(month),
            day >= 1, day <= LocalDate.days(inMonth: month, year: 2000)
        {
            return (month, day)
        }
        error("\(what) must be a month and day MM-DD such as 01-01, found '\(text)'", at: node)
        return nil
    }
}
