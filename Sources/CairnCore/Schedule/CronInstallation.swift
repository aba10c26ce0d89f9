/// What `cairn schedule install` puts in place so that cron (or a systemd timer) calls
/// `cairn run-due` every few minutes: pure text, from the binary, the config and the user.
public struct CronInstallation: Sendable, Equatable {
    /// The absolute path of the cairn binary.
    public var executable: String
    /// The absolute path of the config file or folder.
    public var config: String
    /// run-due is called every this many minutes (1 to 30, a divisor of 60).
    public var everyMinutes: Int
    /// The user an /etc/cron.d file runs run-due as.
    public var user: String
    /// Variables the run needs from the installing environment (XDG_STATE_HOME,
    /// XDG_CACHE_HOME): cron gives its jobs almost none. Never secrets.
    public var variables: [(name: String, value: String)]

    public init(executable: String, config: String, everyMinutes: Int, user: String, variables: [(name: String, value: String)]) {
        self.executable = executable
        self.config = config
        self.everyMinutes = everyMinutes
        self.user = user
        self.variables = variables
    }

    public static func == (l: CronInstallation, r: CronInstallation) -> Bool {
        l.executable == r.executable && l.config == r.config && l.everyMinutes == r.everyMinutes && l.user == r.user
            && l.variables.map(\.name) == r.variables.map(\.name) && l.variables.map(\.value) == r.variables.map(\.value)
    }

    static let begin = "# BEGIN cairn run-due (written by 'cairn schedule install': change the config and install again, not these lines)"
    static let end = "# END cairn run-due"

    /// `'text'` for /bin/sh, with `%` escaped for cron (which reads it as a newline).
    static func quoted(_ text: String, forCron: Bool) -> String {
        let quoted = "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
        return forCron ? quoted.replacingOccurrences(of: "%", with: "\\%") : quoted
    }

    /// The command cron runs.
    func command(forCron: Bool) -> String {
        let assignments = variables.map { "\($0.name)=\(Self.quoted($0.value, forCron: forCron)) " }.joined()
        return "\(assignments)\(Self.quoted(executable, forCron: forCron)) run-due -q -c \(Self.quoted(config, forCron: forCron))"
    }

    var minuteField: String { everyMinutes == 1 ? "*" : "*/\(everyMinutes)" }

    /// The marked block of the invoking user's crontab.
    public var crontabBlock: String {
        [Self.begin, "\(minuteField) * * * * \(command(forCron: true))", Self.end].joined(separator: "\n") + "\n"
    }

    /// A file for /etc/cron.d (it names the user).
    public var cronFile: String {
        """
        # Written by 'cairn schedule install --cron-file': change the config and install again.
        SHELL=/bin/sh
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
        \(minuteField) * * * * \(user) \(command(forCron: true))

        """
    }

    /// A systemd service and timer pair (`cairn-run-due.service`, `cairn-run-due.timer`).
    public var systemdService: String {
        """
        # Written by 'cairn schedule install --systemd': change the config and install again.
        [Unit]
        Description=cairn run-due: back up the sets whose schedule fired

        [Service]
        Type=oneshot
        \(variables.map { "Environment=\(systemdQuoted("\($0.name)=\($0.value)", expandsVariables: false))\n" }.joined())ExecStart=\(systemdQuoted(executable)) run-due -q -c \(systemdQuoted(config))

        """
    }

    public var systemdTimer: String {
        """
        # Written by 'cairn schedule install --systemd': change the config and install again.
        [Unit]
        Description=Call cairn run-due every \(everyMinutes) minute\(everyMinutes == 1 ? "" : "s")

        [Timer]
        OnCalendar=*:0/\(everyMinutes)
        Persistent=true

        [Install]
        WantedBy=timers.target

        """
    }

    /// A word for a unit file: double-quoted, with `\\` and `"` escaped, `%` (a specifier)
    /// doubled, and in ExecStart `$` (a variable) doubled too.
    private func systemdQuoted(_ text: String, expandsVariables: Bool = true) -> String {
        var escaped = text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "%", with: "%%")
        if expandsVariables { escaped = escaped.replacingOccurrences(of: "$", with: "$$") }
        return "\"" + escaped + "\""
    }

    // MARK: The block in a crontab

    /// A crontab whose cairn block is not one BEGIN line, one command and one END line.
    public struct DamagedBlock: Error, CustomStringConvertible {
        public var reason: String
        public var description: String {
            "the crontab's cairn block is damaged (\(reason)): nothing was changed; fix or remove the lines between '# BEGIN cairn run-due' and '# END cairn run-due' with 'crontab -e'"
        }
    }

    /// The crontab's lines split at line feeds only: a line keeps a carriage return it ends
    /// with (Swift counts CR LF as one character), so other lines are written back unchanged.
    static func lines(_ text: String) -> [String] {
        var lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map { String(String.UnicodeScalarView($0)) }
        if lines.last == "" { lines.removeLast() }
        return lines
    }

    static func isBegin(_ line: String) -> Bool { trimmed(line).hasPrefix("# BEGIN cairn run-due") }
    static func isEnd(_ line: String) -> Bool { trimmed(line) == end }
    static func trimmed(_ line: String) -> String { line.hasSuffix("\r") ? String(line.unicodeScalars.dropLast()) : line }

    /// Where the block is (its BEGIN and END lines), nil when there is none; throws when the
    /// markers do not make exactly one block of one command.
    static func blockRange(in lines: [String]) throws -> ClosedRange<Int>? {
        let begins = lines.indices.filter { isBegin(lines[$0]) }
        let ends = lines.indices.filter { isEnd(lines[$0]) }
        if begins.isEmpty && ends.isEmpty { return nil }
        guard begins.count == 1, ends.count == 1 else {
            throw DamagedBlock(reason: "\(begins.count) BEGIN and \(ends.count) END lines")
        }
        guard begins[0] < ends[0] else { throw DamagedBlock(reason: "END comes before BEGIN") }
        let inside = lines[(begins[0] + 1)..<ends[0]].filter { !trimmed($0).isEmpty && !trimmed($0).hasPrefix("#") }
        guard inside.count == 1, trimmed(inside[0]).contains(" run-due ") else {
            throw DamagedBlock(reason: "\(inside.count) lines between the markers, not one run-due line")
        }
        return begins[0]...ends[0]
    }

    /// The marked block in `crontab`, if there is one (markers included).
    public static func block(in crontab: String) throws -> String? {
        let lines = lines(crontab)
        guard let range = try blockRange(in: lines) else { return nil }
        return lines[range].map(trimmed).joined(separator: "\n") + "\n"
    }

    /// `crontab` with the marked block replaced by `block` (added at the end when there was
    /// none; removed when `block` is nil). Every other line stays as it was.
    public static func replacing(in crontab: String, with block: String?) throws -> String {
        var lines = lines(crontab)
        let new = block.map { $0.split(separator: "\n").map(String.init) } ?? []
        if let range = try blockRange(in: lines) {
            lines.replaceSubrange(range, with: new)
        } else {
            lines += new
        }
        return lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n"
    }

    /// A value that cannot go into a cron line or a unit file: control characters (a line
    /// feed would start another crontab entry).
    public static func unusable(_ value: String) -> Bool {
        value.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
    }
}
