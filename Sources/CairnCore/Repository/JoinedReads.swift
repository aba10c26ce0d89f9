/// Reads objects that a reader announced it will need, joining objects of one pack that lie
/// close together into one ranged read: on an object store every request is paid and slow, and
/// on a disk a restore of 12,000 small files made 12,000 reads.
///
/// The reader announces objects in the order it expects to use them (a restore: each folder's
/// files, as it reaches the folder). Runs of neighbours (the gap between two at most the
/// storage's `rangedReadOverhead`, a run at most `maximumRun` bytes) are read when the first
/// of their objects is asked for, with a few of the next runs read ahead, within a bound on
/// the reads in flight (from the storage's `concurrentRequests`) and on the bytes held. An
/// object that was not announced, whose run was given up to stay within the bound, or whose
/// joined read failed is loaded alone, as `Repository.load` does, so errors name what they
/// did before.
public actor JoinedReads {
    public nonisolated let repository: Repository
    /// Objects further apart than this are read separately.
    let gap: Int
    /// Runs held at once (read or being read, not yet used up), at most.
    let runsAhead: Int
    /// Bytes of runs read ahead and not yet handed out, at most (a run handed out lives on in
    /// the loads that slice it until they are done).
    let budget: Int
    static let maximumRun = 4 << 20

    private struct Member {
        var kind: ObjectKind
        var range: Range<Int>
    }

    private struct Run {
        var pack: ObjectID
        var span: Range<Int>
        var members: [ObjectID: Member] = [:]
        var task: Task<StorageBuffer, Error>?
    }

    private var runs: [Int: Run] = [:]
    private var runOf: [ObjectID: Int] = [:]
    /// Runs are numbered in announce order; those below `nextToStart` were started or dropped.
    private var nextNumber = 0
    private var nextToStart = 0
    private var started: [Int] = []
    private var heldBytes = 0
    /// Reads made, and objects served from them (for tests and reports).
    public private(set) var reads = 0
    public private(set) var served = 0

    public init(repository: Repository, budget: Int = 32 << 20) {
        self.repository = repository
        let capabilities = repository.storage.capabilities
        gap = capabilities.rangedReadOverhead
        runsAhead = max(2, min(capabilities.concurrentRequests, 16))
        self.budget = budget
    }

    /// Objects the reader will ask for, in about this order. Objects not in the index (damage)
    /// are left to be loaded alone, which reports them.
    public func announce(_ ids: [ObjectID]) async {
        let fresh = ids.filter { runOf[$0] == nil }
        guard !fresh.isEmpty else { return }
        let locations = await repository.locations(of: fresh)
        for id in fresh {
            guard runOf[id] == nil, let location = locations[id] else { continue }
            let range = location.offset..<location.offset + location.length
            // Joined to the last run when it follows it closely in the same pack, and that
            // run's read has not started.
            let last = nextNumber - 1
            if last >= nextToStart, var run = runs[last], run.pack == location.pack, range.lowerBound >= run.span.upperBound,
                range.lowerBound - run.span.upperBound <= gap, range.upperBound - run.span.lowerBound <= Self.maximumRun
            {
                run.span = run.span.lowerBound..<range.upperBound
                run.members[id] = Member(kind: location.kind, range: range)
                runs[last] = run
                runOf[id] = last
                continue
            }
            var run = Run(pack: location.pack, span: range)
            run.members[id] = Member(kind: location.kind, range: range)
            runs[nextNumber] = run
            runOf[id] = nextNumber
            nextNumber += 1
        }
    }

    /// Loads and verifies an object as `Repository.load` does; decrypting and hashing run on
    /// the caller's task.
    public nonisolated func load(_ kind: ObjectKind, _ id: ObjectID, hashChecked: Bool = true) async throws -> [UInt8] {
        guard let (task, range, key) = await claim(id, kind: kind) else {
            return try await repository.load(kind, id, hashChecked: hashChecked)
        }
        guard let buffer = try? await task.value, range.upperBound <= buffer.count else {
            return try await repository.load(kind, id, hashChecked: hashChecked)
        }
        return try buffer.slice(range).withUnsafeBytes { try repository.open(kind, id: id, box: $0, where: key, hashChecked: hashChecked) }
    }

    /// The read holding `id` and where in it the object lies; starts that read and a few
    /// after it. Nil when the object is to be loaded alone.
    private func claim(_ id: ObjectID, kind: ObjectKind) -> (Task<StorageBuffer, Error>, Range<Int>, String)? {
        guard let number = runOf.removeValue(forKey: id), var run = runs[number], let member = run.members.removeValue(forKey: id) else {
            return nil
        }
        guard member.kind == kind else {
            // Loaded alone, which says what it is; the run no longer waits for it.
            if run.members.isEmpty { release(number) } else { runs[number] = run }
            return nil
        }
        if run.task == nil { start(through: number) }
        run = runs[number] ?? run
        guard let task = run.task else { return nil }
        run.members[id] = nil
        if run.members.isEmpty {
            release(number)
        } else {
            runs[number] = run
        }
        served += 1
        let offset = member.range.lowerBound - run.span.lowerBound
        return (task, offset..<offset + member.range.count, PackFormat.key(for: run.pack))
    }

    /// Starts the runs up to `number` (those before it were passed by: dropped) and reads
    /// ahead after it, within the bounds.
    private func start(through number: Int) {
        while nextToStart < number {
            if let run = runs[nextToStart], run.task == nil { drop(nextToStart) }
            nextToStart += 1
        }
        while nextToStart < nextNumber {
            guard let run = runs[nextToStart] else {
                nextToStart += 1
                continue
            }
            let needed = nextToStart == number
            if !needed, started.count >= runsAhead || heldBytes + run.span.count > budget { break }
            // The run asked for now is read even when the bounds are reached: the oldest held
            // runs are given up (their objects are then loaded alone).
            while needed, !started.isEmpty, started.count >= runsAhead || heldBytes + run.span.count > budget { drop(started[0]) }
            let storage = repository.storage, key = PackFormat.key(for: run.pack), span = run.span
            runs[nextToStart]?.task = Task { try await storage.read(key, range: span) }
            started.append(nextToStart)
            heldBytes += span.count
            reads += 1
            nextToStart += 1
        }
    }

    /// Forgets a run whose objects were all used.
    private func release(_ number: Int) {
        guard let run = runs.removeValue(forKey: number) else { return }
        if run.task != nil {
            heldBytes -= run.span.count
            started.removeAll { $0 == number }
        }
    }

    /// Gives up a run: its remaining objects will be loaded alone.
    private func drop(_ number: Int) {
        guard let run = runs[number] else { return }
        for id in run.members.keys where runOf[id] == number { runOf[id] = nil }
        release(number)
    }
}

extension Repository {
    /// Where each of `ids` is stored, for those the index knows.
    func locations(of ids: [ObjectID]) -> [ObjectID: RepositoryIndex.Location] {
        var result: [ObjectID: RepositoryIndex.Location] = [:]
        for id in ids {
            if let location = index.location(of: id) { result[id] = location }
        }
        return result
    }
}
