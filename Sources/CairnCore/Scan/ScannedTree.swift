/// What a scan found: the entries a backup will hold, with their metadata as read, and for each
/// file whether it is new, changed or unchanged since the set's last snapshot.
public final class ScannedDirectory: @unchecked Sendable {
    public var path: FilePath
    public var entry: TreeEntry
    public var children: [ScannedNode] = []
    /// Entries of the previous snapshot's version of this directory that are gone now.
    public var removed: [TreeEntry] = []
    /// How this directory's own entry differs from the previous snapshot's; nil when it does not.
    public var change: EntryChange?
    /// How the symbolic links, fifos, sockets and devices in it differ, by name (only those
    /// that do: most do not).
    public var specialChanges: [[UInt8]: EntryChange] = [:]

    init(path: FilePath, entry: TreeEntry) {
        self.path = path
        self.entry = entry
    }
}

public enum ScannedNode: Sendable {
    case directory(ScannedDirectory)
    case file(ScannedFile)
    /// A symbolic link, fifo, socket or device: recorded, never read.
    case special(TreeEntry)
    /// The previous snapshot's entry, kept because this run cannot see or read it (its
    /// `carried` says why): a file, or a whole folder with its subtree.
    case carried(TreeEntry)

    public var name: [UInt8] {
        switch self {
        case .directory(let directory): return directory.entry.name
        case .file(let file): return file.entry.name
        case .special(let entry), .carried(let entry): return entry.name
        }
    }
}

public struct ScannedFile: Sendable {
    public enum Change: String, Sendable, Codable {
        case new
        case changed
        case unchanged
    }

    public var path: FilePath
    /// Metadata as scanned; for an unchanged file, with the previous version's content.
    public var entry: TreeEntry
    public var change: Change
    /// The last snapshot's entry for this path, if it had one and the file is new or changed
    /// (nil for an unchanged file). Kept apart: an entry takes 360 bytes, and most files of a
    /// first backup have none.
    public var previous: TreeEntry? {
        get { previousStorage?.entry }
        set { previousStorage = newValue.map(EntryBox.init) }
    }
    private var previousStorage: EntryBox?

    init(path: FilePath, entry: TreeEntry, change: Change, previous: TreeEntry?) {
        self.path = path
        self.entry = entry
        self.change = change
        previousStorage = previous.map(EntryBox.init)
    }

    private final class EntryBox: Sendable {
        let entry: TreeEntry

        init(_ entry: TreeEntry) {
            self.entry = entry
        }
    }
}

/// Something that could not be read, reported and counted; the job then ends with exit code 3.
public struct Problem: Sendable, Equatable, CustomStringConvertible {
    public var path: FilePath
    public var message: String

    public init(path: FilePath, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}

/// How an entry differs from the previous snapshot's entry of the same name, for the plan:
/// every entry a run records differently is in the plan, with why.
public struct EntryChange: Sendable, Equatable {
    public enum Kind: String, Sendable, Codable {
        /// Not in the previous snapshot.
        case new
        /// Another type than before (`file -> directory`).
        case type
        /// A symbolic link pointing elsewhere.
        case target
        /// Only metadata: mode, owner, times, xattrs, links, the inode.
        case metadata
        /// A file's content (read again).
        case content
    }

    public var kind: Kind
    /// In words: `mode 0644 -> 0600`, `file -> directory`, `a -> b`.
    public var reason: String
    /// The previous entry's type, for a type change.
    public var previousKind: TreeEntry.Kind?
    /// The previous entry's subtree, when it was a directory that is something else now: what
    /// was under it is gone.
    public var previousSubtree: ObjectID?

    public init(kind: Kind, reason: String, previousKind: TreeEntry.Kind? = nil, previousSubtree: ObjectID? = nil) {
        self.kind = kind
        self.reason = reason
        self.previousKind = previousKind
        self.previousSubtree = previousSubtree
    }

    /// The change from `previous` to `entry` for anything but a file's content; nil when the
    /// run records the entry as it was.
    public static func between(_ previous: TreeEntry?, _ entry: TreeEntry) -> EntryChange? {
        guard let previous else { return EntryChange(kind: .new, reason: "not in the last snapshot") }
        if previous.kind != entry.kind {
            return EntryChange(
                kind: .type, reason: "\(BackupPlan.kindName(previous.kind)) -> \(BackupPlan.kindName(entry.kind))", previousKind: previous.kind,
                previousSubtree: previous.kind == .directory ? previous.subtree : nil)
        }
        if entry.kind == .symlink, previous.symlinkTarget != entry.symlinkTarget {
            return EntryChange(kind: .target, reason: "\(FilePath.display(previous.symlinkTarget)) -> \(FilePath.display(entry.symlinkTarget))")
        }
        let differences = metadataDifferences(previous, entry)
        return differences.isEmpty ? nil : EntryChange(kind: .metadata, reason: differences.joined(separator: ", "))
    }

    /// What differs in the metadata a snapshot records, in words.
    public static func metadataDifferences(_ old: TreeEntry, _ new: TreeEntry) -> [String] {
        var parts: [String] = []
        if old.mode != new.mode { parts.append(String(format: "mode %04o -> %04o", old.mode & 0o7777, new.mode & 0o7777)) }
        if old.uid != new.uid || old.user != new.user { parts.append("owner \(old.user.isEmpty ? String(old.uid) : old.user) -> \(new.user.isEmpty ? String(new.uid) : new.user)") }
        if old.gid != new.gid || old.group != new.group {
            parts.append("group \(old.group.isEmpty ? String(old.gid) : old.group) -> \(new.group.isEmpty ? String(new.gid) : new.group)")
        }
        if old.xattrs != new.xattrs { parts.append("extended attributes") }
        if old.rdev != new.rdev { parts.append("device number") }
        if old.links != new.links { parts.append("links \(old.links) -> \(new.links)") }
        if old.mtime != new.mtime { parts.append("modified \(new.mtime)") }
        if old.inode != new.inode { parts.append("replaced (new inode)") }
        if old.ctime != new.ctime && parts.isEmpty { parts.append("status changed \(new.ctime)") }
        return parts
    }
}
