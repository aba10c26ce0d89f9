import CairnCore
import Foundation
import Synchronization

/// The server's log: one line a request that changed or refused something, and the server's
/// own events, on standard error (systemd's journal takes it from there).
public final class ServerLog: Sendable {
    private let lock = Mutex(())
    private let clock: any WallClock
    /// Reads and listings are logged too when true (`--verbose`).
    let verbose: Bool

    public init(clock: any WallClock = SystemClock(), verbose: Bool = false) {
        self.clock = clock
        self.verbose = verbose
    }

    public func note(_ message: String) {
        let stamp = ISO8601DateFormatter.string(from: clock.now(), timeZone: TimeZone(identifier: "UTC")!, formatOptions: [.withInternetDateTime])
        // What clients sent (keys, user names) can hold control characters: escaped, so no
        // request writes a line of its own into the log.
        let escaped = message.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7f ? String(format: "\\x%02X", $0.value) : String($0) }.joined()
        let line = "\(stamp) \(escaped)\n"
        lock.withLock { _ in FileHandle.standardError.write(Data(line.utf8)) }
    }
}
