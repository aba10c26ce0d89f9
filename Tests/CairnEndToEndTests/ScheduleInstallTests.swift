import CairnTesting
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `cairn schedule install | remove | status` against Debian cron's real `crontab`, as the
/// unprivileged user `nobody` (CI runs as root: the test edits nobody's crontab, not root's).
@Suite("Installing the caller of run-due", .serialized)
struct ScheduleInstallTests {
    let asNobody = ["/usr/sbin/runuser", "-u", "nobody", "--"]

    func shell(_ arguments: [String], input: String? = nil) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        let output = Pipe(), stdin = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = stdin
        try process.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    func nobodysCrontab() throws -> String {
        let result = try shell(["/usr/bin/crontab", "-u", "nobody", "-l"])
        return result.status == 0 ? result.output : ""
    }

    /// A workspace nobody can use: its set runs nightly.
    func workspace() throws -> Workspace {
        let workspace = try Workspace(algorithm: "none", extra: """
                schedules: [nightly]
            schedules: {nightly: {type: daily, at: "01:00"}}
            """)
        try FileManager.default.createDirectory(atPath: workspace.source, withIntermediateDirectories: true)
        chmod(workspace.directory.path, 0o755)
        for folder in ["state", "cache", "units"] {
            try FileManager.default.createDirectory(atPath: workspace.directory.subpath(folder), withIntermediateDirectories: true)
            chown(workspace.directory.subpath(folder), 65534, 65534)
        }
        return workspace
    }

    func cairn(_ workspace: Workspace, _ arguments: [String]) throws -> CairnProcess.Output {
        try workspace.cairn.run(arguments, in: workspace.directory.path, environment: workspace.environment, prefix: asNobody)
    }

    @Test func theCrontabBlockIsInstalledReplacedAndRemovedAndOtherLinesStay() throws {
        try #require(getuid() == 0, "run as root: the test edits nobody's crontab through runuser")
        let workspace = try workspace()
        let others = "MAILTO=\"\"\n# a line of the user's own\n17 3 * * * /bin/echo keep %percent\n"
        #expect(try shell(["/usr/bin/crontab", "-u", "nobody", "-"], input: others).status == 0)
        defer { _ = try? shell(["/usr/bin/crontab", "-u", "nobody", "-r"]) }

        let install = try cairn(workspace, ["schedule", "install"])
        #expect(install.status == 0, "\(install.all)")
        #expect(install.standardOutput.contains("installed in the crontab of nobody: run-due every 5 minutes"), "\(install.all)")
        let installed = try nobodysCrontab()
        #expect(installed.hasPrefix(others), "the user's lines stay first and unchanged: \(installed)")
        let config = workspace.directory.subpath("cairn.yaml")
        #expect(installed.contains("*/5 * * * * XDG_STATE_HOME='\(workspace.directory.subpath("state"))' XDG_CACHE_HOME='\(workspace.directory.subpath("cache"))' '"), "\(installed)")
        #expect(installed.contains("/cairn' run-due -q -c '\(config)'\n# END cairn run-due\n"), "\(installed)")

        // Again: the same crontab, one block.
        #expect(try cairn(workspace, ["schedule", "install"]).status == 0)
        #expect(try nobodysCrontab() == installed)
        let status = try cairn(workspace, ["schedule", "status"])
        #expect(status.status == 0 && status.standardOutput.contains("up to date: the crontab of nobody calls run-due every 5 minutes"), "\(status.all)")

        // Every minute: the block is replaced, not added.
        #expect(try cairn(workspace, ["schedule", "install", "--every", "1"]).status == 0)
        let everyMinute = try nobodysCrontab()
        #expect(everyMinute.components(separatedBy: "# BEGIN cairn run-due").count == 2 && everyMinute.contains("\n* * * * * XDG_STATE_HOME="), "\(everyMinute)")
        #expect(everyMinute.hasPrefix(others))

        // Another config is not what is installed: status and plan say so.
        try FileManager.default.copyItem(atPath: config, toPath: workspace.directory.subpath("other.yaml"))
        let other = try cairn(workspace, ["schedule", "status", "-c", "other.yaml"])
        #expect(other.status == 1 && other.standardOutput.contains("not up to date: the crontab of nobody calls run-due differently"), "\(other.all)")
        let plan = try cairn(workspace, ["plan", "-c", "other.yaml"])
        #expect(plan.standardError.contains("warning: the schedules of 'files' run only when run-due is called"), "\(plan.all)")
        let quiet = try cairn(workspace, ["plan"])
        #expect(!quiet.standardError.contains("run-due"), "installed as this config implies: \(quiet.all)")

        let remove = try cairn(workspace, ["schedule", "remove"])
        #expect(remove.status == 0, "\(remove.all)")
        #expect(try nobodysCrontab() == others, "exactly the user's lines again")
        let gone = try cairn(workspace, ["schedule", "status"])
        #expect(gone.status == 1 && gone.standardOutput.contains("no caller of run-due is installed in the crontab of nobody"), "\(gone.all)")
    }

