import CairnTesting
import Foundation
import Synchronization
import Testing

@testable import CairnCore

@Suite("Bounded work beside a task")
struct WorkWindowTests {
    /// Counts pieces running at once, and the most seen.
    final class Gauge: Sendable {
        let state = Mutex((now: 0, most: 0, started: 0))
        func enter() { state.withLock { $0.now += 1; $0.started += 1; $0.most = max($0.most, $0.now) } }
        func leave() { state.withLock { $0.now -= 1 } }
        var most: Int { state.withLock { $0.most } }
        var started: Int { state.withLock { $0.started } }
    }

    /// A value shared with pieces of work.
    final class Shared<Value: Sendable>: Sendable {
        let value: Mutex<Value>
        init(_ value: Value) { self.value = Mutex(value) }
        func withLock<R>(_ body: (inout sending Value) -> sending R) -> R { value.withLock(body) }
    }

    @Test func resultsComeBackInTheOrderStartedAndNoMoreThanTheWidthRun() async throws {
        let window = WorkWindow<Int>(width: 3)
        let gauge = Gauge()
        var results: [Int] = []
        for number in 0..<40 {
            let delay = UInt64((number * 7919) % 5) * 1_000_000
            if let done = try await window.add({
                gauge.enter()
                defer { gauge.leave() }
                try await Task.sleep(nanoseconds: delay)
                return number
            }) { results.append(done) }
            #expect(window.count <= 3)
        }
        while let done = try await window.next() { results.append(done) }
        #expect(results == Array(0..<40))
        #expect(gauge.most <= 3 && gauge.most >= 2, "most at once: \(gauge.most)")
    }

    @Test func aWeightBudgetBoundsWhatIsPendingAndAHeavierPieceRunsAlone() async throws {
        let window = WorkWindow<Int>(width: 3, weightBudget: 10)
        let gauge = Gauge()
        // Weights as a file's chunks: mostly small, some at the budget, one over it.
        let weights = [2, 3, 4, 1, 10, 5, 5, 6, 12, 1, 1, 1, 1, 9, 2, 3]
        let load = Shared((now: 0, most: 0, heavyWithOthers: false))
        var results: [Int] = []
        for (number, weight) in weights.enumerated() {
            let delay = UInt64((number * 7919) % 4) * 1_000_000
            results += try await window.start(weight: weight) {
                gauge.enter()
                defer { gauge.leave() }
                try await Task.sleep(nanoseconds: delay)
                return number
            }
            #expect(window.count <= 3)
            #expect(window.weight <= 10 || window.count == 1, "\(window.weight) pending in \(window.count) pieces")
            load.withLock { $0.most = max($0.most, window.weight) }
            if weight > 10 { load.withLock { $0.heavyWithOthers = $0.heavyWithOthers || window.count > 1 } }
        }
        while let done = try await window.next() { results.append(done) }
        #expect(results == Array(0..<weights.count), "every result once, in the order started")
        #expect(window.weight == 0)
        #expect(load.withLock { $0.most } == 12, "the heavier piece ran alone")
        #expect(!load.withLock { $0.heavyWithOthers })
        #expect(gauge.most >= 2 && gauge.most <= 3, "most at once: \(gauge.most)")
    }

    @Test func oneAtATimeRunsEachPieceAfterTheOneBefore() async throws {
        let window = WorkWindow<Void>(width: 2, oneAtATime: true)
        let gauge = Gauge()
        let order = Shared<[Int]>([])
        for number in 0..<30 {
            try await window.add {
                gauge.enter()
                defer { gauge.leave() }
                usleep(UInt32((30 - number) * 100))  // later pieces are quicker: order must still hold
                order.withLock { $0.append(number) }
            }
        }
        try await window.finish()
        #expect(order.withLock { $0 } == Array(0..<30))
        #expect(gauge.most == 1)
    }

    @Test func finishWaitsForEveryPieceThenThrowsTheFirstError() async throws {
        struct Failed: Error, Equatable { var number: Int }
        let window = WorkWindow<Int>(width: 4)
        let gauge = Gauge()
        for number in 0..<4 {
            try await window.add {
                gauge.enter()
                defer { gauge.leave() }
                try await Task.sleep(nanoseconds: UInt64(4 - number) * 2_000_000)
                if number == 1 || number == 3 { throw Failed(number: number) }
                return number
            }
        }
        await #expect(throws: Failed(number: 1)) { try await window.finish() }
        #expect(window.isEmpty && gauge.state.withLock { $0.now } == 0, "nothing left running")
    }

    @Test func cancellingTheWaitingTaskCancelsEveryPendingPiece() async throws {
        let cancelled = Shared(0)
        let window = WorkWindow<Void>(width: 4)
        let waiter = Task {
            for _ in 0..<4 {
                try await window.add {
                    do { try await Task.sleep(nanoseconds: 60_000_000_000) } catch { cancelled.withLock { $0 += 1 }; throw error }
                }
            }
            try await window.finish()
        }
        try await Task.sleep(nanoseconds: 50_000_000)
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        // Every piece saw the cancellation well before its minute was up.
        for _ in 0..<200 where cancelled.withLock({ $0 }) < 4 { try await Task.sleep(nanoseconds: 5_000_000) }
        #expect(cancelled.withLock { $0 } == 4)
    }

    @Test func aWindowDroppedWithPendingPiecesCancelsThem() async throws {
        let cancelled = Shared(0)
        do {
            let window = WorkWindow<Void>(width: 2)
            for _ in 0..<2 {
                try await window.add {
                    do { try await Task.sleep(nanoseconds: 60_000_000_000) } catch { cancelled.withLock { $0 += 1 } }
                }
            }
        }
        for _ in 0..<200 where cancelled.withLock({ $0 }) < 2 { try await Task.sleep(nanoseconds: 5_000_000) }
        #expect(cancelled.withLock { $0 } == 2)
    }

    @Test func theBlockingPoolRunsABurstOnItsFixedThreads() async throws {
        let names = Shared<Set<String>>([])
        let gauge = Gauge()
        try await withThrowingTaskGroup(of: Int.self) { group in
            for number in 0..<(BlockingIO.threadCount * 4) {
                group.addTask {
                    try await BlockingIO.run {
                        gauge.enter()
                        defer { gauge.leave() }
                        let text = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "?"
                        names.withLock { _ = $0.insert(text) }
                        usleep(2000)
                        return number
                    }
                }
            }
            var sum = 0
            for try await number in group { sum += number }
            let count = BlockingIO.threadCount * 4
            #expect(sum == count * (count - 1) / 2)
        }
        #expect(gauge.started == BlockingIO.threadCount * 4)
        #expect(gauge.most <= BlockingIO.threadCount && gauge.most > 1, "at once: \(gauge.most)")
        #expect(names.withLock { $0.allSatisfy { $0.hasPrefix("cairn-io-") } && $0.count <= BlockingIO.threadCount }, "\(names.withLock { $0 })")
    }
}
