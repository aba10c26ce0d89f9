import Foundation

/// A set's status for monitoring, one JSON file per set (`STATE/status/SET.json`), rewritten
/// crash-safely after each of its backup jobs (by hand or by run-due): the last job, the last
/// success and failure, and the next firing of its schedules.
public struct SetStatus: Codable, Sendable, Equatable {
    public static let currentVersion = 1

    public struct Job: Codable, Sendable, Equatable {
        public var job: String
        public var command: String
        public var start: String
        public var end: String
        public var durationSeconds: Double
        /// complete, incomplete, partial, failed, no changes, cancelled.
        public var status: String
        public var snapshot: String?
        public var files: Int?
        public var bytes: UInt64?
        public var bytesRead: UInt64?
        public var bytesStored: UInt64?
        public var problems: Int
        public var failure: String?

        enum CodingKeys: String, CodingKey {
            case job, command, start, end, status, snapshot, files, bytes, problems, failure
            case durationSeconds = "duration-seconds"
            case bytesRead = "bytes-read"
            case bytesStored = "bytes-stored"
        }
    }

    public var version = SetStatus.currentVersion
    public var set: String
    public var host: String
    public var lastJob: Job?
    /// RFC 3339 times in the config's zone.
    public var lastSuccess: String?
    public var lastFailure: String?
    public var nextFiring: String?
    /// The last scheduled verify (run-due's `verify:`).
    public var lastVerify: Verify?

    public struct Verify: Codable, Sendable, Equatable {
        public var start: String
        public var end: String
        /// complete (no problems) or failed (damage found, or it could not run).
        public var status: String
        /// `3/10`: the slice of the packs it read, when it read data.
        public var slice: String?
        public var packsRead: Int?
        public var damaged: Int
        public var failure: String?

        enum CodingKeys: String, CodingKey {
            case start, end, status, slice, damaged, failure
            case packsRead = "packs-read"
        }
    }

    enum CodingKeys: String, CodingKey {
        case lastVerify = "last-verify"
        case version, set, host
        case lastJob = "last-job"
        case lastSuccess = "last-success"
        case lastFailure = "last-failure"
        case nextFiring = "next-firing"
    }

    /// The file of `set`; nil without a state folder.
    public static func path(_ set: String, run: RunEnvironment) -> String? {
        run.stateDirectory.map { "\($0)/status/\(set).json" }
    }

    public static func read(_ set: String, run: RunEnvironment) -> SetStatus? {
        guard let path = path(set, run: run), let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(SetStatus.self, from: data)
    }

    /// Records a scheduled verify of the set; a failure to write is returned, not thrown.
    @discardableResult
    public static func recordVerify(_ report: JobReport, slice: Verifier.Slice?, packsRead: Int?, context: SetContext) -> String? {
        let run = context.run
        guard let path = path(context.set.name, run: run) else { return nil }
        let zone = context.config.timeZone
        var status = read(context.set.name, run: run) ?? SetStatus(set: context.set.name, host: run.hostName)
        status.lastVerify = Verify(
            start: TimeArgument.rfc3339(report.start.date, in: zone), end: TimeArgument.rfc3339(report.end.date, in: zone), status: report.status,
            slice: slice?.description, packsRead: packsRead, damaged: report.problems.count, failure: report.failure)
        return write(status, to: path)
    }

    static func write(_ status: SetStatus, to path: String) -> String? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            try DurableFile.write(try encoder.encode(status), to: path)
            return nil
        } catch {
            return "the status file \(path) could not be written: \(error)"
        }
    }

    /// Records a finished job of the set; a failure to write is returned, not thrown (it must
    /// not fail the backup).
    @discardableResult
    public static func record(_ report: JobReport, context: SetContext) -> String? {
        let run = context.run
        guard let path = path(context.set.name, run: run) else { return nil }
        let zone = context.config.timeZone
        var status = read(context.set.name, run: run) ?? SetStatus(set: context.set.name, host: run.hostName)
        status.host = run.hostName
        let end = TimeArgument.rfc3339(report.end.date, in: zone)
        status.lastJob = Job(
            job: report.job, command: report.command, start: TimeArgument.rfc3339(report.start.date, in: zone), end: end,
            durationSeconds: (report.duration * 1000).rounded() / 1000, status: report.status, snapshot: report.snapshot,
            files: report.statistics?.files, bytes: report.statistics?.bytes, bytesRead: report.statistics?.bytesRead,
            bytesStored: report.statistics?.bytesStored, problems: report.problems.count, failure: report.failure)
        switch report.status {
        case "complete", "incomplete", "no changes": status.lastSuccess = end
        case "failed", "partial": status.lastFailure = end
        default: break
        }
        status.nextFiring = SetSchedule(context.set, in: context.config).times.next(after: run.now, count: 1).first.map {
            TimeArgument.rfc3339($0, in: zone)
        }
        return write(status, to: path)
    }
}
