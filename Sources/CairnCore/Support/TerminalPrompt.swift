internal import CCairnKernels
import Foundation

/// A secret typed on the process's terminal, never echoed: the prompt and the answer go
/// through `/dev/tty`, as ssh and gpg ask, so a command whose input or output is redirected
/// still asks its user.
///
/// As OpenBSD's readpassphrase(3) does, the terminal's settings are restored whatever ends the
/// prompt: the signals that would stop or end the process are noted while it waits, and sent
/// again once echo is back (SIGINT then ends the process as it would have; Ctrl-Z stops it,
/// and the prompt is shown again when it is continued). While a job runs, SIGINT and SIGTERM
/// ask it to stop (`Interruption`): the prompt then ends as interrupted.
public enum TerminalPrompt {
    public enum Failure: Error, Equatable {
        /// The process has no controlling terminal (cron, a service, `setsid`).
        case noTerminal
        /// A signal (SIGINT, SIGTERM, ...) ended the prompt before an answer.
        case interrupted
        /// The terminal closed before a line was typed (Ctrl-D).
        case endOfInput
    }

    static let signals = [SIGALRM, SIGHUP, SIGINT, SIGPIPE, SIGQUIT, SIGTERM, SIGTSTP, SIGTTIN, SIGTTOU]
    static let stopping: Set<Int32> = [SIGTSTP, SIGTTIN, SIGTTOU]
    /// Longer answers are cut: no key is this long, and memory stays bounded.
    static let maximumLength = 65536

    /// Writes `prompt` to the terminal with echo off and returns the line typed, without its
    /// newline.
    public static func secret(_ prompt: String) throws(Failure) -> String {
        while true {
            switch ask(prompt) {
            case .answer(let bytes): return String(decoding: bytes, as: UTF8.self)
            case .failed(let failure): throw failure
            case .askAgain: continue
            }
        }
    }

    private enum Outcome {
        case answer([UInt8])
        case failed(Failure)
        /// The process was stopped (Ctrl-Z) and continued: ask again.
        case askAgain
    }

    private static func ask(_ prompt: String) -> Outcome {
        let terminal = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard terminal >= 0 else { return .failed(.noTerminal) }
        defer { close(terminal) }
        cairn_forget_signals()
        var previous: [Int32: sigaction] = [:]
        for number in signals {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = cairn_note_signal
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            var old = sigaction()
            if sigaction(number, &action, &old) == 0 { previous[number] = old }
        }
        var saved = termios()
        let hasSettings = tcgetattr(terminal, &saved) == 0
        if hasSettings {
            var quiet = saved
            quiet.c_lflag &= ~tcflag_t(ECHO | ECHOE | ECHOK | ECHONL)
            // Flushing drops what was typed ahead, which the terminal echoed.
            _ = tcsetattr(terminal, TCSAFLUSH, &quiet)
        }
        write(terminal, Array(prompt.utf8))
        let (line, ended) = readLine(terminal)
        write(terminal, Array("\n".utf8))
        if hasSettings {
            while tcsetattr(terminal, TCSAFLUSH, &saved) != 0, errno == EINTR, cairn_signal_noted(SIGTTOU) == 0 {}
        }
        for (number, old) in previous {
            var old = old
            sigaction(number, &old, nil)
        }
        var noted: [Int32] = []
        for number in signals where cairn_signal_noted(number) != 0 { noted.append(number) }
        // Sent with the earlier handling back in place: SIGINT ends the process as it would
        // have, Ctrl-Z stops it.
        for number in noted { kill(getpid(), number) }
        // In a job, SIGINT and SIGTERM are taken by a handler on another thread: wait for it,
        // so the job sees its stop before it goes on to the next set (which asked for its key
        // again, on a terminal that had asked to stop).
        if Interruption.shared.isInstalled, noted.contains(where: { $0 == SIGINT || $0 == SIGTERM }) {
            let deadline = ContinuousClock.now + .seconds(5)
            while !Interruption.shared.stop.isRequested && ContinuousClock.now < deadline { usleep(1000) }
        }
        if noted.contains(where: stopping.contains) { return .askAgain }
        if !noted.isEmpty { return .failed(.interrupted) }
        if let line { return .answer(line) }
        return .failed(ended ? .endOfInput : .interrupted)
    }

    /// One line from the terminal; nil when the input ended or a signal came first (`ended`
    /// says which). Waits in short polls: a signal may be delivered to another thread, whose
    /// handler only notes it.
    private static func readLine(_ terminal: Int32) -> (line: [UInt8]?, ended: Bool) {
        var line: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1024)
        while true {
            // A job's SIGINT and SIGTERM go to `Interruption` (a dispatch source) instead.
            if signals.contains(where: { cairn_signal_noted($0) != 0 }) || Interruption.shared.isRequested { return (nil, false) }
            var ready = pollfd(fd: terminal, events: Int16(POLLIN), revents: 0)
            let polled = poll(&ready, 1, 100)
            if polled < 0 && errno != EINTR { return (nil, true) }
            guard polled > 0 else { continue }
            let count = read(terminal, &buffer, buffer.count)
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                return (nil, true)
            }
            if count == 0 { return line.isEmpty ? (nil, true) : (line, false) }
            for byte in buffer[0..<count] {
                if byte == 0x0A || byte == 0x0D { return (line, false) }
                if line.count < maximumLength { line.append(byte) }
            }
        }
    }

    private static func write(_ terminal: Int32, _ bytes: [UInt8]) {
        var done = 0
        while done < bytes.count {
            let count = bytes[done...].withUnsafeBytes { Glibc.write(terminal, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return
            }
            done += count
        }
    }
}
