import Foundation

/// One backup of one set: plan (scan against the last snapshot), then carry out that plan.
public struct BackupJob {
    public let context: SetContext
    public var repository: Repository?
    public var previous: SnapshotRecord?
    public var scan: ScannedDirectory
    public var plan: BackupPlan
    public var scanProblems: [Problem]
    public var started: Timestamp
    /// For a set never backed up: its repository's key, derived while the scan runs (its 64 MiB
    /// then add to the scan's first folders: a first backup of 80,000 small files peaks at 112
    /// MB instead of 106, and a first backup of a million files still peaks later, in the
    /// backup itself).
    var prepared: Repository.Prepared?
    /// For a plan no one sees before the run (`-q`, cron): its counts, made beside the backup
    /// (`plan.summary` has none meanwhile), for the job report. A plan shown, asked about,
    /// checked for changes or against a saved one is made whole first.
    var counting: Task<BackupPlan.Summary, any Error>?
    /// Optional sources the scan found absent.
    var absentSources: [FilePath] = []

    /// Why a set's run stops before it reads or stores anything.
    public enum Refusal: Error, CustomStringConvertible, Equatable {
        case sourceMissing(set: String, path: String, reason: String)
        case tooManyRemoved(set: String, removed: Int, of: Int, limit: Percentage)
        case repositoryGone(set: String, location: String, known: String)

        public var description: String {
            switch self {
            case .sourceMissing(_, let path, let reason):
                return
                    "the source \(path) \(reason): is its disk mounted? Nothing was saved or expired for this set. (A source that may be absent can be declared as {path: \(path), optional: true}.)"
            case .tooManyRemoved(_, let removed, let total, let limit):
                let share = total == 0 ? 0 : Double(removed) * 100 / Double(total)
                return
                    "this run would record \(removed) of the previous snapshot's \(total) files (\(String(format: "%.0f", share))%) as removed, more than max-removed \(limit): a source that suddenly looks empty is often a disk that is not mounted. Nothing was saved or expired. If the files are really gone, run once with --max-removed off (or raise max-removed in the config)."
            case .repositoryGone(_, let location, let known):
                return
                    "this set has backed up before (\(known)), but there is no repository at \(location) now: is the destination's disk mounted? Nothing was created. To start a new repository there on purpose, run with --new-repository."
            }
        }
    }

