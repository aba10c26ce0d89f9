/// A range of a stored object: a file's content is a list of these, so an in-file delta can
/// reuse ranges of objects already stored and a restore reads only what a version needs.
public struct Extent: Hashable, Sendable {
    public var object: ObjectID
    public var offset: Int
    public var length: Int

    public init(object: ObjectID, offset: Int, length: Int) {
        self.object = object
        self.offset = offset
        self.length = length
    }
}

/// One entry of a directory as backed up: its name as the kernel gave it (bytes), its
/// metadata, and its content (a file's extents, a directory's subtree, a link's target).
public struct TreeEntry: Hashable, Sendable {
    public enum Kind: UInt8, Sendable {
        case file = 1, directory, symlink, fifo, socket, characterDevice, blockDevice
    }

    public var name: [UInt8]
    public var kind: Kind
    /// Permission bits, with setuid, setgid and sticky.
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var user: String
    public var group: String
    public var size: UInt64
    public var mtime: Timestamp
    public var ctime: Timestamp
    public var inode: UInt64
    public var device: UInt64
    public var links: UInt64
    /// A device file's device number.
    public var rdev: UInt64
    public var symlinkTarget: [UInt8]
    /// Extended attributes, POSIX ACLs (`system.posix_acl_*`) among them, sorted by name.
    public var xattrs: [Xattr]
    public var content: [Extent]
    /// A keyed hash of the whole content (files only), so a restore can tell that an existing
    /// file is identical without reading repository data.
    public var contentHash: ObjectID?
    public var subtree: ObjectID?
    /// For a file backed up with in-file delta: how this version was stored.
    public var delta: DeltaInfo?
    /// Set when the run did not see this entry and kept the previous snapshot's (tree version 4).
    public var carried: CarriedOver?

    /// Why an entry of a snapshot is the previous snapshot's: the run did not read it.
    public enum CarriedOver: UInt8, Sendable, CustomStringConvertible {
        /// The run was interrupted (a signal, max-duration) before it got there.
        case notReached = 1
        /// It is under an optional source that was absent.
        case sourceAbsent = 2
        /// Reading it failed (unreadable, vanished or changed while read): a problem of the job.
        case readFailed = 3

        public var description: String {
            switch self {
            case .notReached: return "not reached"
            case .sourceAbsent: return "source absent"
            case .readFailed: return "read failed"
            }
        }
    }

    public struct Xattr: Hashable, Sendable {
        public var name: [UInt8]
        public var value: [UInt8]

        public init(name: [UInt8], value: [UInt8]) {
            self.name = name
            self.value = value
        }
    }

    public init(name: [UInt8], kind: Kind) {
        self.name = name
        self.kind = kind
        mode = 0
        uid = 0
        gid = 0
        user = ""
        group = ""
        size = 0
        mtime = Timestamp(seconds: 0, nanoseconds: 0)
        ctime = mtime
        inode = 0
        device = 0
        links = 1
        rdev = 0
        symlinkTarget = []
        xattrs = []
        content = []
        contentHash = nil
        subtree = nil
        delta = nil
        carried = nil
    }
}

/// How a version of a file with in-file delta was stored (user guide chapter 8): in full, or as
/// a delta against an earlier version, and the signatures the next delta needs.
public struct DeltaInfo: Hashable, Sendable {
    /// Uploaded whole rather than as a delta.
    public var isFull: Bool
    /// Deltas since the last full upload, this one included (0 for a full upload).
    public var deltas: Int
    /// This version's block signature; nil when none was kept (a differential delta, whose
    /// successors are deltas against the full).
    public var signature: ObjectID?
    /// The signature of the last full upload (this version's own when it is one).
    public var fullSignature: ObjectID
    /// When this version, and the last full upload, were stored.
    public var stored: Timestamp
    public var fullStored: Timestamp
    /// A delta's new data (its literal bytes); a full upload's size.
    public var newBytes: UInt64

    /// The signatures this version refers to: its own, and its last full upload's.
    public var signatures: [ObjectID] {
        signature.map { $0 == fullSignature ? [fullSignature] : [$0, fullSignature] } ?? [fullSignature]
    }