    @Test func aCronFileAndSystemdUnitsAreWrittenCheckedAndRemoved() throws {
        try #require(getuid() == 0, "run as root: the test runs cairn as nobody through runuser")
        let workspace = try workspace()
        let file = workspace.directory.subpath("units/cairn")
        let install = try cairn(workspace, ["schedule", "install", "--cron-file", file, "--every", "10"])
        #expect(install.status == 0, "\(install.all)")
        let text = try String(contentsOfFile: file, encoding: .utf8)
        #expect(text.contains("\n*/10 * * * * nobody XDG_STATE_HOME="), "\(text)")
        // status finds it where install recorded it.
        let status = try cairn(workspace, ["schedule", "status"])
        #expect(status.status == 0 && status.standardOutput.contains("the cron file \(file) calls run-due every 10 minutes"), "\(status.all)")
        #expect(try cairn(workspace, ["schedule", "remove"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: file))

        let units = workspace.directory.subpath("units")
        #expect(try cairn(workspace, ["schedule", "install", "--systemd", units]).status == 0)
        let timer = try String(contentsOfFile: units + "/cairn-run-due.timer", encoding: .utf8)
        let service = try String(contentsOfFile: units + "/cairn-run-due.service", encoding: .utf8)
        #expect(timer.contains("OnCalendar=*:0/5\nPersistent=true"), "\(timer)")
        #expect(service.contains("Type=oneshot") && service.contains("\" run-due -q -c \"\(workspace.directory.subpath("cairn.yaml"))\""), "\(service)")
        #expect(service.contains("Environment=\"XDG_STATE_HOME=\(workspace.directory.subpath("state"))\""), "\(service)")
        #expect(try cairn(workspace, ["schedule", "status"]).status == 0)
        #expect(try cairn(workspace, ["schedule", "remove"]).status == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: units).isEmpty)

        let both = try cairn(workspace, ["schedule", "install", "--systemd", units, "--cron-file", file])
        #expect(both.status == 64, "\(both.all)")

        // Moving the caller: the earlier one goes, so run-due is not called twice.
        let dotted = workspace.directory.subpath("units/cairn.cron")
        let named = try cairn(workspace, ["schedule", "install", "--cron-file", dotted])
        #expect(named.status == 0 && named.standardError.contains("cairn.cron would be ignored there"), "\(named.all)")
        let moved = try cairn(workspace, ["schedule", "install", "--systemd", units])
        #expect(moved.status == 0 && moved.standardOutput.contains("removed the earlier caller in the cron file \(dotted)"), "\(moved.all)")
        #expect(!FileManager.default.fileExists(atPath: dotted) && FileManager.default.fileExists(atPath: units + "/cairn-run-due.timer"))
        #expect(try cairn(workspace, ["schedule", "remove"]).status == 0)
    }

