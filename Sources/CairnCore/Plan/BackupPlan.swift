import Foundation

/// What a backup run of one set will do: the value `cairn plan` prints and `cairn backup`
/// carries out. Planning reads and never writes.
public struct BackupPlan: Codable, Sendable {
    public enum Action: String, Codable, Sendable {
        /// `+`: a file or folder that was not in the last snapshot.
        case new
        /// `~`: a file whose size, times or inode differ: read again.
        case changed
        /// `-`: gone since the last snapshot; its last version stays restorable.
        case removed
    }

    public struct Change: Codable, Sendable, Equatable {
        public var action: Action
        /// The path for people (bytes that are not UTF-8 escaped as `\xNN`).
        public var path: String
        public var kind: String
        public var size: UInt64
    }

    public var set: String
    public var repository: String
    /// True when the set has never been backed up: its repository will be created.
    public var createsRepository: Bool
    public var previousSnapshot: String?
    public var changes: [Change]
    public var newFiles = 0
    public var changedFiles = 0
    public var removedEntries = 0
    public var unchangedFiles = 0
    /// Bytes of new and changed files: what will be read, before deduplication and compression.
    public var bytesToRead: UInt64 = 0

    public var hasChanges: Bool { createsRepository || !changes.isEmpty }

    /// The plan for a scan against the previous snapshot.
    public init(set: String, repository: String, createsRepository: Bool, previousSnapshot: ObjectID?, scan root: ScannedDirectory) {
        self.set = set
        self.repository = repository
        self.createsRepository = createsRepository
        self.previousSnapshot = previousSnapshot?.hex
        self.changes = []
        collect(root, isNewParent: false)
    }

    private static func kindName(_ kind: TreeEntry.Kind) -> String {
        switch kind {
        case .file: return "file"
        case .directory: return "directory"
        case .symlink: return "symlink"
        case .fifo: return "fifo"
        case .socket: return "socket"
        case .characterDevice: return "character device"
        case .blockDevice: return "block device"
        }
    }

    private mutating func collect(_ directory: ScannedDirectory, isNewParent: Bool) {
        for old in directory.removed {
            changes.append(Change(action: .removed, path: directory.path.appending(old.name).description, kind: Self.kindName(old.kind), size: old.size))
            removedEntries += 1
        }
        for node in directory.children {
            switch node {
            case .file(let file):
                switch file.change {
                case .unchanged: unchangedFiles += 1
                case .new, .changed:
                    changes.append(Change(action: file.change == .new ? .new : .changed, path: file.path.description, kind: "file", size: file.entry.size))
                    if file.change == .new { newFiles += 1 } else { changedFiles += 1 }
                    bytesToRead += file.entry.size
                }
            case .directory(let inner):
                collect(inner, isNewParent: false)
            case .special:
                break
            }
        }
    }

    /// The summary line: `Plan: 2 new, 1 changed, 1 removed; about 3.4 MB to upload.`
    public var summary: String {
        guard hasChanges else { return "No changes." }
        return "Plan: \(newFiles) new, \(changedFiles) changed, \(removedEntries) removed; about \(ByteCountText.format(bytesToRead)) to upload."
    }

    /// The plan as text lines, without colour.
    public func lines() -> [String] {
        var lines: [String] = []
        if createsRepository { lines.append("+ set \(set): new repository at \(repository)") }
        for change in changes {
            switch change.action {
            case .new: lines.append("+ \(change.path) (\(ByteCountText.format(change.size)))")
            case .changed: lines.append("~ \(change.path) (\(ByteCountText.format(change.size)))")
            case .removed: lines.append("- \(change.path)")
            }
        }
        lines.append(summary)
        return lines
    }
}

/// Sizes for people: `1.2 MB` (powers of 1000, as the plan's estimates are).
public enum ByteCountText {
    public static func format(_ bytes: UInt64) -> String {
        if bytes < 1000 { return "\(bytes) B" }
        let units = ["kB", "MB", "GB", "TB", "PB"]
        var value = Double(bytes) / 1000
        var unit = 0
        while value >= 999.95, unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return String(format: value < 10 ? "%.1f" : "%.0f", value) + " " + units[unit]
    }
}
