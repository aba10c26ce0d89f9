/// What a scan found: the entries a backup will hold, with their metadata as read, and for each
/// file whether it is new, changed or unchanged since the set's last snapshot.
///
/// A folder's entries are held in memory while the scan fills them; once the folder is finished
/// they go to the scan's spill file (`seal`), and each reading of `children` decodes them again:
/// what is in memory is the folders being worked on, not the whole tree (a million files took
/// about 650 bytes each).
public final class ScannedDirectory: @unchecked Sendable {
    public var path: FilePath
    public var entry: TreeEntry
    /// How this directory's own entry differs from the previous snapshot's; nil when it does not.
    public var change: EntryChange?
    /// How the symbolic links, fifos, sockets and devices in it differ, by name (only those
    /// that do: most do not).
    public var specialChanges: [[UInt8]: EntryChange] = [:]
    /// The previous snapshot's tree of this folder, when its entries are exactly that tree's
    /// (nothing in or under it changed): a backup records that tree again without reading,
    /// storing or even visiting what is under it, and the plan has nothing there to show.
    public var unchangedTree: ObjectID?
    /// What is under it, for a snapshot's statistics when its tree is recorded again.
    public var totals = Totals()

    public struct Totals: Sendable, Equatable {
        public var files = 0
        public var bytes: UInt64 = 0
        /// Folders under it (not itself).
        public var directories = 0
        /// Symbolic links, fifos, sockets and devices.
        public var others = 0
    }

    /// Its entries, and the entries of the previous snapshot's version of it that are gone now.
    public struct Contents: Sendable {
        public var children: [ScannedNode] = []
        public var removed: [TreeEntry] = []

        /// Adds a node where its name goes (the folders leading to the sources are filled one
        /// source at a time, in the order of their paths, where `/a-c` comes before `/a/b`):
        /// every walk of the contents takes them in name order.
        mutating func insertInNameOrder(_ node: ScannedNode) {
            let name = node.name
            let index = children.lastIndex { $0.name.lexicographicallyPrecedes(name) }.map { $0 + 1 } ?? 0
            children.insert(node, at: index)
        }
    }

    /// The contents while in memory (the scan filling them, or changed since: `replace`).
    var held = Contents()
    /// Where the contents are once sealed: pieces of children, each its count of nodes then
    /// the nodes, and a last piece with the removed entries.
    private var sealed: (spill: SpillFile, pieces: [SpillFile.Place])?

    init(path: FilePath, entry: TreeEntry) {
        self.path = path
        self.entry = entry
    }

    /// Its entries, in name order.
    public var children: [ScannedNode] {
        get throws { try contents().children }
    }

    /// Entries of the previous snapshot's version of this directory that are gone now (read
    /// without its children).
    public var removed: [TreeEntry] {
        get throws {
            guard let sealed else { return held.removed }
            let bytes = try sealed.spill.read(sealed.pieces.last!)
            var reader = BinaryReader(bytes, what: Self.what)
            var removed: [TreeEntry] = []
            for _ in 0..<(try reader.count(limit: bytes.count)) { removed.append(try Self.entry(&reader, limit: bytes.count)) }
            guard reader.isAtEnd else { throw FormatError.malformed(Self.what, "trailing bytes") }
            return removed
        }
    }

    public func contents() throws -> Contents {
        guard let sealed else { return held }
        var contents = Contents()
        var nodes = try self.nodes()
        while let node = try nodes.next() { contents.children.append(node) }
        contents.removed = try removed
        return contents
    }

    /// A folder's entries as a walk takes them (the plan's, a saved plan's restriction): those
    /// there now, read one at a time from the spill file, and those gone since the last
    /// snapshot, merged in name order (both are in name order).
    struct Walk {
        enum Visit {
            case present(ScannedNode)
            case gone(TreeEntry)
        }

        let directory: ScannedDirectory
        private var nodes: ScannedDirectory.Nodes
        let removed: [TreeEntry]
        private var nextRemoved = 0
        /// The next node, read ahead to compare with the next gone entry.
        private var ahead: ScannedNode?
        /// Nodes taken so far.
        private(set) var taken = 0

        init(_ directory: ScannedDirectory) throws {
            self.directory = directory
            nodes = try directory.nodes()
            removed = try directory.removed
            ahead = try nodes.next()
        }

        mutating func next() throws -> Visit? {
            if nextRemoved < removed.count, ahead.map({ removed[nextRemoved].name.lexicographicallyPrecedes($0.name) }) ?? true {
                nextRemoved += 1
                return .gone(removed[nextRemoved - 1])
            }
            guard let node = ahead else { return nil }
            ahead = try nodes.next()
            taken += 1
            return .present(node)
        }
    }

