import Synchronization

/// Tasks waiting for something to happen, woken together when it does (`wakeAll`); a waiting
/// task that is cancelled is woken at once. The owner changes its own state first and then
/// wakes: `wait(unless:)` checks `ready` under this list's lock, so no wake-up is lost.
final class WaitList: Sendable {
    private let state = Mutex<(waiters: [Int: CheckedContinuation<Void, Never>], next: Int)>(([:], 0))

    /// Returns when woken, when `ready()` already holds, or when the task is cancelled.
    func wait(unless ready: () -> Bool) async {
        let number = state.withLock { state in
            state.next += 1
            return state.next
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let now = state.withLock { state -> Bool in
                    if ready() || Task.isCancelled { return true }
                    state.waiters[number] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: number) }?.resume()
        }
    }

    func wakeAll() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }
}