    @Test func installWarnsAboutAKeyFromTheEnvironmentAndTimesBetweenCalls() throws {
        try #require(getuid() == 0, "run as root: the test edits nobody's crontab through runuser")
        let workspace = try Workspace(extra: """
                schedules: [odd]
            schedules: {odd: {type: daily, at: "01:07"}}
            """)
        chmod(workspace.directory.path, 0o755)
        for folder in ["state", "cache"] {
            try FileManager.default.createDirectory(atPath: workspace.directory.subpath(folder), withIntermediateDirectories: true)
            chown(workspace.directory.subpath(folder), 65534, 65534)
        }
        defer { _ = try? shell(["/usr/bin/crontab", "-u", "nobody", "-r"]) }
        let install = try cairn(workspace, ["schedule", "install"])
        #expect(install.status == 0, "\(install.all)")
        #expect(install.standardError.contains("takes its key from the environment variable CAIRN_KEY, which cron does not pass"), "\(install.all)")
        #expect(install.standardError.contains("schedule 'odd' fires between run-due's calls every 5 minutes"), "\(install.all)")
    }

    /// Debian's cron daemon, its clock sixty times faster (libfaketime), runs the installed
    /// line, and run-due backs up the set whose schedule fired.
    @Test func theRealCronDaemonRunsTheInstalledScheduleAndABackupHappens() throws {
        try #require(getuid() == 0, "run as root: cron runs nobody's crontab, and the daemon needs root")
        let workspace = try Workspace(algorithm: "none", extra: """
                schedules: [often]
            schedules: {often: {type: interval, every: 1m}}
            """)
        try FileManager.default.createDirectory(atPath: workspace.source, withIntermediateDirectories: true)
        try Data("backed up by cron".utf8).write(to: URL(fileURLWithPath: workspace.source + "/a.txt"))
        chmod(workspace.directory.path, 0o755)
        for folder in ["state", "cache", "source", "destination"] {
            try FileManager.default.createDirectory(atPath: workspace.directory.subpath(folder), withIntermediateDirectories: true)
            chown(workspace.directory.subpath(folder), 65534, 65534)
        }
        chown(workspace.source + "/a.txt", 65534, 65534)
        defer { _ = try? shell(["/usr/bin/crontab", "-u", "nobody", "-r"]) }
        // run-due first saw the set an hour ago: the firings since are owed.
        let hourAgo = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-3600))
        let seen = try cairn(workspace, ["run-due", "--now", hourAgo])
        #expect(seen.status == 0 && seen.all.isEmpty, "\(seen.all)")
        #expect(try cairn(workspace, ["schedule", "install", "--every", "1"]).status == 0)

        // cron itself with libfaketime preloaded (not through the faketime wrapper, which would
        // stand between the test and the daemon it has to stop).
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: "/usr/sbin/cron")
        daemon.arguments = ["-f", "-L", "15"]
        let library = try #require(
            ["/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1", "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1"].first {
                FileManager.default.fileExists(atPath: $0)
            }, "libfaketime is missing: apt-get install faketime")
        daemon.environment = ["LD_PRELOAD": library, "FAKETIME": "+0 x60", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
        let log = workspace.directory.subpath("cron.log")
        FileManager.default.createFile(atPath: log, contents: nil)
        daemon.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        daemon.standardError = daemon.standardOutput
        try daemon.run()
        defer {
            // cron under libfaketime does not stop on SIGTERM.
            if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) }
            daemon.waitUntilExit()
        }
        // A minute of cron's is a second: the next minute runs run-due. A cron daemon already
        // running on the machine (ours then exits) does it within a real minute.
        var snapshots = 0
        let deadline = Date().addingTimeInterval(90)
        while snapshots == 0 && Date() < deadline {
            sleep(1)
            let output = try workspace.run(["snapshots", "files", "--json"])
            snapshots = ((try? JSONSerialization.jsonObject(with: Data(output.standardOutput.utf8))) as? [Any])?.count ?? 0
        }
        let cronLog = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(snapshots >= 1, "cron ran no backup: \(cronLog)")
        let reports = try workspace.run(["log", "files", "--json"])
        #expect(reports.standardOutput.contains("\"command\" : \"run-due\""), "the job log names run-due: \(reports.all)")
    }
}
