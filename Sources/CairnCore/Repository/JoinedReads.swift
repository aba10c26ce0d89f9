/// Reads objects that a reader announced it will need, joining objects of one pack that lie
/// close together into one ranged read: on an object store every request is paid and slow, and
/// on a disk a restore of 12,000 small files made 12,000 reads.
///
/// The reader announces objects in the order it expects to use them (a restore: each folder's
/// files, as it reaches the folder). Runs of neighbours (the gap between two at most the
/// storage's `rangedReadOverhead`, a run at most `maximumRun` bytes: 4 MiB, on an object store
/// a whole pack) are read when the first
/// of their objects is asked for, with a few of the next runs read ahead, within a bound on
/// the reads in flight (from the storage's `concurrentRequests`) and on the bytes held. On an
/// object store, the objects still waiting in a run given up to stay within the bound are kept
/// in a scratch file on this machine (`ScratchFile`, at most `scratchLimit` bytes waiting)
/// rather than read again one request each. An object that was not announced, whose run was
/// given up without a scratch file, or whose joined read failed is loaded alone, as
/// `Repository.load` does, so errors name what they did before.
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
        /// Times the object was announced and not yet taken (a file, or files, can hold the
        /// same object more than once).
        var wanted = 1
    }

    private struct Run {
        var pack: ObjectID
        var span: Range<Int>
        var members: [ObjectID: Member] = [:]
        var task: Task<StorageBuffer, Error>?
        /// Whether an object was taken from its read: then someone waits for it.
        var claimed = false
    }

    /// An object of a given-up run, kept in the scratch file once `written` says so.
    private struct Kept {
        var kind: ObjectKind
        var pack: ObjectID
        var offset: Int
        var count: Int
        var written: Task<Bool, Never>
        var wanted: Int
        /// Loads reading it now: its space is handed back once no one wants or reads it.
        var readers = 0
    }

    /// Where a claimed object comes from.
    private enum Source {
        case run(Task<StorageBuffer, Error>, Range<Int>, key: String)
        /// `last`: no one else will take the object from the scratch file.
        case scratch(Kept, key: String)
    }

    private var runs: [Int: Run] = [:]
    private let scratch: ScratchFile?
    private var kept: [ObjectID: Kept] = [:]
    private var scratchEnd = 0
    /// Bytes in the scratch file waiting to be used.
    private var scratchWaiting = 0
    /// Whether used space is handed back (a file system that cannot punch holes keeps it all).
    private var punching = true
    /// Bytes of given-up runs read and not yet in the scratch file: held, as read runs are.
    private var landing = 0
    /// Bytes waiting in the scratch file, at most: past it, objects are loaded alone again.
    static let scratchLimit = 4 << 30
    private var runOf: [ObjectID: Int] = [:]
    /// The runs of each pack that later objects of the pack may join until they are read.
    private var openRuns: [ObjectID: [Int]] = [:]
    /// Runs are numbered in announce order; reading ahead goes on from `nextToStart` (those
    /// below it were started, or passed by and wait until they are asked for).
    private var nextNumber = 0
    private var nextToStart = 0
    private var started: [Int] = []
    private var heldBytes = 0
    /// Reads made, and objects served from them (for tests and reports).
    public private(set) var reads = 0
    public private(set) var served = 0
    /// Objects served from the scratch file (for tests).
    public private(set) var servedKept = 0

    /// `budget` nil: 32 MiB, or 64 MiB on an object store (where runs are longer).
    /// `scratchFolder`: where the objects of given-up runs wait (by default, on an object store,
    /// the repository's cache folder on this machine; nil: nowhere, they are read again).
    public init(repository: Repository, budget: Int? = nil, scratchFolder: String?? = .none) {
        self.repository = repository
        let capabilities = repository.storage.capabilities
        gap = capabilities.rangedReadOverhead
        runsAhead = max(2, min(capabilities.concurrentRequests, 16))
        // Where a request costs about a megabyte's worth of time, whole packs are read at once.
        let remote = capabilities.rangedReadOverhead >= 1 << 20
        // On an object store, a whole pack: 16 MiB, its last object (up to a chunk's 8 MiB,
        // grown a little by a box that could not compress it) and its header.
        maximumRun = remote ? (16 << 20) + Chunker.maximumSize + (1 << 20) : 4 << 20
        self.budget = budget ?? (remote ? 64 << 20 : 32 << 20)
        let folder = scratchFolder ?? (remote ? repository.cache?.scratchFolder : nil)
        scratch = folder.flatMap { try? ScratchFile(in: $0) }
    }

    /// Objects the reader will ask for, in about this order. Objects not in the index (damage)
    /// are left to be loaded alone, which reports them.
    public func announce(_ ids: [ObjectID]) async {
        let fresh = ids.filter { !wantAgain($0) }
        guard !fresh.isEmpty else { return }
        let locations = await repository.locations(of: Array(Set(fresh)))
        for id in fresh {
            guard !wantAgain(id), let location = locations[id] else { continue }
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

    /// Counts one more use of an object already waiting in a run or the scratch file.
    private func wantAgain(_ id: ObjectID) -> Bool {
        if let number = runOf[id], runs[number]?.members[id] != nil {
            runs[number]?.members[id]?.wanted += 1
            return true
        }
        if kept[id] != nil {
            kept[id]?.wanted += 1
            return true
        }
        return false
    }

    private func coalesce(_ pack: ObjectID) {
        guard let open = openRuns[pack], open.count > 1 else { return }
        let ordered = open.compactMap { number in runs[number].map { (number, $0) } }.filter { $0.1.task == nil && $0.0 >= nextToStart }
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
            guard let current = runs[number]?.span else { continue }
            let span = min(current.lowerBound, range.lowerBound)..<max(current.upperBound, range.upperBound)
            let apart = max(range.lowerBound - current.upperBound, current.lowerBound - range.upperBound, 0)
            guard apart <= gap, span.count <= maximumRun else { continue }
            // Changed in place: a copy of the run would copy its members, once per object.
            runs[number]?.span = span
            runs[number]?.members[id] = Member(kind: location.kind, range: range)
            runOf[id] = number
            return true
        }
        return false
    }

    /// Loads and verifies an object as `Repository.load` does; decrypting and hashing run on
    /// the caller's task.
    public nonisolated func load(_ kind: ObjectKind, _ id: ObjectID, hashChecked: Bool = true) async throws -> [UInt8] {
        switch await claim(id, kind: kind) {
        case nil:
            return try await repository.load(kind, id, hashChecked: hashChecked)
        case .run(let task, let range, let key):
            guard let buffer = try? await task.value, range.upperBound <= buffer.count else {
                return try await repository.load(kind, id, hashChecked: hashChecked)
            }
            return try buffer.slice(range).withUnsafeBytes { try repository.open(kind, id: id, box: $0, where: key, hashChecked: hashChecked) }
        case .scratch(let object, let key):
            // Damage in the scratch file costs a read of the object from the storage, which
            // is checked again (and reports damage there as a lone load does).
            let bytes = await object.written.value ? scratch?.read(object.count, at: object.offset) : nil
            await doneReading(id)
            if let bytes, let value = try? bytes.withUnsafeBytes({ try repository.open(kind, id: id, box: $0, where: key, hashChecked: hashChecked) }) {
                return value
            }
            return try await repository.load(kind, id, hashChecked: hashChecked)
        }
    }

    /// The read holding `id` and where in it the object lies; starts that read and a few
    /// after it. Nil when the object is to be loaded alone.
    private func claim(_ id: ObjectID, kind: ObjectKind) -> Source? {
        if var object = kept[id] {
            // Not of the kind asked for (loaded alone, which says what it is), or taken more
            // often than announced: loaded alone.
            guard object.kind == kind, object.wanted > 0 else { return nil }
            object.wanted -= 1
            object.readers += 1
            kept[id] = object
            served += 1
            servedKept += 1
            return .scratch(object, key: PackFormat.key(for: object.pack))
        }
        // The run is changed in place: a copy would copy its members, once per object taken.
        guard let number = runOf[id], let member = runs[number]?.members[id] else {
            runOf[id] = nil
            return nil
        }
        guard member.kind == kind else {
            // Loaded alone, which says what it is; the run no longer waits for it.
            runOf[id] = nil
            runs[number]?.members[id] = nil
            if runs[number]?.members.isEmpty == true { release(number) }
            return nil
        }
        if runs[number]?.task == nil { start(through: number) }
        guard let task = runs[number]?.task, let pack = runs[number]?.pack, let span = runs[number]?.span else {
            // Given up to make room (loaded alone, as any later use of it).
            return nil
        }
        if member.wanted > 1 {
            runs[number]?.members[id]?.wanted -= 1
        } else {
            runs[number]?.members[id] = nil
            runOf[id] = nil
        }
        runs[number]?.claimed = true
        if runs[number]?.members.isEmpty == true { release(number) }
        served += 1
        let offset = member.range.lowerBound - span.lowerBound
        return .run(task, offset..<offset + member.range.count, key: PackFormat.key(for: pack))
    }

    /// Starts run `number`, even past the bounds (the oldest held runs are given up), and
    /// reads ahead the runs after it within the bounds. Runs before it that were passed by
    /// (several files are written at once) wait until they are asked for.
    private func start(through number: Int) {
        if let run = runs[number], run.task == nil {
            while !started.isEmpty, started.count >= runsAhead || heldBytes + landing + run.span.count > budget { drop(started[0]) }
            begin(number, run)
        }
        nextToStart = max(nextToStart, number + 1)
        while nextToStart < nextNumber {
            guard let run = runs[nextToStart], run.task == nil else {
                nextToStart += 1
                continue
            }
            guard started.count < runsAhead, heldBytes + landing + run.span.count <= budget else { break }
            begin(nextToStart, run)
            nextToStart += 1
        }
    }

    private func begin(_ number: Int, _ run: Run) {
        let storage = repository.storage, key = PackFormat.key(for: run.pack), span = run.span
        runs[number]?.task = Task { try await storage.read(key, range: span) }
        started.append(number)
        heldBytes += span.count
        reads += 1
    }

    /// Forgets a run whose objects were all used.
    private func release(_ number: Int) {
        guard let run = runs.removeValue(forKey: number) else { return }
        if run.task != nil {
            heldBytes -= run.span.count
            started.removeAll { $0 == number }
        }
    }

    /// Gives up a run: its remaining objects are kept in the scratch file once its read is in,
    /// or, without room there, will be loaded alone. A read no object was taken from and none
    /// is kept from is cancelled (its bytes would arrive outside the bound on held bytes).
    private func drop(_ number: Int) {
        guard let run = runs[number] else { return }
        let waiting = run.members.filter { runOf[$0.key] == number }
        if !keep(waiting, of: run), !run.claimed { run.task?.cancel() }
        for id in waiting.keys { runOf[id] = nil }
        release(number)
    }

    /// A load finished reading `id` from the scratch file.
    private func doneReading(_ id: ObjectID) {
        guard var object = kept[id] else { return }
        object.readers -= 1
        kept[id] = object
        discardIfUnwanted(id)
    }

    /// Hands back the scratch space of an object no one wants or reads any more.
    private func discardIfUnwanted(_ id: ObjectID) {
        guard let object = kept[id], object.wanted <= 0, object.readers <= 0 else { return }
        kept[id] = nil
        scratchWaiting -= object.count
        if punching, let scratch, !scratch.discard(object.count, at: object.offset) { punching = false }
    }

    /// Objects announced that will not be asked for after all (a file found identical, a hard
    /// link made by linking, a file that failed): their runs and scratch space no longer wait.
    public func forget(_ ids: [ObjectID]) {
        for id in ids {
            if let number = runOf[id], let wanted = runs[number]?.members[id]?.wanted {
                // Changed in place (a copy of the run would copy its members).
                if wanted > 1 {
                    runs[number]?.members[id]?.wanted -= 1
                    continue
                }
                runs[number]?.members[id] = nil
                runOf[id] = nil
                guard let run = runs[number], run.members.isEmpty else { continue }
                // Nothing left to take from it: a read no one took from is not needed.
                if !run.claimed { run.task?.cancel() }
                if run.task == nil { runs[number] = nil } else { release(number) }
            } else if var object = kept[id], object.wanted > 0 {
                object.wanted -= 1
                kept[id] = object
                discardIfUnwanted(id)
            }
        }
    }

    /// Waits until the objects given up so far are in the scratch file (for tests).
    func keptWritten() async {
        for task in Set(kept.values.map(\.written)) { _ = await task.value }
    }

    /// Overwrites the scratch file's bytes (for tests); false without one.
    func damageScratch() -> Bool {
        guard let scratch, scratchEnd > 0 else { return false }
        let garbage = [UInt8](repeating: 0x5A, count: scratchEnd)
        return garbage.withUnsafeBytes { scratch.write($0, at: 0) } == 0
    }

    private func landed(_ bytes: Int) {
        landing -= bytes
    }

    /// Scratch space is given out in blocks of this size.
    static let block = 4096
    /// Free space the scratch file always leaves on its file system.
    static let scratchMargin = 1 << 30

    /// Writes the objects waiting in a started run to the scratch file as soon as its read is
    /// in; false when there is no scratch file, the read was not started, or no room is left.
    private func keep(_ waiting: [ObjectID: Member], of run: Run) -> Bool {
        guard let scratch, let task = run.task, !waiting.isEmpty else { return false }
        // Each object starts a block of its own, so the space of each is handed back whole.
        let total = waiting.values.reduce(0) { $0 + ($1.range.count + Self.block - 1) / Self.block * Self.block }
        // Within the bound on bytes waiting (on everything written, where space cannot be handed
        // back), leaving the file system a margin.
        guard (punching ? scratchWaiting : scratchEnd) + total <= Self.scratchLimit,
            let free = scratch.availableBytes(), free >= total + Self.scratchMargin
        else { return false }
        var places: [(range: Range<Int>, offset: Int)] = []
        var objects: [(ObjectID, Member, Int)] = []
        for (id, member) in waiting {
            places.append((member.range.lowerBound - run.span.lowerBound..<member.range.upperBound - run.span.lowerBound, scratchEnd))
            objects.append((id, member, scratchEnd))
            scratchEnd += (member.range.count + Self.block - 1) / Self.block * Self.block
        }
        scratchWaiting += objects.reduce(0) { $0 + $1.1.range.count }
        // The run's bytes stay held until they are in the scratch file.
        let held = run.span.count
        landing += held
        let written = Task {
            let buffer = try? await task.value
            let done = buffer.map { buffer in
                places.allSatisfy { place in
                    place.range.upperBound <= buffer.count && buffer.slice(place.range).withUnsafeBytes { scratch.write($0, at: place.offset) } == 0
                }
            }
            await self.landed(held)
            return done ?? false
        }
        for (id, member, offset) in objects {
            kept[id] = Kept(kind: member.kind, pack: run.pack, offset: offset, count: member.range.count, written: written, wanted: member.wanted)
        }
        return true
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