    /// Contents written again node by node, in name order (applying a saved plan): sealed again
    /// in the same spill file when they were sealed, held when they were held. A subfolder
    /// added must be sealed already when this folder was.
    struct Rewriter {
        private var sealer: Sealer?
        private var held: [ScannedNode] = []

        init(for directory: ScannedDirectory) {
            sealer = directory.sealed.map { Sealer(spill: $0.spill) }
        }

        mutating func add(_ node: ScannedNode) {
            if sealer != nil { sealer!.add(node) } else { held.append(node) }
        }

        /// Makes these `directory`'s contents, with the `removed` entries.
        consuming func finish(_ directory: ScannedDirectory, removed: [TreeEntry]) {
            directory.sealed = nil
            if let sealer {
                sealer.seal(directory, removed: removed)
            } else {
                directory.held = Contents(children: held, removed: removed)
            }
        }
    }

    /// Puts the contents back in memory, for the scan to change them (a source inside another).
    func unseal() throws {
        guard sealed != nil else { return }
        held = try contents()
        sealed = nil
    }

    /// Moves the contents to `spill`; every subfolder among them must be sealed already.
    func seal(into spill: SpillFile) {
        guard sealed == nil else { return }
        var sealer = Sealer(spill: spill)
        for node in held.children { sealer.add(node) }
        sealer.seal(self, removed: held.removed)
    }

    private static let what = "the scan's spill file"

    /// Seals a folder's contents as they come, node by node, each encoded at once and spilled
    /// in pieces of about 256 KiB: a folder of 100,000 files is held neither as values nor
    /// whole as bytes, when scanned or when read back (`nodes`).
    struct Sealer {
        static let pieceSize = 1 << 18
        let spill: SpillFile
        private var pieces: [SpillFile.Place] = []
        private var writer = BinaryWriter(capacity: 4096)
        private var inPiece = 0
        /// Nodes added.
        private(set) var count = 0

        init(spill: SpillFile) { self.spill = spill }

        /// Adds a node; a subfolder must be sealed already.
        mutating func add(_ node: ScannedNode) {
            ScannedDirectory.encode(node, into: &writer)
            inPiece += 1
            count += 1
            if writer.bytes.count >= Self.pieceSize { flush() }
        }

        private mutating func flush() {
            guard inPiece > 0 else { return }
            var head = BinaryWriter(capacity: 10)
            head.varint(inPiece)
            pieces.append(spill.append(parts: [head.bytes, writer.bytes]))
            writer = BinaryWriter(capacity: min(writer.bytes.count + 4096, Self.pieceSize + 4096))
            inPiece = 0
        }

        /// Seals `directory` with the nodes added and the `removed` entries.
        consuming func seal(_ directory: ScannedDirectory, removed: [TreeEntry]) {
            precondition(directory.sealed == nil, "a folder is sealed once")
            flush()
            var tail = BinaryWriter(capacity: removed.count * 128 + 10)
            tail.varint(removed.count)
            for entry in removed { Tree.encode(entry, into: &tail, contentHashPrefix: nil) }
            pieces.append(spill.append(tail.bytes))
            directory.sealed = (spill, pieces)
            directory.held = Contents()
        }
    }

    /// One node of a folder's contents; a subfolder must be sealed already.
    static func encode(_ node: ScannedNode, into writer: inout BinaryWriter) {
            switch node {
            case .directory(let directory):
                guard let sealed = directory.sealed else { preconditionFailure("a folder is sealed after its subfolders") }
                writer.byte(1)
                Tree.encode(directory.entry, into: &writer, contentHashPrefix: nil)
                encode(directory.change, into: &writer)
                writer.varint(directory.specialChanges.count)
                for (name, change) in directory.specialChanges {
                    writer.data(name)
                    encode(change, into: &writer)
                }
                writer.varint(sealed.pieces.count)
                for piece in sealed.pieces {
                    writer.varint(piece.offset)
                    writer.varint(piece.count)
                }
                writer.optionalID(directory.unchangedTree)
                writer.varint(directory.totals.files)
                writer.varint(directory.totals.bytes)
                writer.varint(directory.totals.directories)
                writer.varint(directory.totals.others)
            case .file(let file):
                writer.byte(2)
                Tree.encode(file.entry, into: &writer, contentHashPrefix: nil)
                writer.byte(file.change == .new ? 0 : file.change == .changed ? 1 : 2)
                if let previous = file.previous {
                    writer.byte(1)
                    Tree.encode(previous, into: &writer, contentHashPrefix: nil)
                } else {
                    writer.byte(0)
                }
            case .special(let entry):
                writer.byte(3)
                Tree.encode(entry, into: &writer, contentHashPrefix: nil)
            case .carried(let entry):
                writer.byte(4)
                Tree.encode(entry, into: &writer, contentHashPrefix: nil)
            }
    }

