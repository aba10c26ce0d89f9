import Foundation

/// What a notify channel is sent: a job that starts (healthchecks-style pings only) or ends
/// with its report, or run-due's reminder that a set has had no successful backup for a while.
/// Commands read it as JSON on standard input and webhooks get it as the POST body.
public struct Notification: Codable, Sendable, Equatable {
    public enum Event: String, Codable, Sendable {
        case start, finish, stale
    }

    public static let currentVersion = 1

    public var version = Notification.currentVersion
    public var event: Event
    public var set: String
    public var host: String
    /// How the job ended (finish only).
    public var outcome: Notify.Outcome?
    /// cairn's exit status for the job (finish only).
    public var exitStatus: Int32?
    /// One line for people: the e-mail subject, the first line of the body.
    public var summary: String
    /// The job's report (finish only).
    public var report: JobReport?
    /// When the job started and ended, RFC 3339 in UTC, and how long it took (finish only).
    public var start: String?
    public var end: String?
    public var durationSeconds: Double?
    /// RFC 3339 time of the last successful backup, when there was one (stale only).
    public var lastSuccess: String?
    /// How long without a successful backup triggers the reminder (stale only).
    public var staleAfter: String?

    enum CodingKeys: String, CodingKey {
        case version, event, set, host, outcome, summary, report
        case start, end
        case exitStatus = "exit-status"
        case durationSeconds = "duration-seconds"
        case lastSuccess = "last-success"
        case staleAfter = "stale-after"
    }

    public static func start(set: String, host: String, command: String) -> Notification {
        Notification(event: .start, set: set, host: host, summary: "\(set) on \(host): \(command) started")
    }

    public static func finish(_ report: JobReport, exitStatus: Int32) -> Notification {
        let outcome = Notify.Outcome(report)
        let what: String
        switch report.command == "verify" ? "verify " + report.status : report.status {
        case "verify complete": what = "verify found no problems"
        case "verify failed":
            what = report.problems.isEmpty ? "verify failed" : "verify found \(report.problems.count) damaged or missing object\(report.problems.count == 1 ? "" : "s")"
        case "complete": what = report.drift.isEmpty ? "backup complete" : "backup complete; \(report.drift.count) files changed during the run"
        case "no changes": what = "no changes; nothing to do"
        case "incomplete": what = "backup incomplete: \(report.problems.count) problem\(report.problems.count == 1 ? "" : "s")"
        case "partial": what = "backup partial: stopped before the end"
        case "cancelled": what = "backup cancelled: nothing was stored"
        default: what = "backup failed"
        }
        return Notification(
            event: .finish, set: report.set, host: report.host, outcome: outcome, exitStatus: exitStatus,
            summary: "\(report.set) on \(report.host): \(what)", report: report,
            start: TimeArgument.rfc3339(report.start.date, in: .gmt), end: TimeArgument.rfc3339(report.end.date, in: .gmt),
            durationSeconds: (report.duration * 1000).rounded() / 1000)
    }

    public static func stale(set: String, host: String, lastSuccess: String?, staleAfter: ConfigDuration) -> Notification {
        let since = lastSuccess.map { "since \($0)" } ?? "ever"
        return Notification(
            event: .stale, set: set, host: host, summary: "\(set) on \(host): no successful backup for \(staleAfter) (\(since == "ever" ? "never backed up" : "last \(since)"))",
            lastSuccess: lastSuccess, staleAfter: staleAfter.description)
    }

    /// The JSON text channels get.
    public func json() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)) ?? Data("{}".utf8)
    }
}

extension Notify.Outcome {
    /// How a job's report counts for `when:`.
    public init(_ report: JobReport) {
        switch report.status {
        case "complete": self = report.drift.isEmpty && report.problems.isEmpty && report.localCopyFailure == nil ? .success : .problems
        case "no changes": self = report.localCopyFailure == nil ? .success : .problems
        case "incomplete", "partial": self = .problems
        default: self = .failure
        }
    }
}
