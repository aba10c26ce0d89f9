import ArgumentParser
import CairnCore
import Foundation

/// Where the run-due caller is installed, as `cairn schedule install` recorded it in the run
/// state (`STATE/schedule/installed.json`), so that `status` and `plan` look in the right place.
struct InstalledCaller: Codable {
    /// `crontab`, `cron-file` or `systemd`.
    var kind: String
    /// The cron file, or the folder of the systemd units; nil for the crontab.
    var path: String?

    static func file(_ run: RunEnvironment) -> String? { run.stateDirectory.map { $0 + "/schedule/installed.json" } }

    static func read(_ run: RunEnvironment) -> InstalledCaller? {
        guard let file = file(run), let data = FileManager.default.contents(atPath: file) else { return nil }
        return try? JSONDecoder().decode(InstalledCaller.self, from: data)
    }

    func write(_ run: RunEnvironment) throws {
        guard let file = Self.file(run) else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try DurableFile.write(try encoder.encode(self), to: file)
    }

    static func forget(_ run: RunEnvironment) {
        if let file = file(run) { unlink(file) }
    }
}

/// Reading and writing the invoking user's crontab through `crontab -l` and `crontab -`.
enum Crontab {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func run(_ arguments: [String], input: String? = nil) throws -> (status: Int32, output: String, error: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["crontab"] + arguments
        let output = Pipe(), error = Pipe(), stdin = Pipe()
        process.standardOutput = output
        process.standardError = error
        process.standardInput = stdin
        do {
            try process.run()
        } catch {
            throw Failure(description: "cannot run crontab (is cron installed?): \(error)")
        }
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try? stdin.fileHandleForWriting.close()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        if process.terminationReason == .exit && process.terminationStatus == 127 {
            throw Failure(description: "cannot run crontab (is cron installed?)")
        }
        return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }

    /// The user's crontab; empty when there is none.
    static func read() throws -> String {
        let result = try run(["-l"])
        if result.status == 0 { return result.output }
        if result.error.contains("no crontab for") { return "" }
        throw Failure(description: "crontab -l failed: \(result.error.trimmingCharacters(in: .whitespacesAndNewlines))")
    }