    /// Plans the backup of a set. Reads, never writes. `preparing`: a new repository's identity
    /// and first key are made now (so a key that cannot be read fails before anything runs);
    /// `cairn plan` leaves that out when the key is typed at a prompt, asking for it only to
    /// read a repository that exists. `estimating`: whether to estimate what the run will store
    /// (`UploadEstimator`), which reads samples of the files; a run whose plan no one sees
    /// leaves it out.
    public static func plan(
        _ context: SetContext, now: Date? = nil, preparing: Bool = true, estimating: Bool = true, countingLater: Bool = false
    ) async throws -> BackupJob {
        let now = now ?? context.run.now
        try context.checkSources()
        let repository = try await context.openRepository()
        if repository == nil, !context.newRepository, let known = context.knownRepository() {
            throw Refusal.repositoryGone(set: context.set.name, location: context.repositoryPath, known: known)
        }
        let records = try await repository?.snapshots() ?? []
        // Compared with this writer's latest snapshot (another config or host may share the
        // repository), or the set's latest when this writer has none.
        let group = context.group
        var previous =
            records.last { $0.snapshot.set == context.set.name && SnapshotGroup($0.snapshot) == group }
            ?? records.last { $0.snapshot.set == context.set.name }
        // A server that keeps this machine from reading stored data (restore-from) still takes
        // its backups: without this machine's cache of the previous snapshot's folders, every
        // file is read and compared by content, and only what the repository lacks is sent.
        if let repository, let root = previous?.snapshot.treeID {
            do {
                _ = try await repository.tree(root)
            } catch let error as StorageError where error.category == .permission {
                DamageWarnings.tell([
                    "backup set '\(context.set.name)': the previous snapshot's folders cannot be read here (\(error)); every file is read again and only what the repository lacks is uploaded"
                ])
                previous = nil
            }
        }
        // The scan reads the previous snapshot's trees: asked for now, read while it starts.
        if let repository, previous != nil { await repository.prefetchTrees() }
        // A new repository's key is derived while the scan runs: the scan reads nothing stored.
        let preparation = repository == nil && preparing ? try context.startPreparingRepository() : nil
        var scanner = Scanner(
            selection: try context.selection(), followSymlinks: context.set.followSymlinks, permissions: context.set.permissions,
            spillFolder: Scanner.spillFolder(environment: context.environment),
            previousTree: { id in
                guard let repository else { throw RepositoryError.missingObject("tree \(id.short)") }
                return try await repository.treeCursor(id)
            })
        scanner.optionalSources = Set(context.set.optionalSources.map { FilePath($0) })
        // (A scan that fails leaves the key's derivation to finish on its thread: it cannot be
        // stopped half-way, and takes a fifth of a second.)
        let root = try await scanner.scan(previousRoot: previous?.snapshot.treeID)
        let prepared = try await preparation?.value
        let makePlan = { @Sendable [previousID = previous?.id] (collecting: BackupPlan.Collecting) in
            try await BackupPlan(
                set: context.set.name, repository: context.repositoryPath, createsRepository: repository == nil,
                previousSnapshot: previousID, scan: root, delta: context.deltaPolicy(now: now),
                unusedRepositories: repository == nil ? context.unusedRepositories() : [],
                spillFolder: Scanner.spillFolder(environment: context.environment), collecting: collecting,
                tree: repository.map { repository in { try await repository.tree($0) } })
        }
        // A plan no one sees first is counted beside the backup: its walk (0.2 s of one core
        // for 80,000 new files) no longer holds the backup back.
        let countsLater = countingLater && !estimating
        var plan = try await makePlan(countsLater ? .nothing : .actions)
        let counting = countsLater ? Task { try await makePlan(.counts).summary } : nil
        // Stopped with the plan when what follows fails; the job cancels it when its run does.
        var handedOver = false
        defer { if !handedOver { counting?.cancel() } }
        if estimating {
            let estimator = UploadEstimator(
                repository: repository, compressor: Compressor(context.set.compression),
                delta: repository.map { (BlockHasher(key: $0.signatureKey), SignatureCache(repositoryID: $0.descriptor.id, run: context.run)) },
                policy: context.deltaPolicy(now: now))
            plan.summary.uploadEstimate = try await estimator.estimate(plan, root: root)
        }
        if let warning = scanner.spillWarning { plan.warnings.append(warning) }
        plan.warnings += scanner.absentSources.map { source in
            "optional source \(source) is absent: its entries are carried over from the previous snapshot, marked as not seen"
        }
        if let copy = context.set.localCopy, !copy.only, let path = context.localCopyPath {
            // The plan says what the copy lacks now; the run also copies what it stores.
            do {
                let storage = try context.localCopyStorage()
                if let repository {
                    let (missing, extra) = try await LocalCopy.difference(from: repository.storage, to: storage)
                    let behind = missing.isEmpty && extra.isEmpty
                        ? "up to date" : "\(missing.count) file\(missing.count == 1 ? "" : "s") (\(ByteCountText.format(UInt64(missing.reduce(0) { $0 + $1.size })))) behind, \(extra.count) to remove"
                    plan.localCopy = "local copy \(path): \(behind); brought up to date after the backup"
                } else {
                    plan.localCopy = "local copy \(path): made after the backup, a copy of the new repository"
                }
            } catch {
                plan.warnings.append("\(error); the backup goes on without the local copy, and the next run brings it up to date")
            }
        }
        let ofSet = records.filter { $0.snapshot.set == context.set.name }
        if let latest = ofSet.last { plan.noteWriters(group, records: ofSet, previous: latest.snapshot) }
        if let repository, let previous, let limit = context.maxRemoved {
            let total = previous.snapshot.statistics.files
            if total > Self.maxRemovedFloor {
                let allowed = Int((Double(total) * limit.value / 100).rounded(.down))
                let sources = try context.selection().sources
                let removed = try await Self.removedFiles(root, under: sources, repository: repository, stopAbove: allowed)
                if removed > allowed {
                    plan.refusal = Refusal.tooManyRemoved(set: context.set.name, removed: removed, of: total, limit: limit).description
                }
            }
        }
        if let retention = context.retention {
            plan.expirations = Self.expirations(
                records, retention.evaluation, now: now, group: context.group, protectOtherGroups: true,
                partial: false)
        }
        handedOver = true
        return BackupJob(
            context: context, repository: repository, previous: previous, scan: root, plan: plan, scanProblems: scanner.problems,
            started: Timestamp(now), prepared: prepared, counting: counting, absentSources: scanner.absentSources)
    }

    /// `max-removed` is checked once the previous snapshot holds more files than this.
    public static let maxRemovedFloor = 20

