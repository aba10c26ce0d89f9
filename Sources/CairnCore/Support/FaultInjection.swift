import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Deterministic crash points for tests of crash safety, instead of timing.
///
/// `CAIRN_FAULT_INJECTION=POINT:N[:SIGNAL]` makes the process send itself SIGNAL (default
/// KILL) the Nth time it reaches POINT. Points: `pack-written`, `index-written`,
/// `before-snapshot`, `file-stored`, `signature-fetched` (a signature read from the
/// repository rather than the local cache), `keys-added` (a key change has added the new key
/// to every repository and removed no old key yet), `old-key-removed` (a key change has removed
/// the old key from one more repository), `restore-folder-created` (a restore made a folder and
/// opened it), `restore-entry-created` (a restore made an entry, a file unnamed or under a
/// temporary name, and has set none of its metadata), `file-restored` (a restore gave a
/// written file its name), `local-copy-file` (a local copy has copied one more file), `server-upload-part` (cairn server has written one more piece of an upload's body to its temporary file). `POINT:N:DELAYMS` instead sleeps MS milliseconds each time from the Nth on (a slow
/// disk, for tests of max-duration). `POINT:N:STOP` stops the process (SIGSTOP) the Nth time,
/// so a test can change the file system at exactly that point and let it go on with SIGCONT.
/// Unset, this does nothing.
public enum FaultInjection {
    private static let plan: (point: String, count: Int, signal: Int32, delay: UInt32?)? = {
        guard let text = ProcessInfo.processInfo.environment["CAIRN_FAULT_INJECTION"] else { return nil }
        let parts = text.split(separator: ":").map(String.init)
        guard parts.count >= 2, let count = Int(parts[1]) else { return nil }
        if parts.count > 2, parts[2].hasPrefix("DELAY"), let milliseconds = UInt32(parts[2].dropFirst(5)) {
            return (parts[0], count, 0, milliseconds)
        }
        let names = ["INT": SIGINT, "TERM": SIGTERM, "STOP": SIGSTOP]
        let signal: Int32 = parts.count > 2 ? names[parts[2]] ?? SIGKILL : SIGKILL
        return (parts[0], count, signal, nil)
    }()

    private static let counter = Counter()

    /// `CAIRN_RESTORE_NAMED_TEMPORARIES` set: a restore writes files under temporary names, as
    /// on a file system without unnamed files (O_TMPFILE), so tests reach that way too.
    static let namedRestoreTemporaries = ProcessInfo.processInfo.environment["CAIRN_RESTORE_NAMED_TEMPORARIES"] != nil

    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var counts: [String: Int] = [:]

        func increment(_ point: String) -> Int {
            lock.lock()
            defer { lock.unlock() }
            counts[point, default: 0] += 1
            return counts[point]!
        }
    }

    public static func reach(_ point: String) {
        guard let plan, plan.point == point else { return }
        if let delay = plan.delay {
            if counter.increment(point) >= plan.count { usleep(delay * 1000) }
            return
        }
        guard counter.increment(point) == plan.count else { return }
        if plan.signal == SIGSTOP {
            // To this thread: stopping the process through another thread would let this one
            // run on for a moment, past the point.
            raise(SIGSTOP)
            return
        }
        // SIGINT or SIGTERM while a job catches them: its handler runs here and now, so the
        // point where the job notices the signal is the same in every run. (Delivered, the
        // handler runs on a queue of its own: under load, the other reads of a backup went on
        // meanwhile and read every file left before the stop was seen. Signals sent from
        // outside, in the tests of stopping, go that way.)
        if plan.signal == SIGINT || plan.signal == SIGTERM, Interruption.shared.isInstalled {
            Interruption.shared.receive(plan.signal)
            return
        }
        kill(getpid(), plan.signal)
    }
}

/// Whether SIGINT or SIGTERM asked the running job to stop: the job then commits what it has
/// done as a partial snapshot.
public final class Interruption: @unchecked Sendable {
    public static let shared = Interruption()

    private let lock = NSLock()
    private var requested: Int32 = 0
    private var sources: [DispatchSourceSignal] = []
    /// Requested by the first signal: jobs follow it (`StopRequest.requested()`).
    public let stop = StopRequest()

    /// The signal that asked to stop, or 0.
    public var signal: Int32 {
        lock.lock()
        defer { lock.unlock() }
        return requested
    }

    public var isRequested: Bool { signal != 0 }

    /// Whether SIGINT and SIGTERM are caught (`install`).
    public var isInstalled: Bool {
        lock.lock()
        defer { lock.unlock() }
        return !sources.isEmpty
    }

    /// Catches SIGINT and SIGTERM from now on; a second signal ends the process at once.
    public func install() {
        lock.lock()
        defer { lock.unlock() }
        guard sources.isEmpty else { return }
        for number in [SIGINT, SIGTERM] {
            Glibc.signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [weak self] in self?.receive(number) }
            source.resume()
            sources.append(source)
        }
    }

    /// What a caught SIGINT or SIGTERM does: the first asks the job to stop, the second ends
    /// the process at once.
    func receive(_ number: Int32) {
        lock.lock()
        let first = requested == 0
        if first { requested = number }
        lock.unlock()
        if first {
            stop.request(.interrupted(signal: number))
            FileHandle.standardError.write(Data("cairn: stopping: committing what is done as a partial snapshot (signal again to stop at once)\n".utf8))
        } else {
            Glibc.signal(number, SIG_DFL)
            kill(getpid(), number)
        }
    }
}

/// Where damage found on the way (a damaged index file ignored, a key file skipped) is told:
/// the executable prints it as a warning; by default it is dropped.
public enum DamageWarnings {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var sink: (@Sendable (String) -> Void)?
    nonisolated(unsafe) private static var told: Set<String> = []

    public static func install(_ report: @escaping @Sendable (String) -> Void) {
        lock.lock()
        defer { lock.unlock() }
        sink = report
    }

    /// Tells each warning once per process.
    public static func tell(_ warnings: [String]) {
        lock.lock()
        let fresh = warnings.filter { told.insert($0).inserted }
        let report = sink
        lock.unlock()
        for warning in fresh { report?(warning) }
    }
}
