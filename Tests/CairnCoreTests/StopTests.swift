import CairnTesting
import Foundation
import Synchronization
import Testing

@testable import CairnCore

@Suite("Stopping a job cleanly")
struct StopTests {
    @Test func aStopRequestWakesItsWaitersAndKeepsTheFirstReason() async throws {
        let stop = StopRequest()
        let waiters = (0..<3).map { _ in Task { await stop.requested(); return stop.reason } }
        try await Task.sleep(nanoseconds: 20_000_000)
        #expect(!stop.isRequested)
        stop.request(.maxDuration)
        stop.request(.interrupted(signal: SIGINT))
        for waiter in waiters { #expect(await waiter.value == .maxDuration) }
        await stop.requested()  // already requested: returns at once
    }

    @Test func waitingForAStopEndsWhenTheTaskIsCancelled() async throws {
        let stop = StopRequest()
        let waiter = Task { await stop.requested() }
        try await Task.sleep(nanoseconds: 20_000_000)
        waiter.cancel()
        await waiter.value
        #expect(!stop.isRequested)
    }

    @Test func aDeadlineOnAManualClockStopsWhenTheClockPassesIt() async throws {
        let clock = ManualClock(Date(timeIntervalSince1970: 1_900_000_000))
        let stop = StopRequest()
        let deadline = stop.stop(at: clock.now().addingTimeInterval(3600), clock: clock)
        clock.advance(by: 1800)
        try await Task.sleep(nanoseconds: 30_000_000)
        #expect(!stop.isRequested, "half an hour in: not yet")
        clock.advance(by: 1800)
        await stop.requested()
        #expect(stop.reason == .maxDuration)
        await deadline.value
    }

    @Test func aCancelledDeadlineNeverStops() async throws {
        let clock = ManualClock(Date(timeIntervalSince1970: 1_900_000_000))
        let stop = StopRequest()
        let deadline = stop.stop(at: clock.now().addingTimeInterval(60), clock: clock)
        deadline.cancel()
        await deadline.value
        clock.advance(by: 120)
        #expect(!stop.isRequested)
    }

    /// Requests the stop once `after` files are done.
    final class StopAfter: ProgressSink, Sendable {
        let stop: StopRequest
        let after: Int
        let done = Mutex(0)
        init(_ stop: StopRequest, after: Int) {
            self.stop = stop
            self.after = after
        }
        func start(_ path: FilePath, size: UInt64) {}
        func read(_ bytes: UInt64) {}
        func finish(_ path: FilePath) {
            if done.withLock({ $0 += 1; return $0 }) == after { stop.request(.interrupted(signal: SIGINT)) }
        }
    }

    @Test func aBackupStoppedHalfWayCommitsAPartialSnapshotOfWholeVersions() async throws {
        let directory = try TemporaryDirectory()
        let context = try localSetContext(directory)
        var generator = SeededGenerator(state: 18)
        func version(_ number: Int, of file: Int) -> [UInt8] {
            (0..<(300 << 10)).map { _ in UInt8.random(in: 0...255, using: &generator) } + Array("file \(file) version \(number)".utf8)
        }
        var first: [String: [UInt8]] = [:]
        for file in 0..<24 {
            first["f\(file).bin"] = version(1, of: file)
            try Data(first["f\(file).bin"]!).write(to: URL(fileURLWithPath: directory.subpath("source/f\(file).bin")))
        }
        var job = try await BackupJob.plan(context)
        _ = try await job.execute()

        var second: [String: [UInt8]] = [:]
        for file in 0..<24 {
            second["f\(file).bin"] = version(2, of: file)
            try Data(second["f\(file).bin"]!).write(to: URL(fileURLWithPath: directory.subpath("source/f\(file).bin")))
        }
        let stop = StopRequest()
        var stopped = try await BackupJob.plan(context)
        let result = try await stopped.execute(progress: StopAfter(stop, after: 3), stop: stop)
        #expect(result.snapshot.status == .partial)

        // Every file is one whole version: the new one where it was read, else the old one,
        // marked as not reached.
        let repository = try #require(stopped.repository)
        var files: [(name: String, entry: TreeEntry)] = []
        try await SnapshotWalk.visit(repository, tree: try #require(result.snapshot.treeID), at: .root) { path, entry in
            if entry.kind == .file { files.append((String(decoding: path.name, as: UTF8.self), entry)) }
        }
        var fresh = 0, kept = 0
        for (name, entry) in files {
            var bytes: [UInt8] = []
            for extent in entry.content {
                bytes += try await repository.load(.blob, extent.object)[extent.offset..<extent.offset + extent.length]
            }
            if entry.carried == .notReached {
                #expect(bytes == first[name], "\(name) keeps its first version")
                kept += 1
            } else {
                #expect(entry.carried == nil && bytes == second[name], "\(name) is its second version")
                fresh += 1
            }
        }
        #expect(fresh + kept == 24)
        #expect(fresh >= 3 && kept >= 1, "read \(fresh), kept \(kept)")
        #expect(result.snapshot.statistics.carriedOver == kept)
        let report = try await Verifier(repository: repository).run(readData: 1)
        #expect(report.damages.isEmpty, "\(report.damages.map(\.message))")

        // The next run reads what the stopped one did not reach.
        let next = try await BackupJob.plan(context)
        #expect(next.plan.summary.changedFiles == kept)
    }
}

extension StopTests {
    @Test func aForwardedStopArrivesAtOnceAndNotAfterItIsUndone() {
        let signal = StopRequest(), job = StopRequest(), later = StopRequest()
        let undo = signal.forward(to: job)
        let undoLater = signal.forward(to: later)
        undoLater()
        signal.request(.interrupted(signal: SIGTERM))
        #expect(job.reason == .interrupted(signal: SIGTERM), "synchronously, with the signal's reason")
        #expect(!later.isRequested)
        undo()
        let afterwards = StopRequest()
        _ = signal.forward(to: afterwards)
        #expect(afterwards.isRequested, "a request made before forwarding reaches the follower at once")
    }
}

extension StopTests {
    @Test func aPassedDeadlineIsSeenWithoutWaitingForItsTask() {
        // The task that sleeps until the deadline may find no thread free (work blocking the
        // cooperative threads): asking the request checks the deadline itself.
        let clock = ManualClock(Date(timeIntervalSince1970: 1_900_000_000))
        let stop = StopRequest()
        let deadline = stop.stop(at: clock.now().addingTimeInterval(1), clock: clock)
        #expect(!stop.isRequested)
        clock.advance(by: 2)
        #expect(stop.isRequested && stop.reason == .maxDuration, "seen at once, synchronously")
        deadline.cancel()
    }
}
