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
        var nextFollower = 0
        /// Requests made stop too when this one is (`forward(to:)`).
        var followers: [Int: StopRequest] = [:]
        /// `stop(at:clock:)`'s deadline, also checked whenever the request is asked about: the
        /// task that sleeps until it may find no thread free in time.
        var deadline: (date: Date, clock: any WallClock)?
    }

    private let state = Mutex(State())
    private let waiters = WaitList()

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
        let followers = state.withLock { state -> [StopRequest]? in
            guard state.reason == nil else { return nil }
            state.reason = reason
            return Array(state.followers.values)
        }
        guard let followers else { return }
        for follower in followers { follower.request(reason) }
        waiters.wakeAll()
    }

    /// Makes `follower` stop, with this request's reason, when this one does (at once if it
    /// already has), until the returned closure is called.
    public func forward(to follower: StopRequest) -> @Sendable () -> Void {
        let (number, reason) = state.withLock { state -> (Int, StopReason?) in
            state.nextFollower += 1
            if state.reason == nil { state.followers[state.nextFollower] = follower }
            return (state.nextFollower, state.reason)
        }
        if let reason { follower.request(reason) }
        return { [self] in _ = state.withLock { $0.followers.removeValue(forKey: number) } }
    }

    /// Returns once a stop is requested, or at once when the waiting task is cancelled.
    public func requested() async {
        await waiters.wait { state.withLock { $0.reason != nil } }
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
