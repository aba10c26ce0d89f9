/// What a scan found: the entries a backup will hold, with their metadata as read, and for each
/// file whether it is new, changed or unchanged since the set's last snapshot.
public final class ScannedDirectory: @unchecked Sendable {
    public var path: FilePath
    public var entry: TreeEntry
    public var children: [ScannedNode] = []
    /// Entries of the previous snapshot's version of this directory that are gone now.
    public var removed: [TreeEntry] = []

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
    /// The last snapshot's entry for this path, if it had one. Kept apart: an entry takes 360
    /// bytes, and most files of a first backup have none.
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