    public init(
        isFull: Bool, deltas: Int, signature: ObjectID?, fullSignature: ObjectID, stored: Timestamp, fullStored: Timestamp, newBytes: UInt64
    ) {
        self.isFull = isFull
        self.deltas = deltas
        self.signature = signature
        self.fullSignature = fullSignature
        self.stored = stored
        self.fullStored = fullStored
        self.newBytes = newBytes
    }
}

/// A directory's entries, sorted by name bytes. Stored as a content-addressed object, so an
/// unchanged directory is stored once however many snapshots have it.
public struct Tree: Hashable, Sendable {
    public var entries: [TreeEntry]

    public init(entries: [TreeEntry]) {
        self.entries = entries.sorted { $0.name.lexicographicallyPrecedes($1.name) }
    }

    public func entry(named name: [UInt8]) -> TreeEntry? {
        var low = 0, high = entries.count
        while low < high {
            let middle = (low + high) / 2
            if entries[middle].name == name { return entries[middle] }
            if entries[middle].name.lexicographicallyPrecedes(name) { low = middle + 1 } else { high = middle }
        }
        return nil
    }

    /// Version 2 added `delta`; version 3 leaves out a content hash that the content's ids give
    /// (`ContentHasher.hash(ofChunks:)`); version 4 adds the carried-over mark. Versions 1 to 3
    /// are still read.
    static let version: UInt64 = 4

    /// The content hash field's first byte: none, recorded, or derived from the content's ids.
    private enum HashMarker: UInt8 {
        case absent = 0, recorded = 1, derived = 2
    }

    /// `contentHashPrefix` is the repository's (`Repository.contentHashPrefix`): a hash that the
    /// content's ids give is left out, and given again when the tree is read.
    func encoded(contentHashPrefix: [UInt8]) -> [UInt8] {
        var writer = BinaryWriter(capacity: entries.count * 120)
        writer.varint(Self.version)
        writer.varint(entries.count)
        for entry in entries { Self.encode(entry, into: &writer, contentHashPrefix: contentHashPrefix) }
        return writer.bytes
    }

    /// A tree encoded entry by entry as its entries come, in name order (a backup's folder of
    /// 100,000 files held them all as values, and a sorted copy: 85 MB): the same bytes as
    /// `encoded(contentHashPrefix:)` of a tree of those entries. Entries out of name order are
    /// put in order at the end.
    struct Builder {
        private let contentHashPrefix: [UInt8]
        /// Room for the header (`finish` writes it in place), then the entries.
        private var body: BinaryWriter
        private static let headerRoom = 20
        private var count = 0
        private var lastName: [UInt8]?
        private var inOrder = true

        /// `capacity`: about the bytes the entries will take (room reserved is not memory used
        /// until written, and a tree grown by doubling is copied each time).
        init(contentHashPrefix: [UInt8], capacity: Int = 4096) {
            self.contentHashPrefix = contentHashPrefix
            body = BinaryWriter(capacity: capacity + Self.headerRoom)
            body.raw([UInt8](repeating: 0, count: Self.headerRoom))
        }

        mutating func append(_ entry: TreeEntry) {
            if let lastName, !lastName.lexicographicallyPrecedes(entry.name) { inOrder = false }
            lastName = entry.name
            Tree.encode(entry, into: &body, contentHashPrefix: contentHashPrefix)
            count += 1
        }

        /// An entry encoded as this tree holds it (`Tree.encode` with the same prefix).
        mutating func append(encoded bytes: ArraySlice<UInt8>, name: [UInt8]) {
            if let lastName, !lastName.lexicographicallyPrecedes(name) { inOrder = false }
            lastName = name
            body.raw(bytes)
            count += 1
        }

