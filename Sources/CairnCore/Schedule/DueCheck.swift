import Foundation

/// Whether `cairn run-due` runs a set now, and why: pure, from what the machine remembers.
public struct DueCheck: Sendable {
    /// What is remembered of the set's runs.
    public struct History: Sendable {
        /// Firings at or before this were served (a run was started for them and ended), or
        /// were before run-due first saw the set.
        public var servedThrough: Date
        /// When the last successful backup ended (by run-due or by hand), if any.
        public var lastSuccess: Date?
        /// When the last run started by run-due for the off-line interval failed, if it did.
        public var lastOfflineFailure: Date?
        /// The last scheduled run, when it failed: its firing and when it ended.
        public var failedFiring: (firing: Date, end: Date)?

        public init(servedThrough: Date, lastSuccess: Date?, lastOfflineFailure: Date? = nil, failedFiring: (firing: Date, end: Date)? = nil) {
            self.servedThrough = servedThrough
            self.lastSuccess = lastSuccess
            self.lastOfflineFailure = lastOfflineFailure
            self.failedFiring = failedFiring
        }
    }

    public enum Decision: Sendable, Equatable {
        /// Run now. `firing` is the schedule's firing the run serves (nil for an off-line
        /// run), `reason` says why, for people.
        case due(firing: Date?, reason: String)
        /// Not now; `next` is the next firing, if any.
        case notDue(next: Date?)
        /// The set has neither schedules nor an off-line interval: it runs only by hand.
        case unscheduled
    }

    /// A run that failed (an off-line one, or a scheduled one until the next firing) is tried
    /// again after this long at the soonest, not at each call of run-due (a destination that is
    /// away stays away for a while).
    public static let offlineRetry: TimeInterval = 3600

    public static func decide(_ schedule: SetSchedule, history: History, now: Date) -> Decision {
        let interval = schedule.set.offlineInterval
        guard !schedule.schedules.isEmpty || interval != nil else { return .unscheduled }
        // What lies ahead of now (a clock that ran fast, a --now in the future) counts as now:
        // schedules never stop for a date that has not come.
        let servedThrough = min(history.servedThrough, now)
        let lastSuccess = history.lastSuccess.map { min($0, now) }
        let zone = schedule.times.timeZone
        if let firing = schedule.times.last(atOrBefore: now), firing > servedThrough {
            // Firings missed while the machine was off make one run. Counted within a month.
            let counted = schedule.times.firings(after: max(servedThrough, now.addingTimeInterval(-31 * 86_400)), through: now).count
            let missed = counted > 1 ? " (\(counted) firings since the last scheduled run: one run)" : ""
            return .due(firing: firing, reason: "its schedule fired at \(TimeText(zone: zone)(firing))\(missed)")
        }
        // The last firing's run failed: tried again an hour later, until the next firing.
        if let failed = history.failedFiring, failed.firing == schedule.times.last(atOrBefore: now),
            now.timeIntervalSince(min(failed.end, now)) >= Self.offlineRetry
        {
            return .due(
                firing: failed.firing,
                reason: "its run for the firing at \(TimeText(zone: zone)(failed.firing)) failed at \(TimeText(zone: zone)(failed.end)): trying again")
        }
        if let interval {
            let age = lastSuccess.map { now.timeIntervalSince($0) }
            let retried = history.lastOfflineFailure.map { now.timeIntervalSince($0) >= min(Self.offlineRetry, TimeInterval(interval.seconds)) } ?? true
            if age.map({ $0 >= TimeInterval(interval.seconds) }) ?? true, retried {
                let since = age.map { "its last successful backup was \(ConfigDuration(seconds: Int($0)).roughly) ago" } ?? "it has no successful backup yet"
                return .due(firing: nil, reason: "\(since) (offline-interval \(interval))")
            }
        }
        return .notDue(next: schedule.times.next(after: now, count: 1).first)
    }
}

extension ConfigDuration {
    /// The two largest units: `2d 3h`, `5h 12m`, `40s`.
    public var roughly: String {
        var parts: [String] = []
        var rest = seconds
        for (suffix, size) in Self.units where rest >= size || (parts.isEmpty && size == 1) {
            parts.append("\(rest / size)\(suffix)")
            rest %= size
            if parts.count == 2 { break }
        }
        return parts.joined(separator: " ")
    }
}
