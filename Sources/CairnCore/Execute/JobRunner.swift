/// How a job on one set ended, in the words exit statuses use (DESIGN.md): every command that
/// works on a set reports one, and the command line maps it to its exit status.
public struct JobOutcome: Sendable, Equatable {
    public enum Status: Sendable, Equatable {
        /// Done.
        case success
        /// Done, and something changed (a plan with changes, for --detailed-exitcode).
        case changes
        /// Finished, but some entries could not be read or written.
        case incomplete
        /// Failed: a wrong config, a locked set, damage, conflicts.
        case failed
    }

    public var status: Status
    /// Why it failed, for people; nil when it did not (or already said so itself).
    public var failure: String?

    public init(_ status: Status, failure: String? = nil) {
        self.status = status
        self.failure = failure
    }

    public static let success = JobOutcome(.success)

    /// Problems make a finished job incomplete.
    public static func finished(problems: Int) -> JobOutcome { problems == 0 ? .success : JobOutcome(.incomplete) }

    /// The worst of several outcomes: failed over incomplete over changes over success.
    public static func worst(_ outcomes: [JobOutcome]) -> JobOutcome {
        for status in [Status.failed, .incomplete, .changes] {
            if let outcome = outcomes.first(where: { $0.status == status }) { return outcome }
        }
        return .success
    }
}

/// The one path of every job on a set's existing repository: open it (a set never backed up is
/// a failure that says so), take a lease, run, release the lease whatever happens, and turn a
/// thrown error into a failed outcome that names the job. Backup, restore, verify, prune,
/// repair, snapshots, ls and key run through it; run-due, seed-load and the server are next.
public struct JobRunner: Sendable {
    public let context: SetContext
    /// `restore`, `verify`, ...: for the lease and for messages.
    public let command: String

    public init(_ context: SetContext, command: String) {
        self.context = context
        self.command = command
    }

    /// What the job is, for messages: `restore of backup set 'docs'`.
    public var what: String { "\(command) of backup set '\(context.set.name)'" }

    /// Runs `body` on the set's repository under a lease of `mode`.
    public func run(lease mode: LockRecord.Mode, _ body: (Repository) async throws -> JobOutcome) async -> JobOutcome {
        do {
            let repository = try await existingRepository()
            // A repository read with --from takes no lease: nothing may be written there (it
            // may be read-only media), and nothing else writes to a copy.
            if context.source != nil { return try await body(repository) }
            FaultInjection.reach("job-opened")
            return try await repository.withLease(mode, command: "cairn \(command) \(context.set.name)") {
                // Opened before the lease: a backup may have ended meanwhile (its snapshot would
                // be listed, its index file not read), or a prune run.
                try await repository.reloadIndexIfChanged()
                return try await body(repository)
            }
        } catch {
            return failed(error)
        }
    }

    /// Runs `body` on the set's repository without a lease: for reading what snapshots have
    /// committed (`snapshots`, `ls`, `key list`). A prune running meanwhile may remove what is
    /// being read, which is then an error, never a wrong answer (every read is verified).
    /// `body` is given nil for a set never backed up when `allowingNone`.
    public func read(allowingNone: Bool = false, _ body: (Repository?) async throws -> JobOutcome) async -> JobOutcome {
        do {
            let repository = allowingNone ? try await context.openRepository() : try await existingRepository()
            return try await body(repository)
        } catch {
            return failed(error)
        }
    }

    /// A failed outcome that names the job: `restore of backup set 'docs': ...`.
    public func failed(_ error: any Error) -> JobOutcome {
        JobOutcome(.failed, failure: Self.failure(of: command, set: context.set.name, error))
    }

    /// `restore of backup set 'docs': ...`, or `restore: backup set 'docs' ...` when the
    /// message names the set already (never "backup set 'docs': backup set 'docs'").
    public static func failure(of command: String, set: String, _ error: any Error) -> String {
        let message = "\(error)", named = "backup set '\(set)'"
        return message.hasPrefix(named) ? "\(command): \(message)" : "\(command) of \(named): \(message)"
    }

    /// The set's repository; a failure when the set was never backed up.
    public func existingRepository() async throws -> Repository {
        guard let repository = try await context.openRepository() else {
            throw SnapshotChoice.Failure.none("backup set '\(context.set.name)' has never been backed up (no repository at \(context.repositoryPath))")
        }
        if let source = context.source {
            // Media may hold another set's repository: say whose, rather than "no snapshots".
            let names = Set(try await repository.snapshots().map(\.snapshot.set))
            if !names.isEmpty, !names.contains(context.set.name) {
                let list = names.sorted().map { "'\($0)'" }.joined(separator: ", ")
                throw SnapshotChoice.Failure.none(
                    "the repository at \(source) holds the snapshots of backup set \(list), not '\(context.set.name)': name \(names.count == 1 ? "it" : "one of them")")
            }
        }
        return repository
    }
}

extension Repository {
    /// Runs `body` under a lease of `mode`, released when it returns or throws. The body runs
    /// where the caller runs, not on the repository actor.
    nonisolated(nonsending) public func withLease<Value>(_ mode: LockRecord.Mode, command: String, _ body: () async throws -> Value) async throws -> Value {
        let lease = try await lock(mode, command: command)
        do {
            let value = try await body()
            await lease.release()
            return value
        } catch {
            await lease.release()
            throw error
        }
    }
}
