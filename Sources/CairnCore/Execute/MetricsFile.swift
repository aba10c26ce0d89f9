import Foundation

/// The config's `metrics-file:`: the sets' status files as Prometheus text format for
/// node_exporter's textfile collector, rewritten crash-safely (a temporary file renamed over
/// it, so the collector never reads half a file) after every backup job and every run-due call.
public enum MetricsFile {
    /// The file's text for the sets that have a status file here or run here on a schedule;
    /// the next firing is worked out now, not taken from the last job's status.
    public static func text(config: Config, run: RunEnvironment) -> String {
        let here = Set(config.backupSets(forHost: run.hostName).map(\.name))
        let statuses = config.backupSets.keys.sorted().compactMap { name -> SetStatus? in
            let next = here.contains(name)
                ? SetSchedule(config.backupSets[name]!, in: config).times.next(after: run.now, count: 1).first : nil
            var status = SetStatus.read(name, run: run)
            if status == nil, next != nil { status = SetStatus(set: name, host: run.hostName) }
            status?.nextFiring = next.map { TimeArgument.rfc3339($0, in: config.timeZone) }
            return status
        }
        return render(statuses, written: run.now)
    }

    static func render(_ statuses: [SetStatus], written: Date) -> String {
        var families: [(name: String, help: String, samples: [String])] = []
        func family(_ name: String, _ help: String, _ value: (SetStatus) -> [(labels: String, value: Double)]) {
            let samples = statuses.flatMap { status in
                value(status).map { "\(name){set=\"\(escaped(status.set))\"\($0.labels)} \(number($0.value))" }
            }
            families.append((name, help, samples))
        }
        func time(_ text: String?) -> Double? { text.flatMap(TimeArgument.parseRFC3339).map(\.timeIntervalSince1970) }
        family("cairn_last_success_timestamp_seconds", "When the set's last successful backup ended (complete, incomplete or nothing to do).") {
            time($0.lastSuccess).map { [("", $0)] } ?? []
        }
        family("cairn_last_failure_timestamp_seconds", "When the set's last failed or partial backup ended.") {
            time($0.lastFailure).map { [("", $0)] } ?? []
        }
        family("cairn_next_firing_timestamp_seconds", "The next firing of the set's schedules.") { time($0.nextFiring).map { [("", $0)] } ?? [] }
        family("cairn_last_job_start_timestamp_seconds", "When the set's last backup job started.") { status in
            status.lastJob.flatMap { time($0.start) }.map { [("", $0)] } ?? []
        }
        family("cairn_last_job_end_timestamp_seconds", "When the set's last backup job ended.") { status in
            status.lastJob.flatMap { time($0.end) }.map { [("", $0)] } ?? []
        }
        family("cairn_last_job_duration_seconds", "How long the set's last backup job took.") { status in
            status.lastJob.map { [("", $0.durationSeconds)] } ?? []
        }
        family(
            "cairn_last_job_success",
            "1 when the set's last backup job succeeded (complete or nothing to do), else 0; the status label says how it ended."
        ) { status in
            status.lastJob.map { job in [(",status=\"\(escaped(job.status))\"", ["complete", "no changes"].contains(job.status) ? 1 : 0)] } ?? []
        }
        family("cairn_last_job_files", "Files in the last job's snapshot.") { $0.lastJob?.files.map { [("", Double($0))] } ?? [] }
        family("cairn_last_job_bytes", "Bytes of the files in the last job's snapshot.") { $0.lastJob?.bytes.map { [("", Double($0))] } ?? [] }
        family("cairn_last_job_read_bytes", "Bytes the last job read.") { $0.lastJob?.bytesRead.map { [("", Double($0))] } ?? [] }
        family("cairn_last_job_stored_bytes", "Bytes the last job stored at the destination.") {
            $0.lastJob?.bytesStored.map { [("", Double($0))] } ?? []
        }
        family("cairn_last_job_problems", "Files the last job could not read.") { $0.lastJob.map { [("", Double($0.problems))] } ?? [] }
        family("cairn_last_verify_timestamp_seconds", "When the set's last scheduled verify ended.") { status in
            status.lastVerify.flatMap { time($0.end) }.map { [("", $0)] } ?? []
        }
        family("cairn_last_verify_success", "1 when the set's last scheduled verify found no problems, else 0.") { status in
            status.lastVerify.map { [("", $0.status == "complete" ? 1 : 0)] } ?? []
        }
        family("cairn_last_verify_damaged", "Damaged or missing objects the set's last scheduled verify found.") { status in
            status.lastVerify.map { [("", Double($0.damaged))] } ?? []
        }
        var lines: [String] = []
        for family in families where !family.samples.isEmpty {
            lines.append("# HELP \(family.name) \(family.help)")
            lines.append("# TYPE \(family.name) gauge")
            lines += family.samples
        }
        lines.append("# HELP cairn_metrics_written_timestamp_seconds When cairn last wrote this file (after a backup job or a run-due call).")
        lines.append("# TYPE cairn_metrics_written_timestamp_seconds gauge")
        lines.append("cairn_metrics_written_timestamp_seconds \(number(written.timeIntervalSince1970))")
        return lines.joined(separator: "\n") + "\n"
    }

    /// A label value as the text format escapes it.
    static func escaped(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(format: "%.3f", value)
    }

    /// Rewrites the config's metrics file, if it has one; a failure is returned, not thrown (it
    /// must not fail the backup).
    @discardableResult
    public static func update(config: Config, run: RunEnvironment) -> String? {
        guard let path = config.metricsFile?.value else { return nil }
        do {
            try DurableFile.write(Data(text(config: config, run: run).utf8), to: path, mode: 0o644)
            return nil
        } catch {
            return "the metrics file \(path) (metrics-file: at \(config.metricsFile!.location)) could not be written: \(error)"
        }
    }
}
