import Foundation

/// Prune: expire the snapshots a retention policy does not keep, then delete the data only they
/// used and repack packs that became mostly empty.
///
/// Safe against interruption at any point, in two phases: first everything new is written
/// (repacked packs, then index files listing every pack that stays), then things are deleted
/// (the old index files, then the packs no index lists). A pack is deleted only when no index
/// file names it and no kept snapshot uses an object that exists only there, so an interrupted
/// prune leaves at most garbage that the next prune removes. Expired snapshots go first:
/// what they alone used is garbage from then on.
extension Repository {
    public struct PruneResult: Sendable {
        public var verdicts: [(record: SnapshotRecord, verdict: RetentionVerdict)] = []
        public var expired: [SnapshotRecord] { verdicts.filter { !$0.verdict.keep }.map(\.record) }
        public var packsDeleted = 0
        public var packsRepacked = 0
        public var packsWritten = 0
        public var objectsRemoved = 0
        /// Bytes of packs deleted, less the bytes of the packs written instead.
        public var bytesFreed: Int64 = 0
        /// Objects that could not be read while repacking: their packs stay.
        public var damaged: [String] = []

        /// For people: each expired snapshot with its reason, and what was deleted.
        public func lines(policy: String, dryRun: Bool, times: TimeText = .utc) -> [String] {
            var lines = verdicts.filter { !$0.verdict.keep }.map { record, verdict in
                "\(dryRun ? "would expire" : "expired") snapshot \(record.id.short) of \(times(record.snapshot.start)): \(verdict.reasons.joined(separator: "; "))"
            }
            // What is kept only because another writer made it is said, so it is no surprise.
            for (record, verdict) in verdicts where verdict.keep {
                for reason in verdict.reasons where reason.hasPrefix("newest complete snapshot of a writer") {
                    lines.append("kept snapshot \(record.id.short) of \(times(record.snapshot.start)): \(reason)")
                }
            }
            lines += damaged.map { "damaged: \($0)" }
            let freed = ByteCountText.format(UInt64(max(0, bytesFreed)))
            lines.append(
                "prune (\(policy)): \(expired.count) of \(verdicts.count) snapshots \(dryRun ? "would expire" : "expired"); "
                    + "\(packsDeleted) packs \(dryRun ? "would be " : "")deleted, \(packsRepacked) repacked; \(freed) \(dryRun ? "would be " : "")freed")
            return lines
        }
    }

    /// More index files than this (each backup adds one) are merged by the next prune, even
    /// when it deletes nothing.
    static let indexFilesBeforeMerging = 16

    /// A pack whose live objects fill less than this share of it is rewritten.
    static let repackBelow = 0.5

