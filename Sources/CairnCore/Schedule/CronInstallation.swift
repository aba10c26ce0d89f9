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
        \(variables.map { "Environment=\($0.name)=\($0.value)\n" }.joined())ExecStart=\(systemdQuoted(executable)) run-due -q -c \(systemdQuoted(config))

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

    private func systemdQuoted(_ text: String) -> String {
        text.contains(where: { $0 == " " || $0 == "\"" || $0 == "\\" })
            ? "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" : text
    }

    // MARK: The block in a crontab

    /// The marked block in `crontab`, if there is one (markers included).
    public static func block(in crontab: String) -> String? {
        let lines = crontab.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(where: { $0.hasPrefix("# BEGIN cairn run-due") }),
            let stop = lines[start...].firstIndex(where: { $0 == Substring(end) })
        else { return nil }
        return lines[start...stop].joined(separator: "\n") + "\n"
    }

    /// `crontab` with the marked block replaced by `block` (added at the end when there was
    /// none; removed when `block` is nil). Every other line stays as it was.
    public static func replacing(in crontab: String, with block: String?) -> String {
        var lines = crontab.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        let new = block.map { $0.split(separator: "\n").map(String.init) } ?? []
        if let start = lines.firstIndex(where: { $0.hasPrefix("# BEGIN cairn run-due") }),
            let stop = lines[start...].firstIndex(where: { $0 == end })
        {
            lines.replaceSubrange(start...stop, with: new)
        } else {
            lines += new
        }
        return lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n"
    }
}
