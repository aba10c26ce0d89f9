import Foundation

/// One backup of one set: plan (scan against the last snapshot), then carry out that plan.
public struct BackupJob {
    public let context: SetContext
    public var repository: Repository?
    public var previous: SnapshotRecord?
    public var scan: ScannedDirectory
    public var plan: BackupPlan
    public var scanProblems: [Problem]
    public let started: Timestamp
    /// For a set never backed up: its repository's key, derived before the scan, so the key
    /// derivation's memory and the scan's do not add up.
    var prepared: Repository.Prepared?

    /// Plans the backup of a set. Reads, never writes.
    public static func plan(_ context: SetContext, now: Date = Date()) async throws -> BackupJob {
        try context.requireBuiltFeatures()
        let repository = try await context.openRepository()
        let records = try await repository?.snapshots() ?? []
        let previous = records.last { $0.snapshot.set == context.set.name }
        let prepared = repository == nil ? try context.prepareRepository() : nil
        var scanner = Scanner(
            selection: try context.selection(), followSymlinks: context.set.followSymlinks, permissions: context.set.permissions,
            previousTree: { id in
                guard let repository else { throw RepositoryError.missingObject("tree \(id.short)") }
                return try await repository.tree(id)
            })
        let root = try await scanner.scan(previousRoot: previous?.snapshot.treeID)
        var plan = BackupPlan(
            set: context.set.name, repository: context.repositoryPath, createsRepository: repository == nil,
            previousSnapshot: previous?.id, scan: root, delta: context.deltaPolicy(now: now),
            unusedRepositories: repository == nil ? context.unusedRepositories() : [])
        if let retention = context.retention {
            plan.expirations = Self.expirations(records, retention.evaluation, now: now)
        }
        return BackupJob(
            context: context, repository: repository, previous: previous, scan: root, plan: plan, scanProblems: scanner.problems,
            started: Timestamp(now), prepared: prepared)
    }

    /// The snapshots the policy expires once a snapshot taken `now` exists.
    static func expirations(_ records: [SnapshotRecord], _ evaluation: RetentionEvaluation, now: Date) -> [BackupPlan.Expiration] {
        guard !records.isEmpty else { return [] }
        var candidates = records.map { RetentionCandidate(id: $0.id.hex, time: $0.snapshot.start.date, isComplete: $0.snapshot.status == .complete) }
        candidates.append(RetentionCandidate(id: "this run", time: now))
        let times = Dictionary(uniqueKeysWithValues: records.map { ($0.id.hex, $0.snapshot.start) })
        return evaluation.evaluate(candidates, now: now).filter { !$0.keep }.compactMap { verdict in
            times[verdict.id].map { BackupPlan.Expiration(snapshot: verdict.id, time: $0, reason: verdict.reason) }
        }
    }

    public struct Result: Sendable {
        public var snapshotID: ObjectID
        public var snapshot: Snapshot
        public var problems: [Problem]
        /// How each file with in-file delta was stored, and why.
        public var deltaOutcomes: [(path: FilePath, outcome: String)] = []
    }

    /// Carries out the plan: stores what changed and commits the snapshot.
    public mutating func execute(
        id: ObjectID? = nil, progress: ProgressSink? = nil, shouldStop: @escaping @Sendable () -> Bool = { false }
    ) async throws -> Result {
        let repository: Repository
        if let existing = self.repository {
            repository = existing
        } else {
            repository = try await context.createRepository(prepared: prepared)
        }
        self.repository = repository
        let lock = try await repository.lock(.writer, command: "cairn backup of \(context.set.name)")
        do {
            let result = try await store(in: repository, id: id, progress: progress, shouldStop: shouldStop)
            await lock.release()
            return result
        } catch {
            await lock.release()
            throw error
        }
    }

    private func store(
        in repository: Repository, id snapshotID: ObjectID?, progress: ProgressSink?, shouldStop: @escaping @Sendable () -> Bool
    ) async throws -> Result {
        var runner = BackupRunner(
            repository: repository, compression: context.set.compression, followSymlinks: context.set.followSymlinks, shouldStop: shouldStop)
        runner.progress = progress
        if let policy = context.deltaPolicy(now: Date(timeIntervalSince1970: TimeInterval(started.seconds))) {
            runner.delta = DeltaContext(
                policy: policy, repository: repository, cache: SignatureCache(repositoryID: repository.descriptor.id, environment: context.environment),
                stored: started)
        }
        let tree = try await runner.store(scan)
        try await repository.flush()
        var statistics = runner.statistics
        let problems = scanProblems + runner.problems
        statistics.problems = problems.count
        let snapshot = Snapshot(
            set: context.set.name, host: HostName.short, user: ProcessInfo.processInfo.userName, start: started,
            end: Timestamp(Date()), status: runner.wasInterrupted ? .partial : .complete, tree: tree, parent: previous?.id,
            sources: context.set.sources.map(\.value), statistics: statistics)
        FaultInjection.reach("before-snapshot")
        let id = try await repository.save(snapshot, id: snapshotID)
        return Result(snapshotID: id, snapshot: snapshot, problems: problems, deltaOutcomes: runner.deltaOutcomes)
    }
}
