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
    /// Labels people gave it (`cairn tag`); a retention policy's `keep-tags` keeps it.
    public var tags: [String]?
    /// The snapshot this one replaces, with the same content and other tags: `cairn tag`
    /// writes the new file, then removes the old one; where both are found (a run killed in
    /// between), the replaced one is not listed.
    public var supersedes: String?

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

    /// Why `tag` cannot be a tag, or nil (`SnapshotTag.problem`).
    public static func tagProblem(_ tag: String) -> String? { SnapshotTag.problem(tag) }

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

extension Snapshot {
    /// The snapshot file's plaintext: JSON with sorted keys.
    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(self))
    }

    /// Reads a snapshot file's plaintext; `what` names it in errors ("snapshot 1a2b3c4d").
    public static func decode(_ plaintext: [UInt8], what: String) throws -> Snapshot {
        do {
            let snapshot = try JSONDecoder().decode(Snapshot.self, from: Data(plaintext))
            guard snapshot.version == Snapshot.currentVersion else { throw FormatError.unsupportedVersion(what, snapshot.version) }
            return snapshot
        } catch let error as FormatError {
            throw error
        } catch let error as DecodingError {
            throw RepositoryError.damaged("\(what) cannot be read: \(error.inWords)")
        }
    }
}
