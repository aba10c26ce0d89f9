import CairnTesting
import Foundation
import Testing

@testable import CairnCore

/// The one path of jobs on a set: open, lease, run, release, and one outcome.
@Suite("The job runner")
struct JobRunnerTests {
    /// A set backed up once.
    func backedUp(_ directory: TemporaryDirectory) async throws -> SetContext {
        let context = try localSetContext(directory)
        try directory.write("source/a.txt", "a")
        let outcome = await BackupJob.run(context, options: BackupJob.RunOptions(command: "backup")) { _ in }
        #expect(outcome.jobOutcome == .success)
        return context
    }

    @Test func aSetNeverBackedUpFailsNamingTheJobAndTheBodyNeverRuns() async throws {
        let directory = try TemporaryDirectory()
        let runner = JobRunner(try localSetContext(directory), command: "restore")
        let outcome = await runner.run(lease: .shared) { _ in
            Issue.record("the body ran")
            return .success
        }
        #expect(outcome.status == .failed)
        #expect(outcome.failure?.hasPrefix("restore: backup set 'files' has never been backed up") == true, "\(outcome)")
    }

    @Test func theLeaseIsHeldDuringTheBodyAndReleasedWhateverHappens() async throws {
        let directory = try TemporaryDirectory()
        let context = try await backedUp(directory)
        let runner = JobRunner(context, command: "verify")
        let during = await runner.run(lease: .exclusive) { repository in
            let held = try await repository.locks()
            #expect(held.count == 1 && held[0].record.mode == .exclusive && held[0].record.command == "cairn verify files")
            return JobOutcome(.incomplete)
        }
        #expect(during == JobOutcome(.incomplete))
        struct Boom: Error, CustomStringConvertible { var description: String { "boom" } }
        let failed = await runner.run(lease: .exclusive) { _ in throw Boom() }
        #expect(failed == JobOutcome(.failed, failure: "verify of backup set 'files': boom"))
        let repository = try #require(try await context.openRepository())
        #expect(try await repository.locks().isEmpty, "released after success and after a failure")
    }

    @Test func aHeldLeaseStopsAConflictingJobBeforeItsBody() async throws {
        let directory = try TemporaryDirectory()
        let context = try await backedUp(directory)
        let repository = try #require(try await context.openRepository())
        let outcome = try await repository.withLease(.exclusive, command: "cairn prune files") {
            await JobRunner(context, command: "restore").run(lease: .shared) { _ in
                Issue.record("the body ran while another job held the repository")
                return .success
            }
        }
        #expect(outcome.status == .failed)
        #expect(outcome.failure?.contains("is locked") == true && outcome.failure?.contains("cairn prune files") == true, "\(outcome)")
    }

    @Test func theWorstOutcomeWins() {
        #expect(JobOutcome.worst([.success, JobOutcome(.changes), JobOutcome(.incomplete)]).status == .incomplete)
        #expect(JobOutcome.worst([JobOutcome(.incomplete), JobOutcome(.failed, failure: "x"), .success]) == JobOutcome(.failed, failure: "x"))
        #expect(JobOutcome.worst([.success, JobOutcome(.changes)]).status == .changes)
        #expect(JobOutcome.worst([]) == .success)
        #expect(JobOutcome.finished(problems: 2).status == .incomplete)
    }
}
