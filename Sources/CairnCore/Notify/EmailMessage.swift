import Foundation

/// A notification as an e-mail message for sendmail's standard input: a plain-text report for
/// people (quoted-printable, so long lines and any bytes travel safely), with every header built
/// from checked addresses and text whose control characters are replaced, so that nothing a
/// file name or a host name holds can add a header or a recipient.
public struct EmailMessage: Sendable {
    public var from: String?
    public var to: [String]
    public var subject: String
    public var body: String
    public var date: Date
    public var messageID: String
    public var extraHeaders: [(name: String, value: String)]

    public init(_ notification: Notification, email: Notify.Email, zone: TimeZone, date: Date, messageID: String) {
        from = email.from
        to = email.to
        subject = "[cairn] " + notification.summary
        body = Self.body(notification, zone: zone)
        self.date = date
        self.messageID = messageID
        extraHeaders = [("Auto-Submitted", "auto-generated"), ("X-Cairn-Event", notification.event.rawValue), ("X-Cairn-Set", notification.set)]
        if let outcome = notification.outcome { extraHeaders.append(("X-Cairn-Outcome", outcome.rawValue)) }
    }

    /// The message's bytes, lines ending in LF as sendmail's input takes them.
    public var text: String {
        var lines: [String] = []
        if let from { lines.append("From: \(from)") }
        lines.append("To: \(to.joined(separator: ", "))")
        lines.append("Subject: \(Self.headerText(Self.printable(subject)))")
        lines.append("Date: \(Self.rfc5322(date))")
        lines.append("Message-ID: <\(messageID)>")
        lines.append("MIME-Version: 1.0")
        lines.append("Content-Type: text/plain; charset=utf-8")
        lines.append("Content-Transfer-Encoding: quoted-printable")
        for header in extraHeaders { lines.append("\(header.name): \(Self.headerText(Self.printable(header.value)))") }
        return lines.joined(separator: "\n") + "\n\n" + Self.quotedPrintable(body)
    }

    /// The report for people.
    static func body(_ notification: Notification, zone: TimeZone) -> String {
        var lines = [printable(notification.summary), ""]
        func field(_ name: String, _ value: String) { lines.append("\(name.padding(toLength: 11, withPad: " ", startingAt: 0))\(printable(value))") }
        field("Set:", notification.set)
        field("Host:", notification.host)
        switch notification.event {
        case .stale:
            field("Last good:", notification.lastSuccess ?? "never")
            field("Reminder:", "after \(notification.staleAfter ?? "?") without a successful backup")
            lines += ["", "Run 'cairn backup \(notification.set)', or check why its scheduled runs fail ('cairn schedule status', the job log)."]
        case .start:
            break
        case .finish:
            guard let report = notification.report else { break }
            field("Command:", "cairn \(report.command)")
            field("Job:", report.job)
            field("Started:", TimeText(zone: zone)(report.start.date))
            field("Ended:", TimeText(zone: zone)(report.end.date))
            field("Duration:", String(format: "%.1f s", report.duration))
            field("Status:", report.status)
            if let snapshot = report.snapshot { field("Snapshot:", snapshot) }
            if let statistics = report.statistics {
                field("Files:", "\(statistics.files) (\(ByteCountText.format(statistics.bytes)))")
                field("Read:", "\(statistics.newFiles) new and \(statistics.changedFiles) changed files, \(ByteCountText.format(statistics.bytesRead))")
                field("Stored:", "\(ByteCountText.format(statistics.bytesStored)), deduplicated \(ByteCountText.format(statistics.bytesDeduplicated))")
            }
            if let failure = report.failure { lines += ["", "Failure:", "  " + printable(failure)] }
            section("Problems", report.problems.map { "\($0.path): \($0.message)" }, into: &lines)
            section("Changed while backed up", report.drift, into: &lines)
            for command in report.commands {
                lines += ["", "Command \(printable(command.phase)) '\(printable(command.name))': exit status \(command.status)\(command.timedOut ? " (timed out)" : "")"]
                let output = command.output.split(separator: "\n", omittingEmptySubsequences: false).suffix(20)
                lines += output.map { "  | " + printable(String($0)) }
            }
            section("Pruning", report.prune ?? [], into: &lines)
        }
        lines += ["", "-- ", "cairn on \(printable(notification.host))"]
        return lines.joined(separator: "\n") + "\n"
    }

    /// A titled list, its first 200 entries.
    static func section(_ title: String, _ entries: [String], into lines: inout [String]) {
        guard !entries.isEmpty else { return }
        lines += ["", "\(title) (\(entries.count)):"]
        lines += entries.prefix(200).map { "  " + printable($0) }
        if entries.count > 200 { lines.append("  … and \(entries.count - 200) more (the job log has them all)") }
    }

    /// Text with control characters (line breaks included) shown as `?`.
    public static func printable(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0.properties.generalCategory == .control ? "?" : $0 }))
    }

    /// A header value: as it is when printable ASCII; otherwise RFC 2047 encoded words
    /// (UTF-8, base64), folded onto continuation lines.
    static func headerText(_ text: String) -> String {
        if text.unicodeScalars.allSatisfy({ $0.value >= 32 && $0.value < 127 }) && text.utf8.count <= 900 { return text }
        var words: [String] = []
        var chunk = ""
        for character in text {
            if chunk.utf8.count + String(character).utf8.count > 45 {
                words.append(chunk)
                chunk = ""
            }
            chunk.append(character)
        }
        if !chunk.isEmpty { words.append(chunk) }
        return words.map { "=?utf-8?B?\(Data($0.utf8).base64EncodedString())?=" }.joined(separator: "\n ")
    }

    /// Quoted-printable (RFC 2045): lines at most 76 characters, soft breaks with `=`.
    static func quotedPrintable(_ text: String) -> String {
        var out = ""
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if index > 0 { out += "\n" }
            let bytes = Array(line.utf8)
            var width = 0
            for (position, byte) in bytes.enumerated() {
                let last = position == bytes.count - 1
                let piece: String
                if (byte >= 33 && byte <= 126 && byte != 61) || ((byte == 32 || byte == 9) && !last) {
                    piece = String(UnicodeScalar(byte))
                } else {
                    piece = String(format: "=%02X", byte)
                }
                if width + piece.count > 75 {
                    out += "=\n"
                    width = 0
                }
                out += piece
                width += piece.count
            }
        }
        return out
    }

    static func rfc5322(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return formatter.string(from: date)
    }
}
