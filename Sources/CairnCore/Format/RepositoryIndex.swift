#if canImport(Glibc)
    import Glibc
#endif

/// Where every stored object is: its pack, offset and length. Loaded whole when a repository
/// is opened, in 24 bytes an object: a table sorted by the first 7 bytes of each id
/// (`Table`), with the pack, offset and length, and the number of the full id in an `IDFile`
/// beside it on this machine's disk (read back to confirm a match). The objects added since the
/// table was last sorted wait in a small dictionary. (A dictionary of every object took 64 to
/// 128 bytes each, and a table of full ids 48 bytes: 51 MB at a million objects.)
struct RepositoryIndex: Sendable {
    struct Location: Hashable, Sendable {
        var pack: ObjectID
        var kind: ObjectKind
        var offset: Int
        var length: Int
    }

    struct IndexValue: Sendable {
        var pack: UInt32
        var kind: UInt8
        var offset: UInt32
        var length: UInt32
    }

    /// One object in the table: `key` is the id's first 7 bytes, then its kind; `ordinal` is
    /// where its full id is in the id file.
    struct Record: Sendable {
        var key: UInt64
        var pack: UInt32
        var offset: UInt32
        var length: UInt32
        var ordinal: UInt32

        var value: IndexValue { IndexValue(pack: pack, kind: UInt8(truncatingIfNeeded: key), offset: offset, length: length) }

        static func key(_ id: ObjectID, kind: UInt8) -> UInt64 { id.a & ~0xFF | UInt64(kind) }
    }

    /// The fewest objects added before they are sorted into the table: at least this many, and
    /// a sixteenth of the table (merges grow with it, so adding n objects moves about 16n
    /// records, not n² / 32,768: a flat bound took 36 GB of copying to open ten million).
    static let recentLimit = 1 << 15

    private var packs: [ObjectID] = []
    private var packNumbers: [ObjectID: UInt32] = [:]
    /// Every object but the recent ones, sorted by `key`.
    private var table = Table()
    /// Objects added since the table was last merged with them.
    private var recent: [ObjectID: IndexValue] = [:]
    /// The full ids of the table's objects; shared by copies (only ever appended to).
    let ids: IDFile

    /// An empty index whose full ids go to a file in `spillFolder` (the run's $TMPDIR, or /tmp).
    init(spillFolder: String = "/tmp") {
        ids = IDFile(in: spillFolder)
    }

    var count: Int { table.count + recent.count }

    func contains(_ id: ObjectID) -> Bool { value(of: id) != nil }
    func containsPack(_ pack: ObjectID) -> Bool { packNumbers[pack] != nil }

    /// Every pack an index file or a pack header named, with canonical objects or not.
    var allPacks: [ObjectID] { packs }

    func location(of id: ObjectID) -> Location? {
        guard let entry = value(of: id), let kind = ObjectKind(rawValue: entry.kind) else { return nil }
        return Location(pack: packs[Int(entry.pack)], kind: kind, offset: Int(entry.offset), length: Int(entry.length))
    }

    private func value(of id: ObjectID) -> IndexValue? {
        recent[id] ?? table.find(id, ids: ids)
    }

    mutating func add(pack: ObjectID, entries: [PackEntry]) {
        let number: UInt32
        if let existing = packNumbers[pack] {
            number = existing
        } else {
            number = UInt32(packs.count)
            packs.append(pack)
            packNumbers[pack] = number
        }
        for entry in entries where value(of: entry.id) == nil {
            recent[entry.id] = IndexValue(pack: number, kind: entry.kind.rawValue, offset: UInt32(entry.offset), length: UInt32(entry.length))
            if recent.count >= max(Self.recentLimit, table.count / 16) { mergeRecent() }
        }
    }

    /// Moves the recent objects into the table, their full ids into the id file: at a million
    /// objects, 65,536 wait at most (6 MB).
    private mutating func mergeRecent() {
        guard !recent.isEmpty else { return }
        var added: [Record] = []
        added.reserveCapacity(recent.count)
        for (id, value) in recent {
            added.append(
                Record(key: Record.key(id, kind: value.kind), pack: value.pack, offset: value.offset, length: value.length, ordinal: ids.append(id)))
        }
        added.sort { $0.key < $1.key }
        if !isKnownUniquelyReferenced(&table) { table = table.copy() }
        table.merge(added)
        recent.removeAll(keepingCapacity: true)
    }

    /// Every object, in no particular order; an id file that cannot be read back whole is an
    /// error (verify and prune act on what is not listed).
    private func forEach(_ body: (ObjectID, IndexValue) -> Void) throws(IDFile.Failure) {
        if table.count > 0 {
            let all = try ids.all()
            table.forEach { record in body(all[Int(record.ordinal)], record.value) }
        }
        for (id, value) in recent { body(id, value) }
    }

    /// How many objects of each kind are stored, and their stored bytes (sealed and compressed).
    func totals() -> [ObjectKind: (count: Int, bytes: Int)] {
        var result: [ObjectKind: (count: Int, bytes: Int)] = [:]
        func count(_ entry: IndexValue) {
            guard let kind = ObjectKind(rawValue: entry.kind) else { return }
            result[kind, default: (0, 0)].count += 1
            result[kind, default: (0, 0)].bytes += Int(entry.length)
        }
        table.forEach { count($0.value) }
        for value in recent.values { count(value) }
        return result
    }

