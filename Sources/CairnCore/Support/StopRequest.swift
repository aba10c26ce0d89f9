import Foundation
import Synchronization

/// Why a job stops before its end.
public enum StopReason: Sendable, Equatable {
    /// SIGINT or SIGTERM.
    case interrupted(signal: Int32)
    /// The schedule's `max-duration` was reached.
    case maxDuration
}

/// A request that a job stop cleanly: what it has done is kept (a backup commits it as a
/// partial snapshot). The job's reading work is cancelled when it is made (`requested()`
/// wakes the task that cancels it); work that must finish, such as storing what was read, is
/// not. The first reason given is the one kept.
public final class StopRequest: Sendable {
    private struct State {
        var reason: StopReason?
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter = 0
        /// Requests made stop too when this one is (`forward(to:)`).
        var followers: [Int: StopRequest] = [:]
        /// `stop(at:clock:)`'s deadline, also checked whenever the request is asked about: the
        /// task that sleeps until it may find no thread free in time.
        var deadline: (date: Date, clock: any WallClock)?
    }

    private let state = Mutex(State())

    public init() {}

    public var reason: StopReason? {
        let (reason, deadline) = state.withLock { ($0.reason, $0.deadline) }
        if reason == nil, let deadline, deadline.clock.now() >= deadline.date {
            request(.maxDuration)
            return state.withLock { $0.reason }
        }
        return reason
    }
    public var isRequested: Bool { reason != nil }

    /// Asks the job to stop.
    public func request(_ reason: StopReason) {
        let (waiters, followers) = state.withLock { state -> ([CheckedContinuation<Void, Never>], [StopRequest]) in
            guard state.reason == nil else { return ([], []) }
            state.reason = reason
            defer { state.waiters = [:] }
            return (Array(state.waiters.values), Array(state.followers.values))
        }
        for follower in followers { follower.request(reason) }
        for waiter in waiters { waiter.resume() }
    }

    /// Makes `follower` stop, with this request's reason, when this one does (at once if it
    /// already has), until the returned closure is called.
    public func forward(to follower: StopRequest) -> @Sendable () -> Void {
        let (number, reason) = state.withLock { state -> (Int, StopReason?) in
            state.nextWaiter += 1
            if state.reason == nil { state.followers[state.nextWaiter] = follower }
            return (state.nextWaiter, state.reason)
        }
        if let reason { follower.request(reason) }
        return { [self] in _ = state.withLock { $0.followers.removeValue(forKey: number) } }
    }

    /// Returns once a stop is requested, or at once when the waiting task is cancelled.
    public func requested() async {
        let number = state.withLock { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let now = state.withLock { state -> Bool in
                    if state.reason != nil || Task.isCancelled { return true }
                    state.waiters[number] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: number) }?.resume()
        }
    }

    /// Requests a stop at `deadline` by `clock`, until the returned task is cancelled.
    public func stop(at deadline: Date, clock: any WallClock) -> Deadline {
        state.withLock { $0.deadline = (deadline, clock) }
        let task = Task { [self] in
            while clock.now() < deadline {
                guard (try? await clock.sleep(until: deadline)) != nil else { return }
            }
            request(.maxDuration)
        }
        return Deadline(request: self, task: task)
    }

    /// A deadline set by `stop(at:clock:)`, until it is cancelled.
    public struct Deadline: Sendable {
        let request: StopRequest
        let task: Task<Void, Never>

        /// The deadline no longer applies (a stop already requested stays).
        public func cancel() {
            request.state.withLock { $0.deadline = nil }
            task.cancel()
        }

        /// Waits until the deadline's task has ended.
        public var value: Void { get async { await task.value } }
    }
}