    static func write(_ text: String) throws {
        let result = try run(["-"], input: text)
        guard result.status == 0 else {
            throw Failure(description: "crontab - failed: \(result.error.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }
}

/// Options shared by install, remove and status: where the caller goes.
struct CallerPlace: ParsableArguments {
    @Option(help: ArgumentHelp("Write a file for /etc/cron.d (naming the user to run as) instead of the user's crontab.", valueName: "path"))
    var cronFile: String?

    @Option(help: ArgumentHelp("Write cairn-run-due.service and cairn-run-due.timer into this folder instead (~/.config/systemd/user, /etc/systemd/system).", valueName: "dir"))
    var systemd: String?

    func validate() throws {
        if cronFile != nil && systemd != nil { throw ValidationError("give --cron-file or --systemd, not both") }
    }

    /// What was asked for, else what install recorded, else the crontab.
    func place(_ run: RunEnvironment) -> InstalledCaller {
        if let cronFile { return InstalledCaller(kind: "cron-file", path: absolute(cronFile, run)) }
        if let systemd { return InstalledCaller(kind: "systemd", path: absolute(systemd, run)) }
        return InstalledCaller.read(run) ?? InstalledCaller(kind: "crontab", path: nil)
    }

    func absolute(_ path: String, _ run: RunEnvironment) -> String {
        PathExpansion.normalize(path.hasPrefix("/") ? path : run.currentDirectory + "/" + path)
    }
}

enum CallerCheck {
    /// What install would put in place now.
    static func wanted(_ options: ConfigOptions, everyMinutes: Int) -> CronInstallation {
        let run = CommandSupport.run
        let path = ConfigLoader(run).configPath(explicit: options.config)
        let config = PathExpansion.normalize(path.hasPrefix("/") ? path : run.currentDirectory + "/" + path)
        return CronInstallation(executable: executable(run), config: config, everyMinutes: everyMinutes, user: run.userName, variables: variables(run))
    }

    /// This binary as it was called (a symbolic link such as /usr/local/bin/cairn stays one, so
    /// an upgrade that replaces what it points to keeps the installed line working); found in
    /// PATH when called by name; /proc/self/exe when neither works.
    static func executable(_ run: RunEnvironment) -> String {
        let called = CommandLine.arguments[0]
        if called.contains("/") { return PathExpansion.normalize(called.hasPrefix("/") ? called : run.currentDirectory + "/" + called) }
        for folder in (run.variables["PATH"] ?? "").split(separator: ":") where folder.hasPrefix("/") {
            let candidate = "\(folder)/\(called)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? called
    }

    static func variables(_ run: RunEnvironment) -> [(name: String, value: String)] {
        ["XDG_STATE_HOME", "XDG_CACHE_HOME"].compactMap { name in run.variables[name].flatMap { $0.hasPrefix("/") ? (name, $0) : nil } }
    }

    /// What is installed at `place`: the text install wrote (nil when nothing is).
    static func installed(_ place: InstalledCaller) throws -> String? {
        switch place.kind {
        case "cron-file": return place.path.flatMap { FileManager.default.contents(atPath: $0) }.map { String(decoding: $0, as: UTF8.self) }
        case "systemd":
            guard let folder = place.path, let service = FileManager.default.contents(atPath: folder + "/cairn-run-due.service"),
                let timer = FileManager.default.contents(atPath: folder + "/cairn-run-due.timer")
            else { return nil }
            return String(decoding: service, as: UTF8.self) + String(decoding: timer, as: UTF8.self)
        default: return try CronInstallation.block(in: try Crontab.read())
        }
    }

    static func text(_ installation: CronInstallation, for place: InstalledCaller) -> String {
        switch place.kind {
        case "cron-file": return installation.cronFile
        case "systemd": return installation.systemdService + installation.systemdTimer
        default: return installation.crontabBlock
        }
    }

    /// Removes what install put at `place` (nothing there is fine).
    static func remove(_ place: InstalledCaller) throws {
        switch place.kind {
        case "cron-file":
            if let path = place.path, unlink(path) != 0, errno != ENOENT {
                throw Crontab.Failure(description: "cannot remove \(path): \(String(cString: strerror(errno)))")
            }
        case "systemd":
            for name in ["cairn-run-due.service", "cairn-run-due.timer"] { unlink((place.path ?? "") + "/" + name) }
        default:
            let before = try Crontab.read()
            let after = try CronInstallation.replacing(in: before, with: nil)
            if after != before { try Crontab.write(after) }
        }
    }

    static func describe(_ place: InstalledCaller) -> String {
        switch place.kind {
        case "cron-file": return "the cron file \(place.path ?? "")"
        case "systemd": return "the systemd units in \(place.path ?? "")"
        default: return "the crontab of \(CommandSupport.run.userName)"
        }
    }

    /// The installed caller's minutes, read back from what is installed (5 when unknown).
    static func installedMinutes(_ text: String?) -> Int {
        guard let text else { return 5 }
        if let range = text.range(of: "OnCalendar=*:0/") { return Int(text[range.upperBound...].prefix { $0.isNumber }) ?? 5 }
        if let line = text.split(separator: "\n").first(where: { !$0.hasPrefix("#") && $0.contains(" run-due ") }) {
            let minute = line.split(separator: " ").first ?? ""
            if minute == "*" { return 1 }
            if minute.hasPrefix("*/") { return Int(minute.dropFirst(2)) ?? 5 }
        }
        return 5
    }

    /// Whether what is installed is what the config implies; nil when it is, else why not.
    static func problem(_ options: ConfigOptions, place: InstalledCaller) -> String? {
        do {
            let installed = try installed(place)
            guard let installed else { return "no caller of run-due is installed in \(describe(place))" }
            let wanted = text(wanted(options, everyMinutes: installedMinutes(installed)), for: place)
            return installed == wanted ? nil : "\(describe(place)) calls run-due differently from what 'cairn schedule install' writes now (another binary, config or state folder)"
        } catch {
            return "\(error)"
        }
    }
}

extension Cairn.ScheduleCommand {
    struct Install: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make cron (or a systemd timer) call 'cairn run-due' every few minutes.",
            discussion: """
                Keeps one marked block in your crontab (through crontab -l and crontab -, \
                every other line left as it is; installing again replaces the block), or with \
                --cron-file a file for /etc/cron.d, or with --systemd a service and timer \
                pair. The line calls this cairn binary with the absolute path of the config, \
                and with XDG_STATE_HOME and XDG_CACHE_HOME when they are set (cron gives its \
                jobs almost no environment). A key taken from the environment ({env: NAME}) \
                is not there under cron: install warns, use {file: ...} or {command: ...}.

                It records where it installed (under the run-state folder), so that status, \
                remove and cairn plan look there; a caller installed elsewhere before is \
                removed. It also warns when no set of this host gives run-due anything to \
                do, when a schedule fires between two calls (its runs start late; --every 1 \
                calls every minute), and when a key is typed at a prompt or a webhook URL \
                comes from the environment.

                Examples:
                  cairn schedule install                 your crontab, every 5 minutes
                  cairn schedule install --every 1       every minute
                  cairn schedule install --cron-file /etc/cron.d/cairn
                                                         a file for /etc/cron.d (as root)
                  cairn schedule install --systemd /home/me/.config/systemd/user
                                                         a systemd user timer

                \(ExitStatus.text)
                """
        )

        @OptionGroup var options: ConfigOptions
        @OptionGroup var quietOption: QuietOption
        @OptionGroup var place: CallerPlace

        @Option(help: ArgumentHelp("Call run-due every this many minutes (a divisor of 60).", valueName: "minutes"))
        var every = 5

        func validate() throws {
            guard every >= 1, every <= 30, 60 % every == 0 else { throw ValidationError("--every must divide 60: 1, 2, 3, 4, 5, 6, 10, 12, 15, 20 or 30") }
        }

        func run() async throws {
            let config = try CommandSupport.loadConfig(options)
            let run = CommandSupport.run
            let installation = CallerCheck.wanted(options, everyMinutes: every)
            for (what, value) in [("the cairn binary's path", installation.executable), ("the config's path", installation.config)]
                + installation.variables.map({ ($0.name, $0.value) }) where CronInstallation.unusable(value)
            {
                CommandSupport.fail("cannot install: \(what) holds a control character (a line feed would start another crontab entry)")
            }
            let target = InstalledCaller(
                kind: place.cronFile != nil ? "cron-file" : place.systemd != nil ? "systemd" : "crontab",
                path: place.cronFile.map { place.absolute($0, run) } ?? place.systemd.map { place.absolute($0, run) })
            let earlier = InstalledCaller.read(run)
            do {
                switch target.kind {
                case "cron-file":
                    try DurableFile.write(Data(installation.cronFile.utf8), to: target.path!)
                    chmod(target.path!, 0o644)
                case "systemd":
                    try DurableFile.write(Data(installation.systemdService.utf8), to: target.path! + "/cairn-run-due.service")
                    try DurableFile.write(Data(installation.systemdTimer.utf8), to: target.path! + "/cairn-run-due.timer")
                    for name in ["cairn-run-due.service", "cairn-run-due.timer"] { chmod(target.path! + "/" + name, 0o644) }
                default:
                    let before = try Crontab.read()
                    let after = try CronInstallation.replacing(in: before, with: installation.crontabBlock)
                    if after != before { try Crontab.write(after) }
                }
                try target.write(run)
                // Installed somewhere else before: that caller goes, or run-due would be called twice.
                if let earlier, earlier.kind != target.kind || earlier.path != target.path {
                    try CallerCheck.remove(earlier)
                    print("removed the earlier caller in \(CallerCheck.describe(earlier))")
                }
            } catch {
                CommandSupport.fail("cannot install: \(error)")
            }
            print("installed in \(CallerCheck.describe(target)): run-due every \(every) minute\(every == 1 ? "" : "s")")
            if target.kind == "systemd" { print("enable it with: systemctl \(run.isSuperuser ? "" : "--user ")enable --now cairn-run-due.timer") }
            var warnings = Self.warnings(config, every: every)
            if let file = target.path, target.kind == "cron-file",
                !(file as NSString).lastPathComponent.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
            {
                warnings.append("cron reads a file in /etc/cron.d only when its name is letters, digits, - and _: \((file as NSString).lastPathComponent) would be ignored there")
            }
            for warning in warnings { Terminal.standardError("cairn: warning: \(warning)") }
        }

        /// What would make scheduled runs go wrong under cron.
        static func warnings(_ config: Config, every: Int) -> [String] {
            var warnings: [String] = []
            let sets = config.backupSets(forHost: CommandSupport.run.hostName).filter(\.needsRunDue)
            if sets.isEmpty {
                warnings.append("no backup set of this host (\(CommandSupport.run.hostName)) has a schedule, an offline-interval, a verify schedule or a stale-after reminder: run-due will find nothing to do")
            }
            for set in sets {
                if let profile = config.encryption[set.encryption.value], let key = profile.key, case .environment(let name) = key.source {
                    warnings.append("backup set '\(set.name)' takes its key from the environment variable \(name), which cron does not pass: use key: {file: ...} or {command: ...}")
                }
                if let profile = config.encryption[set.encryption.value], profile.key?.source == .prompt {
                    warnings.append("backup set '\(set.name)' takes its key at a prompt, and runs started by cron have no terminal: use key: {file: ...} or {command: ...}")
                }
                for entry in set.notify {
                    if case .webhook(let hook) = entry.channel, case .secret(let reference) = hook.url, case .environment(let name) = reference.source {
                        warnings.append("backup set '\(set.name)': notify (\(entry.location)) takes its webhook URL from the environment variable \(name), which cron does not pass: use url: {file: ...} or {command: ...}")
                    }
                }
                for schedule in SetSchedule(set, in: config).schedules {
                    let minutes: [Int]
                    switch schedule.kind {
                    // A time with seconds lies between calls whatever their interval.
                    case .daily(let at), .weekly(_, let at), .monthly(_, let at): minutes = at.map { $0.second == 0 ? $0.minute : 1 }
                    case .once(let at): minutes = [at.time.second == 0 ? at.time.minute : 1]
                    case .interval(let interval): minutes = interval.seconds % (every * 60) == 0 ? [] : [1]
                    }
                    if minutes.contains(where: { $0 % every != 0 }) {
                        warnings.append("schedule '\(schedule.name)' fires between run-due's calls every \(every) minutes: its runs start up to \(every - 1) minutes late (--every 1 calls it every minute)")
                    }
                }
            }
            return warnings
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove what 'cairn schedule install' put in place.",
            discussion: """
                Removes the marked block from your crontab (every other line kept), or the \
                cron file, or the systemd units, as install recorded or as --cron-file and \
                --systemd say (the crontab when nothing is recorded), and forgets the record. \
                Nothing there is no error. It deletes the systemd units' files and runs no \
                systemctl command: disable the timer first (systemctl --user disable --now \
                cairn-run-due.timer).

                Examples:
                  cairn schedule remove                   what install put in place
                  cairn schedule remove --cron-file /etc/cron.d/cairn
                                                          that cron file

                \(ExitStatus.text)
                """
        )

        @OptionGroup var place: CallerPlace

        func run() async throws {
            let run = CommandSupport.run
            let target = place.place(run)
            do {
                try CallerCheck.remove(target)
            } catch {
                CommandSupport.fail("cannot remove: \(error)")
            }
            InstalledCaller.forget(run)
            print("removed from \(CallerCheck.describe(target))")
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Say whether the installed caller of run-due is what the config implies.",
            discussion: """
                Exit status 0 when it is installed as 'cairn schedule install' would install \
                it now, 1 when it is missing or differs (another binary, config or state \
                folder). It prints 'up to date', with how often run-due is called, or 'not \
                up to date', with why and the install command that fixes it. Without \
                --cron-file or --systemd, it looks where install recorded it (the crontab \
                when nothing is recorded). cairn plan warns too when a set of this host has \
                schedules and the caller is missing or differs.

                Examples:
                  cairn schedule status                     where install put it
                  cairn schedule status --systemd /etc/systemd/system
                                                            the units in that folder
                  cairn schedule status -q || cairn schedule install
                                                            install it when it is not
                                                            up to date

                \(ExitStatus.text)
                """
        )

        @OptionGroup var options: ConfigOptions
        @OptionGroup var quietOption: QuietOption
        @OptionGroup var place: CallerPlace

        func run() async throws {
            _ = try CommandSupport.loadConfig(options)
            let target = place.place(CommandSupport.run)
            if let problem = CallerCheck.problem(options, place: target) {
                print("not up to date: \(problem); run 'cairn schedule install\(target.kind == "crontab" ? "" : target.kind == "cron-file" ? " --cron-file \(target.path ?? "")" : " --systemd \(target.path ?? "")")'")
                throw ExitCode(ExitStatus.error)
            }
            let installed = try? CallerCheck.installed(target)
            let every = CallerCheck.installedMinutes(installed ?? nil)
            print("up to date: \(CallerCheck.describe(target)) calls run-due every \(every) minute\(every == 1 ? "" : "s")")
        }
    }
}
