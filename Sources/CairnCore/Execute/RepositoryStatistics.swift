import Foundation

/// What `cairn stats` reports of a repository: its stored size, and how much deduplication
/// and compression save. Each tree is read once, however many snapshots share it.
public struct RepositoryStatistics: Sendable, Encodable {
    /// Bytes of every file in the repository (packs, index, snapshots, keys, descriptor).
    public var storedBytes: Int = 0
    public var packs: Int = 0
    public var packBytes: Int = 0
    /// Objects by kind as the index lists them.
    public var objects: Int = 0
    /// File bytes of every snapshot added up: what the snapshots hold.
    public var snapshotBytes: UInt64 = 0
    /// File content the snapshots share, counted once: the distinct data objects' bytes
    /// before compression and encryption.
    public var uniqueBytes: UInt64 = 0
    /// The distinct data objects' bytes as stored (compressed and sealed).
    public var storedDataBytes: Int = 0
    /// `snapshotBytes / uniqueBytes`: how many times over deduplication saves.
    public var deduplicationRatio: Double? { uniqueBytes == 0 ? nil : Double(snapshotBytes) / Double(uniqueBytes) }
    /// `uniqueBytes / storedDataBytes`.
    public var compressionRatio: Double? { storedDataBytes == 0 ? nil : Double(uniqueBytes) / Double(storedDataBytes) }

    enum CodingKeys: String, CodingKey {
        case storedBytes, packs, packBytes, objects, snapshotBytes, uniqueBytes, storedDataBytes, deduplicationRatio, compressionRatio
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(storedBytes, forKey: .storedBytes)
        try container.encode(packs, forKey: .packs)
        try container.encode(packBytes, forKey: .packBytes)
        try container.encode(objects, forKey: .objects)
        try container.encode(snapshotBytes, forKey: .snapshotBytes)
        try container.encode(uniqueBytes, forKey: .uniqueBytes)
        try container.encode(storedDataBytes, forKey: .storedDataBytes)
        try container.encodeIfPresent(deduplicationRatio.map { ($0 * 1000).rounded() / 1000 }, forKey: .deduplicationRatio)
        try container.encodeIfPresent(compressionRatio.map { ($0 * 1000).rounded() / 1000 }, forKey: .compressionRatio)
    }

    /// Measures `repository` for the snapshots `records` (every snapshot of the repository for
    /// the stored size; the ratios over `records`).
    public static func measure(_ repository: Repository, records: [SnapshotRecord]) async throws -> RepositoryStatistics {
        var result = RepositoryStatistics()
        for item in try await repository.storage.listAll(prefix: "") {
            result.storedBytes += item.size
            if item.key.hasPrefix("data/") {
                result.packs += 1
                result.packBytes += item.size
            }
        }
        let totals = await repository.storedTotals()
        result.objects = totals.values.reduce(0) { $0 + $1.count }
        // The distinct data objects the snapshots use, each with its length before compression
        // (the end of the furthest extent that uses it).
        var lengths: [ObjectID: Int] = [:]
        var seenTrees: Set<ObjectID> = []
        var pending = records.compactMap(\.snapshot.treeID)
        while let tree = pending.popLast() {
            guard seenTrees.insert(tree).inserted else { continue }
            for entry in try await repository.tree(tree).entries {
                if let subtree = entry.subtree { pending.append(subtree) }
                for extent in entry.content {
                    lengths[extent.object] = max(lengths[extent.object] ?? 0, extent.offset + extent.length)
                }
            }
        }
        result.snapshotBytes = records.reduce(0) { $0 + $1.snapshot.statistics.bytes }
        result.uniqueBytes = lengths.values.reduce(0) { $0 + UInt64($1) }
        result.storedDataBytes = await repository.storedBytes(of: Array(lengths.keys))
        return result
    }
}
