import Foundation

/// Receives a backup's progress: the file being read and the bytes read.
public protocol ProgressSink: AnyObject, Sendable {
    func start(_ path: FilePath, size: UInt64)
    func read(_ bytes: UInt64)
    func finish(_ path: FilePath)
}

/// Shows progress against the plan's totals: on a terminal a status line redrawn a few times a
/// second (files and bytes done, rate, time left, the current file); otherwise a plain line
/// every ten seconds. Other long work (a restore, reading packs, repacking, loading a seed)
/// counts its own items (`noun`: files, packs, repositories); totals of 0 are unknown.
public final class ProgressDisplay: ProgressSink, @unchecked Sendable {
    private let lock = NSLock()
    private let totalFiles: Int
    private let totalBytes: UInt64
    private let terminal: Bool
    private let write: @Sendable (String) -> Void
    private let clock: any WallClock
    private let columns: Int
    private let noun: String
    private let started: Date
    private var files = 0
    private var bytes: UInt64 = 0
    private var current = ""
    private var lastDrawn = Date.distantPast
    private var drewLine = false

    /// `columns` is the terminal's width (`COLUMNS`).
    public init(
        files: Int, bytes: UInt64, terminal: Bool, clock: any WallClock = SystemClock(), columns: Int = 100, noun: String = "files",
        write: @escaping @Sendable (String) -> Void
    ) {
        self.clock = clock
        self.noun = noun
        self.columns = columns
        started = clock.now()
        totalFiles = files
        totalBytes = bytes
        self.terminal = terminal
        self.write = write
    }

    public func start(_ path: FilePath, size: UInt64) {
        lock.lock()
        current = path.description
        lock.unlock()
        draw()
    }

    public func read(_ count: UInt64) {
        lock.lock()
        bytes += count
        lock.unlock()
        draw()
    }

    public func finish(_ path: FilePath) {
        lock.lock()
        files += 1
        lock.unlock()
        draw()
    }

    /// Clears the status line before other output.
    public func clear() {
        lock.lock()
        defer { lock.unlock() }
        if terminal && drewLine {
            write("\r\u{1B}[K")
            drewLine = false
        }
    }

    /// The status text: `12/345 files, 1.2 GB of 3.4 GB, 120 MB/s, 0:20 left: /path`.
    public func status(now: Date? = nil) -> String {
        let now = now ?? clock.now()
        let elapsed = max(now.timeIntervalSince(started), 0.001)
        let rate = Double(bytes) / elapsed
        let count = totalFiles > 0 ? "\(files)/\(totalFiles) \(noun)" : "\(files) \(noun)"
        let volume = totalBytes > 0 ? "\(ByteCountText.format(bytes)) of \(ByteCountText.format(totalBytes))" : ByteCountText.format(bytes)
        var text = "\(count), \(volume), \(ByteCountText.format(UInt64(rate)))/s"
        if rate > 0, totalBytes > bytes {
            let left = Int(Double(totalBytes - bytes) / rate)
            text += String(format: ", %d:%02d left", left / 60, left % 60)
        }
        return text
    }

    private func draw() {
        lock.lock()
        defer { lock.unlock() }
        let now = clock.now()
        let interval: TimeInterval = terminal ? 0.2 : 10
        guard now.timeIntervalSince(lastDrawn) >= interval else { return }
        if !terminal && now.timeIntervalSince(started) < interval { return }
        lastDrawn = now
        let text = status(now: now)
        if terminal {
            var line = text + ": " + current
            if line.count > columns - 1 { line = String(line.prefix(columns - 2)) + "…" }
            write("\r\u{1B}[K" + line)
            drewLine = true
        } else {
            write("progress: " + text + "\n")
        }
    }
}
