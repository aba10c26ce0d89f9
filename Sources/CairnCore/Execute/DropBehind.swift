import Dispatch
import Synchronization
internal import CLinux

#if canImport(Glibc)
    import Glibc
#endif

/// Restored files whose pages are let go of once written: a restore then keeps a bounded
/// part of what it wrote in the page cache, instead of filling it with files no one reads
/// yet and pushing out what the machine was using.
///
/// A file handed over (its descriptor, its flush already started) waits in line behind the
/// ones handed over before it; once more than `limit` bytes or `files` files wait, the
/// oldest's flush is waited for (done as a rule: it started `limit` bytes ago), its pages are
/// dropped (`POSIX_FADV_DONTNEED`) and its descriptor closed, on the threads that wait for
/// the device (`BlockingIO`), never on a task's. The pages freed serve the files written next,
/// where fresh ones may cost more: a restore of /usr on a machine with little free memory took
/// 9.8-11.8 s of system time instead of about 7, taking new pages (docs/BENCHMARKS.md).
final class DropBehind: Sendable {
    private let waiting = Mutex<(files: [(descriptor: Int32, bytes: Int)], bytes: Int)>(([], 0))
    /// Drops under way on the pool's threads.
    private let dropping = DispatchGroup()
    let limit: Int
    /// At most this many files wait; with none, nothing is handed over (`takesFiles`).
    let files: Int

    init(limit: Int = 64 << 20, files: Int = DropBehind.files()) {
        self.limit = limit
        self.files = files
    }

    /// The files waiting keep their descriptors open: 64 of them, fewer under a low limit of
    /// open files (a quarter of what it allows past 256, which a restore keeps for itself: its
    /// walk's folders, the folders waiting for their metadata, the packs open for reading and
    /// the files being written), none at 256 or less.
    static func files(openLimit: Int? = nil) -> Int {
        var limit = rlimit()
        // No limit (RLIM_INFINITY, the largest value) clamps to Int.max.
        let open = openLimit ?? (getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 ? Int(clamping: limit.rlim_cur) : 1024)
        return max(0, min(64, (open - 256) / 4))
    }

    /// Whether files are handed over at all.
    var takesFiles: Bool { files > 0 }

    /// Takes `descriptor` over (this closes it) for a file of `bytes` bytes.
    func add(_ descriptor: Int32, bytes: Int) {
        let due = waiting.withLock { waiting -> [(descriptor: Int32, bytes: Int)] in
            waiting.files.append((descriptor, bytes))
            waiting.bytes += bytes
            var due: [(descriptor: Int32, bytes: Int)] = []
            while waiting.bytes > limit || waiting.files.count > files {
                let oldest = waiting.files.removeFirst()
                waiting.bytes -= oldest.bytes
                due.append(oldest)
            }
            return due
        }
        guard !due.isEmpty else { return }
        dropping.enter()
        BlockingIO.start { [dropping] in
            for file in due { Self.drop(file.descriptor) }
            dropping.leave()
        }
    }

    /// Drops and closes every file still waiting, and waits for the drops under way: after the
    /// restore's flush, when all their pages are written.
    func finish() {
        let rest = waiting.withLock { waiting in
            defer { waiting = ([], 0) }
            return waiting.files
        }
        for file in rest { Self.drop(file.descriptor) }
        settle()
    }

    /// Waits for the drops under way.
    func settle() { dropping.wait() }

    /// How many files wait (for tests).
    var count: Int { waiting.withLock { $0.files.count } }

    private static func drop(_ descriptor: Int32) {
        // Its flush, started when it was written, is done by now as a rule; a page still being
        // written would stay.
        _ = cairn_wait_writeback(descriptor)
        _ = posix_fadvise(descriptor, 0, 0, POSIX_FADV_DONTNEED)
        close(descriptor)
    }

    deinit { finish() }
}