    /// Applies `evaluation` to the repository's snapshots at `now`. The caller holds the
    /// exclusive lock. With `dryRun`, nothing is written or deleted: the result says what would be.
    ///
    /// With `currentGroup` (the set, host and sources the config backs up), the newest complete
    /// snapshot of every other group is kept: another config's or another host's writes, or
    /// the set's sources before they changed, are never expired by this config's policy.
    ///
    /// With `planned`, the expirations a plan listed are carried out, and nothing else:
    /// retention was evaluated once, when the plan was made.
    ///
    /// With `forget` (snapshot ids, `cairn forget`), exactly those snapshots expire and the
    /// policy is not asked.
    public func prune(
        _ evaluation: RetentionEvaluation, now: Date, dryRun: Bool, currentGroup: SnapshotGroup? = nil, planned: [PlannedExpiration]? = nil,
        forget: Set<String>? = nil, progress makeProgress: ((_ packs: Int, _ bytes: UInt64) -> (any ProgressSink)?)? = nil
    ) async throws -> PruneResult {
        var result = PruneResult()
        // Opened before its lease was taken: a backup may have ended meanwhile, its snapshot
        // listed below and its packs in index files not yet read.
        try await reloadIndexIfChanged()
        let records = try await snapshots()
        // What a damaged snapshot uses cannot be marked: deleting anything now could delete
        // the data of a snapshot that is readable again once repaired.
        if let damaged = damagedSnapshots.first {
            throw RepositoryError.damaged(
                "snapshot \(damaged.id.short) cannot be read (\(damaged.reason)), so prune cannot tell what it uses and deletes nothing; set it aside with 'cairn repair SET --apply --remove-damaged' first")
        }
        let candidates = records.map(RetentionCandidate.init)
        var verdicts = Dictionary(uniqueKeysWithValues: evaluation.evaluate(candidates, now: now, currentGroup: currentGroup?.key).map { ($0.id, $0) })
        if let forget {
            for candidate in candidates {
                verdicts[candidate.id] =
                    forget.contains(candidate.id)
                    ? RetentionVerdict(id: candidate.id, time: candidate.time, keep: false, reasons: ["forgotten by cairn forget"])
                    : RetentionVerdict(id: candidate.id, time: candidate.time, keep: true, reasons: ["not named"])
            }
        } else if let planned {
            let listed = Dictionary(planned.map { ($0.snapshot, $0.reason) }, uniquingKeysWith: { first, _ in first })
            for (id, verdict) in verdicts {
                // What is always kept stays kept, even if an older plan listed it.
                let always = verdict.keep && verdict.reasons.contains { $0.hasPrefix("latest") || $0.hasPrefix("newest complete snapshot") }
                if let reason = listed[id], !always {
                    let text = reason.hasPrefix("expired: ") ? String(reason.dropFirst("expired: ".count)) : reason
                    verdicts[id] = RetentionVerdict(id: id, time: verdict.time, keep: false, reasons: [text])
                } else {
                    verdicts[id] = RetentionVerdict(id: id, time: verdict.time, keep: true, reasons: verdict.keep ? verdict.reasons : ["not in the plan's expirations"])
                }
            }
        }
        result.verdicts = records.map { ($0, verdicts[$0.id.hex]!) }
        let kept = result.verdicts.filter(\.verdict.keep).map(\.record)

        // What the kept snapshots use: their trees, their files' data, and their signatures.
        var used: Set<ObjectID> = []
        for record in kept {
            guard let root = record.snapshot.treeID else { continue }
            try await mark(root, used: &used)
        }

        // Packs: all dead, mostly dead (repacked), or kept as they are.
        let byPack = try index.entriesByPack()
        var deletions: [ObjectID] = []
        var repacks: [(pack: ObjectID, live: [PackEntry])] = []
        var stays: [(id: ObjectID, entries: [PackEntry])] = []
        // The packs' sizes from one listing, not a request per pack.
        var sizes: [String: Int] = [:]
        for item in try await storage.listAll(prefix: "data/") { sizes[item.key] = item.size }
        for pack in index.allPacks {
            let entries = byPack[pack] ?? []
            let live = entries.filter { used.contains($0.id) }
            let size = sizes[PackFormat.key(for: pack)] ?? 0
            let liveBytes = live.reduce(0) { $0 + $1.length }
            if live.isEmpty {
                deletions.append(pack)
                result.objectsRemoved += entries.count
                result.bytesFreed += Int64(size)
            } else if Double(liveBytes) < Double(size) * Self.repackBelow {
                repacks.append((pack, live))
                result.objectsRemoved += entries.count - live.count
                result.bytesFreed += Int64(size - liveBytes)
            } else {
                stays.append((pack, entries))
            }
        }
        result.packsDeleted = deletions.count
        result.packsRepacked = repacks.count
        if dryRun { return result }
        // Trees no kept snapshot uses leave this machine's cache.
        cache?.retain(folder: "trees") { name in ObjectID(hex: name).map(used.contains) ?? false }

        // Files that runs killed while writing left under temporary names (a pack is written
        // as it fills): no one writes while the exclusive lock is held.
        // A prune whose lease may be lost deletes nothing: a backup may have started meanwhile.
        try await confirmLeases()
        for prefix in ["data/", "index/", "snapshots/"] { _ = try await storage.removeAbandonedUploads(prefix: prefix) }
        // Expired snapshots go first: from here on, what only they used is garbage.
        try await storage.delete((result.expired.map(\.id) + supersededSnapshots).map { "snapshots/\($0.hex)" })
        FaultInjection.reach("prune-snapshots-deleted")
        // No pack to delete or rewrite, and an index that lists every pack in good files: the
        // index stays as it is (on an object store, each rewrite is requests and bytes).
        if deletions.isEmpty && repacks.isEmpty && writer.unindexedPacks.isEmpty && damagedIndexFiles.isEmpty
            && indexFileCount <= Self.indexFilesBeforeMerging
        {
            return result
        }

        // Phase 1: write. Live objects of mostly-dead packs move into new packs, copied sealed
        // as they are, each opened first so damage is not carried along.
        var builder = PackBuilder()
        var written: [(id: ObjectID, entries: [PackEntry])] = []
        var moved: [ObjectID] = []
        let progress = repacks.isEmpty ? nil : makeProgress?(repacks.count, repacks.reduce(0) { $0 + UInt64(sizes[PackFormat.key(for: $1.pack)] ?? 0) })
        for (pack, live) in repacks {
            let key = PackFormat.key(for: pack)
            let bytes = try await storage.get(key)
            progress?.read(UInt64(bytes.count))
            defer { progress?.finish(.root) }
            var boxes: [(PackEntry, [UInt8])] = []
            for entry in live {
                guard entry.offset + entry.length <= bytes.count,
                    (try? open(entry.kind, id: entry.id, box: Array(bytes[entry.offset..<entry.offset + entry.length]), where: key)) != nil
                else { break }
                boxes.append((entry, Array(bytes[entry.offset..<entry.offset + entry.length])))
            }
            guard boxes.count == live.count else {
                // Damage: the pack stays whole, for verify to report and for what can still be read.
                result.damaged.append("\(key) has an object that cannot be read; it was left as it is")
                stays.append((pack, byPack[pack] ?? []))
                continue
            }
            for (entry, box) in boxes {
                try await builder.append(entry.kind, id: entry.id, box: box, to: storage)
                if builder.isFull { try await finishPack(&builder, into: &written, result: &result) }
            }
            moved.append(pack)
        }
        try await finishPack(&builder, into: &written, result: &result)
        result.packsWritten = written.count
        result.packsRepacked = moved.count

        // Index files that list every pack that stays, then the old ones go.
        let oldIndexes = try await storage.listAll(prefix: "index/")
        let remaining = stays + written
        for start in stride(from: 0, to: remaining.count, by: 1000) {
            try await writer.writeIndexFile(listing: Array(remaining[start..<min(start + 1000, remaining.count)]))
        }
        FaultInjection.reach("prune-index-written")

        // Phase 2: delete. Old index files first, so no index names a pack being deleted.
        try await confirmLeases()
        try await storage.delete(oldIndexes.map(\.key))
        // The index files there now are those just written (`reloadIndexIfChanged`).
        loadedIndexFiles.subtract(oldIndexes.map(\.key))
        writer.forgetIndexFiles(oldIndexes.map(\.key))
        // Packs go only once no old index file names them: checked, not assumed.
        let left = Set(try await storage.listAll(prefix: "index/").map(\.key)).intersection(oldIndexes.map(\.key))
        if let still = left.sorted().first {
            throw RepositoryError.damaged(
                "prune removed the old index files, but \(still) is still there (\(left.count) in all): no pack is deleted; the storage did not remove what it said it removed")
        }
        FaultInjection.reach("prune-indexes-deleted")
        let packs = (deletions + moved).map { PackFormat.key(for: $0) }
        for start in stride(from: 0, to: packs.count, by: 1000) {
            try await storage.delete(Array(packs[start..<min(start + 1000, packs.count)]))
            FaultInjection.reach("prune-pack-deleted")
        }

        // The index as it now is.
        index = RepositoryIndex(spillFolder: run.temporaryDirectory)
        writer.unindexedPacks = []
        for pack in remaining { index.add(pack: pack.id, entries: pack.entries) }
        return result
    }

    /// Writes a pack of repacked objects.
    private func finishPack(_ builder: inout PackBuilder, into written: inout [(id: ObjectID, entries: [PackEntry])], result: inout PruneResult) async throws {
        guard let pack = try await builder.finish(codec: codec) else { return }
        try await pack.upload.commit()
        written.append((pack.id, pack.entries))
        result.bytesFreed -= Int64(pack.size - pack.entries.reduce(0) { $0 + $1.length })
        FaultInjection.reach("prune-pack-written")
    }

    /// Adds a tree and everything below it to `used`.
    private func mark(_ tree: ObjectID, used: inout Set<ObjectID>) async throws {
        guard used.insert(tree).inserted else { return }
        for entry in try await self.tree(tree).entries {
            for extent in entry.content { used.insert(extent.object) }
            for signature in entry.delta?.signatures ?? [] { used.insert(signature) }
            if let subtree = entry.subtree { try await mark(subtree, used: &used) }
        }
    }
}