        /// The tree's bytes: the entries' own buffer, its header written in place.
        consuming func finish() throws -> [UInt8] {
            guard inOrder else {
                // Rare (entries added to a folder after its scan): decoded, sorted, encoded.
                var reader = BinaryReader(Array(body.bytes.dropFirst(Self.headerRoom)), what: "a tree being built")
                var entries: [TreeEntry] = []
                for _ in 0..<count {
                    entries.append(try Tree.decodeEntry(from: &reader, version: Tree.version, what: "a tree being built", limit: body.bytes.count, contentHashPrefix: contentHashPrefix))
                }
                // A name twice (never from a scan) is kept once: the first.
                var seen: Set<[UInt8]> = []
                entries = entries.filter { seen.insert($0.name).inserted }
                return Tree(entries: entries).encoded(contentHashPrefix: contentHashPrefix)
            }
            var header = BinaryWriter(capacity: 20)
            header.varint(Tree.version)
            header.varint(count)
            body.replacePrefix(Self.headerRoom, with: header.bytes)
            return body.bytes
        }
    }

    /// One entry as a tree holds it. Without `contentHashPrefix`, the content hash is always
    /// recorded (a scan's spill, which must not spend a hash on it).
    static func encode(_ entry: TreeEntry, into writer: inout BinaryWriter, contentHashPrefix: [UInt8]?) {
        writer.data(entry.name)
        writer.byte(entry.kind.rawValue)
        writer.varint(UInt64(entry.mode))
        writer.varint(UInt64(entry.uid))
        writer.varint(UInt64(entry.gid))
        writer.string(entry.user)
        writer.string(entry.group)
        writer.varint(entry.size)
        writer.timestamp(entry.mtime)
        writer.timestamp(entry.ctime)
        writer.varint(entry.inode)
        writer.varint(entry.device)
        writer.varint(entry.links)
        writer.varint(entry.rdev)
        writer.data(entry.symlinkTarget)
        writer.varint(entry.xattrs.count)
        for xattr in entry.xattrs {
            writer.data(xattr.name)
            writer.data(xattr.value)
        }
        writer.varint(entry.content.count)
        for extent in entry.content {
            writer.id(extent.object)
            writer.varint(extent.offset)
            writer.varint(extent.length)
        }
        if let hash = entry.contentHash {
            // A delta version's hash is of bytes the extents only point into: not derivable.
            let derivable = entry.delta.map(\.isFull) ?? true
            if derivable, let contentHashPrefix, ContentHasher.hash(ofChunks: entry.content, prefix: contentHashPrefix) == hash {
                writer.byte(HashMarker.derived.rawValue)
            } else {
                writer.byte(HashMarker.recorded.rawValue)
                writer.id(hash)
            }
        } else {
            writer.byte(HashMarker.absent.rawValue)
        }
        writer.optionalID(entry.subtree)
        if let delta = entry.delta {
            writer.byte(delta.isFull ? 1 : 2)
            writer.varint(delta.deltas)
            writer.optionalID(delta.signature)
            writer.id(delta.fullSignature)
            writer.timestamp(delta.stored)
            writer.timestamp(delta.fullStored)
            writer.varint(delta.newBytes)
        } else {
            writer.byte(0)
        }
        writer.byte(entry.carried?.rawValue ?? 0)
    }

    static func decode(_ bytes: [UInt8], what: String, contentHashPrefix: [UInt8]) throws -> Tree {
        var reader = BinaryReader(bytes, what: what)
        let version = try reader.varint()
        guard (1...Self.version).contains(version) else { throw FormatError.unsupportedVersion(what, Int(clamping: version)) }
        let count = try reader.count(limit: bytes.count)
        var entries: [TreeEntry] = []
        entries.reserveCapacity(count)
        for _ in 0..<count {
            entries.append(try decodeEntry(from: &reader, version: version, what: what, limit: bytes.count, contentHashPrefix: contentHashPrefix))
        }
        guard reader.isAtEnd else { throw FormatError.malformed(what, "trailing bytes") }
        return Tree(entries: entries)
    }

    /// A stored tree's entries read one at a time, in name order, from its bytes (a folder of
    /// 100,000 files took 70 MB as a `Tree`, 11 MB as bytes). Entries out of name order (or
    /// twice) are damage: `next` throws, as for any other malformed tree.
    public struct Cursor: Sendable {
        /// How many entries it has.
        public let count: Int
        private var reader: BinaryReader
        private let version: UInt64
        private let contentHashPrefix: [UInt8]
        private var done = 0
        private var lastName: [UInt8]?

