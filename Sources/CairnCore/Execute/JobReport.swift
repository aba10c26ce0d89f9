import Foundation

/// The report of one job, printed at its end and kept as JSON in the job log (the user guide's
/// Backup Log): `$XDG_STATE_HOME/cairn/logs/SET/` (by default `~/.local/state/cairn/logs/SET/`).
public struct JobReport: Codable, Sendable, Equatable {
    public struct CommandRecord: Codable, Sendable, Equatable {
        public var phase: String
        public var name: String
        public var status: Int32
        public var timedOut: Bool
        public var output: String
    }

    public struct ProblemRecord: Codable, Sendable, Equatable {
        public var path: String
        public var message: String

        public init(path: String, message: String) {
            self.path = path
            self.message = message
        }
    }

    public static let currentVersion = 1

    public var version = JobReport.currentVersion
    public var job: String
    public var set: String
    public var command: String
    public var host: String
    public var start: Timestamp
    public var end: Timestamp
    /// complete, incomplete (some files could not be read), partial (interrupted), failed.
    public var status: String
    public var snapshot: String?
    public var plan: BackupPlan.Summary?
    public var statistics: Snapshot.Statistics?
    public var problems: [ProblemRecord]
    public var drift: [String]
    public var commands: [CommandRecord]
    public var failure: String?
    /// Files with in-file delta: how each was stored and why (`full: delta 63% > 50%`).
    public var deltas: [ProblemRecord]?
    /// What pruning after the backup did.
    public var prune: [String]?
    /// What bringing the local copy up to date did, or why it could not (the job is not
    /// failed by that: the next run completes the copy).
    public var localCopy: String?
    public var localCopyFailure: String?
    /// The requests made to an object store, by kind, and the bytes sent and received.
    public var storage: StorageTraffic.Summary?
    /// Notify channels that failed to take this report (the job itself is not failed by them).
    public var notifyFailures: [String]?

    /// The report of a job that failed before it could start (a set that cannot be set up:
    /// its account, its key, its repository).
    public static func failedToStart(set: String, command: String, host: String, at time: Date, failure: String) -> JobReport {
        let id = (try? ObjectID.random())?.hex ?? UUID().uuidString.lowercased()
        return JobReport(
            job: id, set: set, command: command, host: host, start: Timestamp(time), end: Timestamp(time), status: "failed", snapshot: nil,
            plan: nil, statistics: nil, problems: [], drift: [], commands: [], failure: failure)
    }

    public var duration: TimeInterval { end.date.timeIntervalSince(start.date) }

    /// The lines printed at the end of a job.
    public func summaryLines() -> [String] {
        var lines: [String] = []
        for record in deltas ?? [] { lines.append("in-file delta: \(record.path): \(record.message)") }
        if let statistics, let snapshot {
            lines.append(
                "\(set): snapshot \(snapshot.prefix(8)) \(status == "complete" ? "saved" : "saved as \(status)"): \(statistics.files) files, \(ByteCountText.format(statistics.bytes)); read \(statistics.newFiles + statistics.changedFiles) files, \(ByteCountText.format(statistics.bytesRead)); stored \(ByteCountText.format(statistics.bytesStored)), deduplicated \(ByteCountText.format(statistics.bytesDeduplicated)); \(String(format: "%.1f", duration)) s\(problems.isEmpty ? "" : "; \(problems.count) problem\(problems.count == 1 ? "" : "s")")")
        }
        lines += prune ?? []
        if let localCopy { lines.append(localCopy) }
        if let storage { lines.append(storage.line) }
        return lines
    }
}

/// Where job reports are kept, and reading them back.
public struct JobLog: Sendable {
    /// nil when the user has no home folder and no XDG_STATE_HOME: reports are then not kept.
    public let directory: String?
    /// Root's reports from before /var/lib/cairn, read too.
    let earlierDirectory: String?

    public init(run: RunEnvironment) {
        directory = run.stateDirectory.map { $0 + "/logs" }
        earlierDirectory = run.earlierStateDirectory.map { $0 + "/logs" }
    }

    func folder(for set: String) -> String? { directory.map { $0 + "/" + set } }

    /// Saves a report as `START-JOB.json`; a failure to write the log is returned, not thrown:
    /// it must not fail the backup.
    @discardableResult
    public func save(_ report: JobReport) -> String? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        let name = "\(formatter.string(from: report.start.date))-\(report.job.prefix(8)).json"
        guard let folder = folder(for: report.set) else {
            return "the job log was not kept: there is no home folder and no XDG_STATE_HOME"
        }
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try encoder.encode(report).write(to: URL(fileURLWithPath: folder + "/" + name), options: .atomic)
            return nil
        } catch {
            return "the job log could not be written to \(folder): \(error.localizedDescription)"
        }
    }

    /// When the set's last backup that finished (complete; incomplete: some files could not be
    /// read; or nothing to do) ended, by the job log; nil when none did.
    public func lastFinishedBackup(of set: String) -> Date? {
        reports(for: set).last { ["complete", "incomplete", "no changes"].contains($0.status) }?.end.date
    }

    /// The reports of a set, oldest first.
    public func reports(for set: String) -> [JobReport] {
        let folders = [directory, earlierDirectory].compactMap { $0.map { $0 + "/" + set } }
        var seen: Set<String> = []
        return folders.flatMap { folder -> [JobReport] in
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".json") }.sorted()
            return names.compactMap { name -> JobReport? in
                guard seen.insert(name).inserted, let data = FileManager.default.contents(atPath: folder + "/" + name) else { return nil }
                return try? JSONDecoder().decode(JobReport.self, from: data)
            }
        }.sorted { ($0.start, $0.job) < ($1.start, $1.job) }
    }
}
