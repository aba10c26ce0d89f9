/// Reads objects that a reader announced it will need, joining objects of one pack that lie
/// close together into one ranged read: on an object store every request is paid and slow, and
/// on a disk a restore of 12,000 small files made 12,000 reads.
///
/// The reader announces objects in the order it expects to use them (a restore: each folder's
/// files, as it reaches the folder). Runs of neighbours (the gap between two at most the
/// storage's `rangedReadOverhead`, a run at most `maximumRun` bytes: 4 MiB, on an object store
/// 16 MiB, a whole pack) are read when the first
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
    /// The longest run read at once.
    let maximumRun: Int

    private struct Member {
        var kind: ObjectKind
        var range: Range<Int>
    }

    private struct Run {
        var pack: ObjectID
        var span: Range<Int>
        var members: [ObjectID: Member] = [:]
        var task: Task<StorageBuffer, Error>?
        /// Whether an object was taken from its read: then someone waits for it.
        var claimed = false
    }

    private var runs: [Int: Run] = [:]
    private var runOf: [ObjectID: Int] = [:]
    /// The runs of each pack that later objects of the pack may join until they are read.
    private var openRuns: [ObjectID: [Int]] = [:]
    /// Runs are numbered in announce order; those below `nextToStart` were started or dropped.
    private var nextNumber = 0
    private var nextToStart = 0
    private var started: [Int] = []
    private var heldBytes = 0
    /// Reads made, and objects served from them (for tests and reports).
    public private(set) var reads = 0
    public private(set) var served = 0

    /// `budget` nil: 32 MiB, or 64 MiB on an object store (where runs are longer).
    public init(repository: Repository, budget: Int? = nil) {
        self.repository = repository
        let capabilities = repository.storage.capabilities
        gap = capabilities.rangedReadOverhead
        runsAhead = max(2, min(capabilities.concurrentRequests, 16))
        // Where a request costs about a megabyte's worth of time, whole packs are read at once.
        let remote = capabilities.rangedReadOverhead >= 1 << 20
        maximumRun = remote ? 17 << 20 : 4 << 20  // a pack of 16 MiB and its header
        self.budget = budget ?? (remote ? 64 << 20 : 32 << 20)
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
            // Joined to a run of the same pack whose read has not started, when it lies close
            // to it on either side: a folder's files are announced in name order, but were
            // stored in the order their reads finished, so neighbours in a pack come in any order.
            if join(id, location, range) { continue }
            var run = Run(pack: location.pack, span: range)
            run.members[id] = Member(kind: location.kind, range: range)
            runs[nextNumber] = run
            runOf[id] = nextNumber
            openRuns[location.pack, default: []].append(nextNumber)
            nextNumber += 1
        }
        // Runs of a pack that grew into each other's reach become one (the earlier in order).
        for pack in Set(locations.values.map(\.pack)) { coalesce(pack) }
    }

    private func coalesce(_ pack: ObjectID) {
        guard let open = openRuns[pack], open.count > 1 else { return }
        let ordered = open.compactMap { number in runs[number].map { (number, $0) } }.filter { $0.1.task == nil }
            .sorted { $0.1.span.lowerBound < $1.1.span.lowerBound }
        var kept: [Int] = []
        var current: (number: Int, run: Run)?
        for (number, run) in ordered {
            guard var joined = current else {
                current = (number, run)
                continue
            }
            let span = joined.run.span.lowerBound..<max(joined.run.span.upperBound, run.span.upperBound)
            if run.span.lowerBound - joined.run.span.upperBound <= gap, span.count <= maximumRun {
                // The earlier of the two in announce order keeps the run.
                let (into, from) = joined.number < number ? (joined.number, number) : (number, joined.number)
                joined.run.span = span
                joined.run.members.merge(run.members) { first, _ in first }
                joined.number = into
                for id in joined.run.members.keys { runOf[id] = into }
                runs[from] = nil
                runs[into] = joined.run
                current = joined
            } else {
                kept.append(joined.number)
                current = (number, run)
            }
        }
        if let current { kept.append(current.number) }
        openRuns[pack] = kept.sorted()
    }

    /// Adds the object to an unread run of its pack that it lies close to (the newest first);
    /// false when there is none.
    private func join(_ id: ObjectID, _ location: RepositoryIndex.Location, _ range: Range<Int>) -> Bool {
        guard var open = openRuns[location.pack] else { return false }
        open.removeAll { $0 < nextToStart || runs[$0]?.task != nil || runs[$0] == nil }
        openRuns[location.pack] = open.isEmpty ? nil : open
        for number in open.reversed() {
            guard var run = runs[number] else { continue }
            let span = min(run.span.lowerBound, range.lowerBound)..<max(run.span.upperBound, range.upperBound)
            let apart = max(range.lowerBound - run.span.upperBound, run.span.lowerBound - range.upperBound, 0)
            guard apart <= gap, span.count <= maximumRun else { continue }
            run.span = span
            run.members[id] = Member(kind: location.kind, range: range)
            runs[number] = run
            runOf[id] = number
            return true
        }
        return false
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
        run.claimed = true
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

    /// Gives up a run: its remaining objects will be loaded alone. A read no object was taken
    /// from yet is cancelled (its bytes would arrive outside the bound on held bytes).
    private func drop(_ number: Int) {
        guard let run = runs[number] else { return }
        if !run.claimed { run.task?.cancel() }
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
