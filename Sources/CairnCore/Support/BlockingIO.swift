import Foundation
internal import CCairnKernels

/// Runs system calls that wait for the device (direct reads, a buffer's direct write, a pack's
/// fsync and rename) on a fixed set of threads of their own. Tasks run on as many threads as
/// there are cores: a task blocked in `pread` or `fsync` would leave one of the two cores of
/// these machines idle, however much work is waiting for it. The threads are few and fixed
/// (`threadCount`); work beyond them waits its turn in order, so a burst of reads cannot start
/// a thread each.
///
/// Work given here never waits for other work given here (a pool thread that did could wait
/// for work queued behind itself): what waits for a background write awaits it from a task.
enum BlockingIO {
    /// Enough for the reads a storage runs at once (8 for a local folder) and the writes of a
    /// restore and a pack's commit beside them.
    static let threadCount = max(12, 2 * sysconf(Int32(_SC_NPROCESSORS_ONLN)))

    private static let pool = BlockingPool(threads: threadCount)

    /// Runs `work` on a pool thread and returns what it returns; the task suspends meanwhile.
    static func run<Value: Sendable>(_ work: @escaping @Sendable () throws -> Value) async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            pool.submit { continuation.resume(with: Result { try work() }) }
        }
    }

    /// Starts `work` on a pool thread and returns at once; `work` reports its end itself.
    static func start(_ work: @escaping @Sendable () -> Void) {
        pool.submit(work)
    }
}

/// Threads started once that take jobs in the order given.
final class BlockingPool: @unchecked Sendable {
    private let condition = NSCondition()
    /// Guarded by `condition`: the jobs not yet taken, from `head` on.
    private var jobs: [@Sendable () -> Void] = []
    private var head = 0

    init(threads: Int) {
        for number in 0..<threads {
            let thread = Thread { [self] in
                cairn_name_thread("cairn-io-\(number)")
                serve()
            }
            thread.stackSize = 512 << 10
            thread.start()
        }
    }

    func submit(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        jobs.append(job)
        condition.unlock()
        condition.signal()
    }

    private func serve() {
        while true {
            condition.lock()
            while head == jobs.count { condition.wait() }
            let job = jobs[head]
            head += 1
            if head == jobs.count || head >= 1024 {
                jobs.removeFirst(head)
                head = 0
            }
            condition.unlock()
            job()
        }
    }
}