    /// Where the objects of `kind` are, by pack (in the order packs were added), each pack's
    /// ranges sorted and joined across gaps of up to `gap` bytes; no ids are read.
    func ranges(of kind: ObjectKind, gap: Int = 32 << 10) -> [(pack: ObjectID, ranges: [Range<Int>])] {
        var byPack: [UInt32: [Range<Int>]] = [:]
        func take(_ value: IndexValue) {
            guard value.kind == kind.rawValue else { return }
            byPack[value.pack, default: []].append(Int(value.offset)..<Int(value.offset) + Int(value.length))
        }
        table.forEach { take($0.value) }
        for value in recent.values { take(value) }
        return byPack.keys.sorted().map { number in (packs[Int(number)], Self.joined(byPack[number]!, gap: gap)) }
    }

    /// `ranges` sorted, those less than `gap` bytes apart joined into one.
    static func joined(_ ranges: [Range<Int>], gap: Int) -> [Range<Int>] {
        var joined: [Range<Int>] = []
        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = joined.last, range.lowerBound <= last.upperBound + gap {
                joined[joined.count - 1] = last.lowerBound..<max(last.upperBound, range.upperBound)
            } else {
                joined.append(range)
            }
        }
        return joined
    }

    /// The entries of every object, grouped by pack, for writing index files and for verify.
    func entriesByPack() throws(IDFile.Failure) -> [ObjectID: [PackEntry]] {
        var result: [ObjectID: [PackEntry]] = [:]
        try forEach { id, entry in
            result[packs[Int(entry.pack)], default: []].append(
                PackEntry(kind: ObjectKind(rawValue: entry.kind)!, id: id, offset: Int(entry.offset), length: Int(entry.length)))
        }
        return result
    }

    /// Records sorted by key in memory of their own (malloc), grown with realloc: a large table
    /// grows by remapping its pages, never held twice while it is copied, as an array would be.
    final class Table: @unchecked Sendable {
        private var records: UnsafeMutablePointer<Record>?
        private(set) var count = 0
        private var capacity = 0

        init() {}

        deinit { free(records) }

        func copy() -> Table {
            let copy = Table()
            copy.reserve(count)
            if count > 0 { copy.records!.initialize(from: records!, count: count) }
            copy.count = count
            return copy
        }

        private func reserve(_ wanted: Int) {
            guard wanted > capacity else { return }
            // An eighth more than needed, so merges of a growing table do not remap every time.
            let grown = max(wanted, capacity + capacity / 8, 1024)
            guard let memory = realloc(records, grown * MemoryLayout<Record>.stride) else {
                fatalError("out of memory for the repository index (\(grown) objects)")
            }
            records = memory.assumingMemoryBound(to: Record.self)
            capacity = grown
        }

        /// The value of `id`: among the records whose key has its first 7 bytes, the one whose
        /// full id is `id` (two ids share 7 bytes about once in 10^16 pairs).
        func find(_ id: ObjectID, ids: IDFile) -> IndexValue? {
            guard let records else { return nil }
            let prefix = id.a >> 8
            var low = 0, high = count
            while low < high {
                let middle = (low + high) / 2
                if records[middle].key >> 8 < prefix { low = middle + 1 } else { high = middle }
            }
            while low < count, records[low].key >> 8 == prefix {
                if ids.id(at: records[low].ordinal) == id { return records[low].value }
                low += 1
            }
            return nil
        }

        /// Merges `added` (sorted by key, none of them in the table) in place, from the back.
        func merge(_ added: [Record]) {
            guard !added.isEmpty else { return }
            reserve(count + added.count)
            let records = self.records!
            var old = count - 1, new = added.count - 1, to = count + added.count - 1
            while new >= 0 {
                if old >= 0 && added[new].key < records[old].key {
                    (records + to).initialize(to: records[old])
                    old -= 1
                } else {
                    (records + to).initialize(to: added[new])
                    new -= 1
                }
                to -= 1
            }
            count += added.count
        }

        func forEach(_ body: (Record) -> Void) {
            for index in 0..<count { body(records![index]) }
        }
    }

    /// An index file's plaintext: version, then each pack with its entries.
    static func encode(_ packs: [(id: ObjectID, entries: [PackEntry])]) -> [UInt8] {
        var writer = BinaryWriter(capacity: packs.reduce(0) { $0 + 40 + $1.entries.count * 42 })
        writer.varint(1)
        writer.varint(packs.count)
        for pack in packs {
            writer.id(pack.id)
            writer.varint(pack.entries.count)
            for entry in pack.entries {
                writer.byte(entry.kind.rawValue)
                writer.id(entry.id)
                writer.varint(entry.offset)
                writer.varint(entry.length)
            }
        }
        return writer.bytes
    }

    static func decode(_ bytes: [UInt8], what: String) throws -> [(id: ObjectID, entries: [PackEntry])] {
        var reader = BinaryReader(bytes, what: what)
        let version = try reader.count()
        guard version == 1 else { throw FormatError.unsupportedVersion(what, version) }
        var packs: [(ObjectID, [PackEntry])] = []
        for _ in 0..<(try reader.count(limit: bytes.count)) {
            let pack = try reader.id()
            var entries: [PackEntry] = []
            for _ in 0..<(try reader.count(limit: bytes.count)) {
                guard let kind = ObjectKind(rawValue: try reader.byte()) else { throw FormatError.malformed(what, "unknown object kind") }
                entries.append(PackEntry(kind: kind, id: try reader.id(), offset: try reader.count(limit: Int(UInt32.max)), length: try reader.count(limit: Int(UInt32.max))))
            }
            packs.append((pack, entries))
        }
        return packs
    }
}