    /// The files the scan records as removed under the sources: removed files, and the files
    /// under removed folders (their trees are read). What a change of the sources leaves out is
    /// shown as such (`~ sources:`) and not counted. Counting stops once it is past `stopAbove`.
    static func removedFiles(_ root: ScannedDirectory, under sources: [FilePath], repository: Repository, stopAbove limit: Int) async throws -> Int {
        var count = 0
        var folders = [root]
        var trees: [ObjectID] = []
        while let folder = folders.popLast(), count <= limit {
            for entry in try folder.removed where sources.contains(where: { folder.path.appending(entry.name).isInside($0) }) {
                if entry.kind == .file { count += 1 } else if entry.kind == .directory, let subtree = entry.subtree { trees.append(subtree) }
            }
            // One node at a time (a large folder is not read whole).
            var children = try folder.nodes()
            while let child = try children.next() {
                if case .directory(let inner) = child, inner.unchangedTree == nil { folders.append(inner) }
            }
        }
        while let id = trees.popLast(), count <= limit {
            // A damaged tree is counted as nothing: verify and repair report it.
            guard let tree = try? await repository.tree(id) else { continue }
            for entry in tree.entries {
                if entry.kind == .file { count += 1 } else if entry.kind == .directory, let subtree = entry.subtree { trees.append(subtree) }
            }
        }
        return count
    }

    /// The snapshots the policy expires once a snapshot taken `now` exists (`partial`: this
    /// run's snapshot will be partial, so it pushes no complete one out).
    static func expirations(
        _ records: [SnapshotRecord], _ evaluation: RetentionEvaluation, now: Date, group: SnapshotGroup? = nil,
        protectOtherGroups: Bool = true, partial: Bool = false
    ) -> [BackupPlan.Expiration] {
        guard !records.isEmpty else { return [] }
        var candidates = records.map(RetentionCandidate.init)
        candidates.append(RetentionCandidate(id: "this run", time: now, isComplete: !partial, group: group?.key))
        let times = Dictionary(uniqueKeysWithValues: records.map { ($0.id.hex, $0.snapshot.start) })
        let verdicts = evaluation.evaluate(candidates, now: now, currentGroup: protectOtherGroups ? group?.key : nil)
        return verdicts.filter { !$0.keep }.compactMap { verdict in
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
        id: ObjectID? = nil, progress: ProgressSink? = nil, stop: StopRequest = StopRequest()
    ) async throws -> Result {
        let repository: Repository
        if let existing = self.repository {
            repository = existing
        } else {
            do {
                repository = try await context.createRepository(prepared: prepared)
            } catch RepositoryError.alreadyExists {
                // Another run created it since this one planned (two backups started at once):
                // open it and take the lease like any run, which says who holds it.
                guard let created = try await context.openRepository() else { throw RepositoryError.alreadyExists(context.repositoryPath) }
                repository = created
            }
        }
        self.repository = repository
        context.remember(repository)
        return try await repository.withLease(.writer, command: "cairn backup of \(context.set.name)") {
            // The index was read when planning, before the lease: a prune may have run since.
            try await repository.reloadIndexIfChanged()
            return try await store(in: repository, id: id, progress: progress, stop: stop)
        }
    }

    private func store(
        in repository: Repository, id snapshotID: ObjectID?, progress: ProgressSink?, stop: StopRequest
    ) async throws -> Result {
        var runner = BackupRunner(
            repository: repository, compression: context.set.compression, followSymlinks: context.set.followSymlinks, stop: stop)
        runner.progress = progress
        if let policy = context.deltaPolicy(now: Date(timeIntervalSince1970: TimeInterval(started.seconds))) {
            runner.delta = DeltaContext(
                policy: policy, repository: repository, cache: SignatureCache(repositoryID: repository.descriptor.id, run: context.run),
                stored: started)
        }
        let tree = try await runner.store(scan)
        try await repository.flush()
        var statistics = runner.statistics
        let problems = scanProblems + runner.problems
        statistics.problems = problems.count
        var snapshot = Snapshot(
            set: context.set.name, host: context.run.hostName, user: context.run.userName, start: started,
            end: Timestamp(context.run.now), status: runner.wasInterrupted ? .partial : problems.isEmpty ? .complete : .incomplete, tree: tree,
            parent: previous?.id, sources: context.set.sources.map(\.value), statistics: statistics)
        snapshot.absentSources = absentSources.isEmpty ? nil : absentSources.map(\.description)
        FaultInjection.reach("before-snapshot")
        // A run whose lease may be lost commits nothing: a prune that took the repository
        // meanwhile may have deleted data this snapshot would refer to.
        try await repository.confirmLeases()
        let id = try await repository.save(snapshot, id: snapshotID)
        return Result(snapshotID: id, snapshot: snapshot, problems: problems, deltaOutcomes: runner.deltaOutcomes)
    }
}