        init(_ bytes: [UInt8], what: String, contentHashPrefix: [UInt8]) throws {
            reader = BinaryReader(bytes, what: what)
            version = try reader.varint()
            guard (1...Tree.version).contains(version) else { throw FormatError.unsupportedVersion(what, Int(clamping: version)) }
            count = try reader.count(limit: bytes.count)
            self.contentHashPrefix = contentHashPrefix
        }

        /// The next entry, or nil after the last.
        public mutating func next() throws -> TreeEntry? {
            guard done < count else {
                guard reader.isAtEnd else { throw FormatError.malformed(reader.what, "trailing bytes") }
                return nil
            }
            let entry = try Tree.decodeEntry(from: &reader, version: version, what: reader.what, limit: reader.bytes.count, contentHashPrefix: contentHashPrefix)
            if let lastName, !lastName.lexicographicallyPrecedes(entry.name) { throw FormatError.malformed(reader.what, "entries not in name order") }
            lastName = entry.name
            done += 1
            return entry
        }

        /// Every entry left, as a tree.
        public mutating func tree() throws -> Tree {
            var entries: [TreeEntry] = []
            entries.reserveCapacity(count - done)
            while let entry = try next() { entries.append(entry) }
            return Tree(entries: entries)
        }
    }

    /// One entry written by `encode` in a tree of `version`; `limit` bounds its counts.
    static func decodeEntry(from reader: inout BinaryReader, version: UInt64, what: String, limit: Int, contentHashPrefix: [UInt8]) throws -> TreeEntry {
        let name = try reader.data()
        guard let kind = TreeEntry.Kind(rawValue: try reader.byte()) else { throw FormatError.malformed(what, "unknown entry type") }
        var entry = TreeEntry(name: name, kind: kind)
        entry.mode = UInt32(try reader.count(limit: Int(UInt32.max)))
        entry.uid = UInt32(try reader.count(limit: Int(UInt32.max)))
        entry.gid = UInt32(try reader.count(limit: Int(UInt32.max)))
        entry.user = try reader.string()
        entry.group = try reader.string()
        // Bounded where the value is used in arithmetic: a size fits an Int, an extent's
        // offset and length are within an object (at most 4 GiB each), so no sum traps.
        entry.size = UInt64(try reader.count())
        entry.mtime = try reader.timestamp()
        entry.ctime = try reader.timestamp()
        entry.inode = try reader.varint()
        entry.device = try reader.varint()
        entry.links = try reader.varint()
        entry.rdev = try reader.varint()
        entry.symlinkTarget = try reader.data()
        for _ in 0..<(try reader.count(limit: limit)) {
            entry.xattrs.append(TreeEntry.Xattr(name: try reader.data(), value: try reader.data()))
        }
        for _ in 0..<(try reader.count(limit: limit)) {
            entry.content.append(
                Extent(object: try reader.id(), offset: try reader.count(limit: Int(UInt32.max)), length: try reader.count(limit: Int(UInt32.max))))
        }
        switch HashMarker(rawValue: try reader.byte()) {
        case .absent: break
        case .recorded: entry.contentHash = try reader.id()
        case .derived where version >= 3 && kind == .file:
            entry.contentHash = ContentHasher.hash(ofChunks: entry.content, prefix: contentHashPrefix)
        default: throw FormatError.malformed(what, "unknown content hash marker")
        }
        entry.subtree = try reader.optionalID()
        if version >= 2 {
            let marker = try reader.byte()
            if marker == 1 || marker == 2 {
                entry.delta = DeltaInfo(
                    isFull: marker == 1, deltas: try reader.count(limit: Int(Int32.max)), signature: try reader.optionalID(),
                    fullSignature: try reader.id(), stored: try reader.timestamp(), fullStored: try reader.timestamp(),
                    newBytes: try reader.varint())
            } else if marker != 0 {
                throw FormatError.malformed(what, "unknown delta marker")
            }
        }
        if version >= 4 {
            let marker = try reader.byte()
            if marker != 0 {
                guard let carried = TreeEntry.CarriedOver(rawValue: marker) else { throw FormatError.malformed(what, "unknown carried-over mark") }
                entry.carried = carried
            }
        }
        return entry
    }
}
