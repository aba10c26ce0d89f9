import Dispatch

/// Runs system calls that wait for the device (direct reads, a pack's write and fsync) on
/// threads of their own. Tasks run on as many threads as there are cores: a task blocked in
/// `pread` or `fsync` leaves one of the two cores of these machines idle, however much work
/// is waiting for it.
enum BlockingIO {
    private static let queue = DispatchQueue(label: "cairn.blocking-io", attributes: .concurrent)

    static func run<Value: Sendable>(_ work: @escaping @Sendable () throws -> Value) async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try work() }) }
        }
    }
}
