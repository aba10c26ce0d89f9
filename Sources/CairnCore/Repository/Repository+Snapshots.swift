import Foundation

/// Saving and reading snapshots and trees.
extension Repository {
    public func save(_ snapshot: Snapshot, id: ObjectID? = nil) async throws -> ObjectID {
        try await saveFile(.snapshot, in: "snapshots", try snapshot.encoded(), id: id)
    }

    public func snapshot(_ id: ObjectID) async throws -> Snapshot {
        try Snapshot.decode(try await loadFile(.snapshot, in: "snapshots", id: id), what: "snapshot \(id.short)")
    }

    /// Every snapshot that can be read, oldest first (by start time, then id). One that cannot
    /// be read (damaged) is left out and kept in `damagedSnapshots` with why, so the others
    /// still list, restore and prune; storage failures still throw.
    public func snapshots() async throws -> [SnapshotRecord] {
        var records: [SnapshotRecord] = []
        var damaged: [(id: ObjectID, reason: String)] = []
        let ids = try await fileIDs(in: "snapshots")
        cache?.retain(folder: "snapshots", keys: Set(ids.map { "snapshots/\($0.hex)" }))
        for id in ids {
            do {
                records.append(SnapshotRecord(id: id, snapshot: try await snapshot(id)))
            } catch StorageError.notFound {
                continue  // expired by a prune since it was listed
            } catch let error as StorageError where !error.isDamage {
                throw error
            } catch {
                damaged.append((id, Self.reason(error)))
            }
        }
        // A snapshot that a retagged copy replaces (its removal was cut short) is not listed.
        let replaced = Set(records.compactMap(\.snapshot.supersedes))
        supersededSnapshots = records.filter { replaced.contains($0.id.hex) }.map(\.id)
        records.removeAll { replaced.contains($0.id.hex) }
        damagedSnapshots = damaged
        DamageWarnings.tell(damaged.map { "snapshot \($0.id.short) is damaged (\($0.reason)): left out; the other snapshots are read as usual, 'cairn repair SET --apply --remove-damaged' sets it aside" })
        return records.sorted { ($0.snapshot.start, $0.id) < ($1.snapshot.start, $1.id) }
    }

    /// Gives the snapshot other tags: a new snapshot file with them (a new id) that
    /// supersedes it, then the old file removed. The caller holds a writer lease.
    public func retag(_ record: SnapshotRecord, tags: [String]) async throws -> SnapshotRecord {
        // What an interrupted retag left goes first: once its replacement is itself replaced,
        // nothing would name it as superseded any more, and it would be listed again.
        if !supersededSnapshots.isEmpty {
            try await confirmLeases()
            try await storage.delete(supersededSnapshots.map { "snapshots/\($0.hex)" })
            supersededSnapshots = []
        }
        var snapshot = record.snapshot
        snapshot.tags = tags.isEmpty ? nil : tags
        snapshot.supersedes = record.id.hex
        let id = try await save(snapshot)
        FaultInjection.reach("tag-written")
        try await confirmLeases()
        try await storage.delete("snapshots/\(record.id.hex)")
        return SnapshotRecord(id: id, snapshot: snapshot)
    }

    public func store(_ tree: Tree) async throws -> Stored {
        try await store(.tree, tree.encoded(contentHashPrefix: contentHashPrefix))
    }

    /// Starts reading the stored trees into the system's cache in the background, when they
    /// take no more than `budget` bytes of packs (a backup compares the sources with the
    /// previous snapshot's trees, read one small range at a time). Only where the storage can
    /// (a local folder: its packs are written past the cache). A repository with more trees
    /// than that gets none ahead: which of them the scan will need cannot be told apart (packs
    /// come in the index's order, not by age), and reading others would only compete with it.
    /// The ranges are gathered here (a pass over the index's table, a few milliseconds a
    /// million objects); the reads are asked for on a background thread. Returns the bytes
    /// asked for.
    @discardableResult
    public func prefetchTrees(budget: Int = Repository.treeCacheBudget) -> Int {
        let ranges = index.ranges(of: .tree)
        let total = ranges.reduce(0) { sum, pack in pack.ranges.reduce(sum) { $0 + $1.count } }
        guard total > 0, total <= budget else { return 0 }
        let storage = self.storage
        let asked = ranges.map { (key: PackFormat.key(for: $0.pack), ranges: $0.ranges) }
        BlockingIO.start {
            for (key, ranges) in asked { storage.prefetch(key, ranges: ranges) }
        }
        return total
    }

    /// The bytes of trees a run asks the storage to read into the system's cache, at most: ahead
    /// of a backup's scan (`prefetchTrees`), and back after its packs are stored
    /// (`PackWriter.keepTreesCached`).
    public static let treeCacheBudget = 64 << 20

    /// A tree's entries, to read one at a time (`Tree.Cursor`).
    public func treeCursor(_ id: ObjectID) async throws -> Tree.Cursor {
        try Tree.Cursor(try await load(.tree, id), what: "tree \(id.short)", contentHashPrefix: contentHashPrefix)
    }

    /// Stores a tree built entry by entry (`Tree.Builder`).
    func store(_ tree: consuming Tree.Builder) async throws -> Stored {
        try await store(.tree, try tree.finish())
    }

    public func tree(_ id: ObjectID) async throws -> Tree {
        try Tree.decode(try await load(.tree, id), what: "tree \(id.short)", contentHashPrefix: contentHashPrefix)
    }
}

extension RetentionCandidate {
    public init(_ record: SnapshotRecord) {
        self.init(
            id: record.id.hex, time: record.snapshot.start.date, isComplete: record.snapshot.status.isFinished,
            group: SnapshotGroup(record.snapshot).key, groupText: SnapshotGroup(record.snapshot).text, tags: record.snapshot.tags ?? [])
    }
}