    private static func encode(_ change: EntryChange?, into writer: inout BinaryWriter) {
        guard let change else {
            writer.byte(0)
            return
        }
        writer.byte(1)
        writer.string(change.kind.rawValue)
        writer.string(change.reason)
        writer.byte(change.previousKind?.rawValue ?? 0)
        writer.optionalID(change.previousSubtree)
    }

    private static func decodeChange(_ reader: inout BinaryReader) throws -> EntryChange? {
        guard try reader.byte() != 0 else { return nil }
        guard let kind = EntryChange.Kind(rawValue: try reader.string()) else { throw FormatError.malformed(what, "unknown change") }
        let reason = try reader.string()
        let previousKind = TreeEntry.Kind(rawValue: try reader.byte())
        return EntryChange(kind: kind, reason: reason, previousKind: previousKind, previousSubtree: try reader.optionalID())
    }

    private static func entry(_ reader: inout BinaryReader, limit: Int) throws -> TreeEntry {
        try Tree.decodeEntry(from: &reader, version: Tree.version, what: what, limit: limit, contentHashPrefix: [])
    }

    /// Its entries one at a time, in name order: a folder of 100,000 files is read from the
    /// spill file as bytes and never held as values (44 MB). A subfolder is a new value each
    /// time it is read.
    public struct Nodes {
        private var held: IndexingIterator<[ScannedNode]>?
        private var reader: BinaryReader?
        private let parent: FilePath
        private let spill: SpillFile?
        /// The pieces of children not read yet (the last piece, of removed entries, is not read).
        private var pieces: ArraySlice<SpillFile.Place> = []
        /// Nodes left in the piece being read.
        private var remaining = 0

        fileprivate init(held: [ScannedNode], parent: FilePath) {
            self.held = held.makeIterator()
            self.parent = parent
            spill = nil
        }

        fileprivate init(pieces: [SpillFile.Place], parent: FilePath, spill: SpillFile) {
            self.pieces = pieces.dropLast()
            self.parent = parent
            self.spill = spill
        }

        public mutating func next() throws -> ScannedNode? {
            if held != nil { return held!.next() }
            guard let spill else { return nil }
            while remaining == 0 {
                if let current = reader, !current.isAtEnd { throw FormatError.malformed(ScannedDirectory.what, "trailing bytes") }
                guard let piece = pieces.popFirst() else {
                    reader = nil
                    return nil
                }
                let bytes = try spill.read(piece)
                var next = BinaryReader(bytes, what: ScannedDirectory.what)
                remaining = try next.count(limit: bytes.count)
                reader = next
            }
            var current = reader!
            reader = nil
            let node = try ScannedDirectory.decodeNode(&current, parent: parent, spill: spill, limit: current.bytes.count)
            reader = current
            remaining -= 1
            return node
        }
    }

    public func nodes() throws -> Nodes {
        guard let sealed else { return Nodes(held: held.children, parent: path) }
        return Nodes(pieces: sealed.pieces, parent: path, spill: sealed.spill)
    }

    private static func decodeNode(_ reader: inout BinaryReader, parent: FilePath, spill: SpillFile, limit: Int) throws -> ScannedNode {
            switch try reader.byte() {
            case 1:
                let entry = try entry(&reader, limit: limit)
                let directory = ScannedDirectory(path: parent.appending(entry.name), entry: entry)
                directory.change = try decodeChange(&reader)
                for _ in 0..<(try reader.count(limit: limit)) {
                    let name = try reader.data()
                    directory.specialChanges[name] = try decodeChange(&reader)
                }
                var pieces: [SpillFile.Place] = []
                for _ in 0..<(try reader.count(limit: limit)) { pieces.append(SpillFile.Place(offset: try reader.count(), count: try reader.count())) }
                guard !pieces.isEmpty else { throw FormatError.malformed(what, "a folder without its pieces") }
                directory.sealed = (spill, pieces)
                directory.unchangedTree = try reader.optionalID()
                directory.totals = Totals(
                    files: try reader.count(), bytes: try reader.varint(), directories: try reader.count(), others: try reader.count())
                return .directory(directory)
            case 2:
                let entry = try entry(&reader, limit: limit)
                let change: ScannedFile.Change = switch try reader.byte() {
                case 0: .new
                case 1: .changed
                default: .unchanged
                }
                let previous = try reader.byte() == 1 ? try self.entry(&reader, limit: limit) : nil
                return .file(ScannedFile(path: parent.appending(entry.name), entry: entry, change: change, previous: previous))
            case 3:
                return .special(try entry(&reader, limit: limit))
            case 4:
                return .carried(try entry(&reader, limit: limit))
            default:
                throw FormatError.malformed(what, "unknown entry")
            }
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
