import Foundation

/// One job's record: which set, where and when it ran, how it ended, and its root tree.
/// Saving it is the commit point of a backup.
public struct Snapshot: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        /// Every selected entry was read or found unchanged.
        case complete
        /// Finished, but some files could not be read: each keeps its previous version (carried
        /// over, marked `read failed`), so the snapshot is still a whole view.
        case incomplete
        /// Interrupted (a signal, max-duration): what the run did not reach is carried over from
        /// the previous snapshot (marked `not reached`).
        case partial

        /// Complete or incomplete: a finished run, which retention counts.
        public var isFinished: Bool { self != .partial }

        /// A status this version does not know reads as partial: never counted as finished.
        public init(from decoder: Decoder) throws {
            self = Status(rawValue: try decoder.singleValueContainer().decode(String.self)) ?? .partial
        }
    }

    public struct Statistics: Codable, Sendable, Equatable {
        public var files = 0
        public var directories = 0
        public var otherEntries = 0
        public var bytes: UInt64 = 0
        public var newFiles = 0
        public var changedFiles = 0
        public var unchangedFiles = 0
        public var bytesRead: UInt64 = 0
        public var bytesStored: UInt64 = 0
        /// Bytes read that were already in the repository, so not stored again.
        public var bytesDeduplicated: UInt64 = 0
        public var newObjects = 0
        public var problems = 0
        /// Files with in-file delta stored as a delta, and uploaded in full.
        public var deltaFiles = 0
        public var fullUploads = 0
        /// Entries kept from the previous snapshot because this run did not read them.
        public var carriedOver = 0

        public init() {}

        enum CodingKeys: String, CodingKey {
            case files, directories, otherEntries, bytes, newFiles, changedFiles, unchangedFiles, bytesRead, bytesStored
            case bytesDeduplicated, newObjects, problems, deltaFiles, fullUploads, carriedOver
        }

        /// Counts a writer did not record read as zero, so statistics can grow.
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            files = try c.decodeIfPresent(Int.self, forKey: .files) ?? 0
            directories = try c.decodeIfPresent(Int.self, forKey: .directories) ?? 0
            otherEntries = try c.decodeIfPresent(Int.self, forKey: .otherEntries) ?? 0
            bytes = try c.decodeIfPresent(UInt64.self, forKey: .bytes) ?? 0
            newFiles = try c.decodeIfPresent(Int.self, forKey: .newFiles) ?? 0
            changedFiles = try c.decodeIfPresent(Int.self, forKey: .changedFiles) ?? 0
            unchangedFiles = try c.decodeIfPresent(Int.self, forKey: .unchangedFiles) ?? 0
            bytesRead = try c.decodeIfPresent(UInt64.self, forKey: .bytesRead) ?? 0
            bytesStored = try c.decodeIfPresent(UInt64.self, forKey: .bytesStored) ?? 0
            bytesDeduplicated = try c.decodeIfPresent(UInt64.self, forKey: .bytesDeduplicated) ?? 0
            newObjects = try c.decodeIfPresent(Int.self, forKey: .newObjects) ?? 0
            problems = try c.decodeIfPresent(Int.self, forKey: .problems) ?? 0
            deltaFiles = try c.decodeIfPresent(Int.self, forKey: .deltaFiles) ?? 0
            fullUploads = try c.decodeIfPresent(Int.self, forKey: .fullUploads) ?? 0
            carriedOver = try c.decodeIfPresent(Int.self, forKey: .carriedOver) ?? 0
        }
    }

    public static let currentVersion = 1

    public var version = Snapshot.currentVersion
    public var set: String
    public var host: String
    public var user: String
    public var start: Timestamp
    public var end: Timestamp
    public var status: Status
    /// The tree of `/`: the sources with the folders leading to them.
    public var tree: String
    public var parent: String?
    public var sources: [String]
    public var statistics: Statistics
    /// Optional sources that were absent: their entries are the previous snapshot's.
    public var absentSources: [String]?

    public init(
        set: String, host: String, user: String, start: Timestamp, end: Timestamp, status: Status, tree: ObjectID,
        parent: ObjectID?, sources: [String], statistics: Statistics
    ) {
        self.set = set
        self.host = host
        self.user = user
        self.start = start
        self.end = end
        self.status = status
        self.tree = tree.hex
        self.parent = parent?.hex
        self.sources = sources
        self.statistics = statistics
    }

    public var treeID: ObjectID? { ObjectID(hex: tree) }

    /// For people, after the snapshot's name: ` (partial: ...)`, ` (incomplete: ...)`, or
    /// nothing for a complete snapshot.
    public var statusNote: String {
        let carried = statistics.carriedOver
        switch status {
        case .complete: return ""
        case .partial:
            return " (partial: the run was interrupted; \(carried) entr\(carried == 1 ? "y" : "ies") it did not reach hold their previous version)"
        case .incomplete:
            return " (incomplete: \(statistics.problems) problem\(statistics.problems == 1 ? "" : "s"); files that could not be read hold their previous version)"
        }
    }
}

/// A snapshot and its id.
public struct SnapshotRecord: Sendable, Equatable {
    public var id: ObjectID
    public var snapshot: Snapshot
}

extension Repository {
    public func save(_ snapshot: Snapshot, id: ObjectID? = nil) async throws -> ObjectID {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try await saveFile(.snapshot, in: "snapshots", Array(try encoder.encode(snapshot)), id: id)
    }

    public func snapshot(_ id: ObjectID) async throws -> Snapshot {
        let plaintext = try await loadFile(.snapshot, in: "snapshots", id: id)
        do {
            let snapshot = try JSONDecoder().decode(Snapshot.self, from: Data(plaintext))
            guard snapshot.version == Snapshot.currentVersion else { throw FormatError.unsupportedVersion("snapshot \(id.short)", snapshot.version) }
            return snapshot
        } catch let error as FormatError {
            throw error
        } catch let error as DecodingError {
            throw RepositoryError.damaged("snapshot \(id.short) cannot be read: \(Self.describe(error))")
        }
    }

    /// A decoding error in words, without Swift's coding-path dump.
    static func describe(_ error: DecodingError) -> String {
        switch error {
        case .dataCorrupted: return "its record is not valid JSON"
        case .keyNotFound(let key, _): return "its record has no '\(key.stringValue)'"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "its record's '\(context.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type"
        @unknown default: return "its record cannot be decoded"
        }
    }

    /// Every snapshot that can be read, oldest first (by start time, then id). One that cannot
    /// be read (damaged) is left out and kept in `damagedSnapshots` with why, so the others
    /// still list, restore and prune; storage failures still throw.
    public func snapshots() async throws -> [SnapshotRecord] {
        var records: [SnapshotRecord] = []
        var damaged: [(id: ObjectID, reason: String)] = []
        for id in try await fileIDs(in: "snapshots") {
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
        damagedSnapshots = damaged
        DamageWarnings.tell(damaged.map { "snapshot \($0.id.short) is damaged (\($0.reason)): left out; the other snapshots are read as usual, 'cairn repair SET --apply --remove-damaged' sets it aside" })
        return records.sorted { ($0.snapshot.start, $0.id) < ($1.snapshot.start, $1.id) }
    }

    public func store(_ tree: Tree) async throws -> Stored {
        try await store(.tree, tree.encoded(contentHashPrefix: contentHashPrefix))
    }

    public func tree(_ id: ObjectID) async throws -> Tree {
        try Tree.decode(try await load(.tree, id), what: "tree \(id.short)", contentHashPrefix: contentHashPrefix)
    }
}
