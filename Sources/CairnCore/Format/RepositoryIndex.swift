#if canImport(Glibc)
    import Glibc
#endif

/// Where every stored object is: its pack, offset and length. Loaded whole when a repository
/// is opened: 48 bytes an object in a table sorted by id (`Table`), the objects added since it
/// was last sorted in a small dictionary beside it. (A dictionary of every object took 64 to
/// 128 bytes each, and twice that for a moment each time it grew: 150 MB at a million objects.)
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

    struct IndexRecord: Sendable {
        var id: ObjectID
        var value: IndexValue
    }

    private var packs: [ObjectID] = []
    private var packNumbers: [ObjectID: UInt32] = [:]
    /// Every object but the recent ones, sorted by id.
    private var table = Table()
    /// Objects added since the table was last merged with them.
    private var recent: [ObjectID: IndexValue] = [:]

    var count: Int { table.count + recent.count }

    func contains(_ id: ObjectID) -> Bool { value(of: id) != nil }
    func containsPack(_ pack: ObjectID) -> Bool { packNumbers[pack] != nil }

    /// Every pack an index file or a pack header named, with canonical objects or not.
    var allPacks: [ObjectID] { packs }

    func location(of id: ObjectID) -> Location? {
        guard let entry = value(of: id) else { return nil }
        return Location(pack: packs[Int(entry.pack)], kind: ObjectKind(rawValue: entry.kind)!, offset: Int(entry.offset), length: Int(entry.length))
    }

    private func value(of id: ObjectID) -> IndexValue? {
        recent[id] ?? table.find(id)
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
        }
        // Merged once the recent ones are an eighth of the table (at least 65,536): a backup of
        // a million new objects merges about 20 times, each a pass over the table.
        if recent.count >= max(1 << 16, table.count / 8) { mergeRecent() }
    }

    /// Moves the recent objects into the table.
    private mutating func mergeRecent() {
        guard !recent.isEmpty else { return }
        let added = recent.map { IndexRecord(id: $0.key, value: $0.value) }.sorted { $0.id < $1.id }
        if !isKnownUniquelyReferenced(&table) { table = table.copy() }
        table.merge(added)
        recent.removeAll(keepingCapacity: true)
    }

    /// Every object, in no particular order.
    private func forEach(_ body: (ObjectID, IndexValue) -> Void) {
        table.forEach(body)
        for (id, value) in recent { body(id, value) }
    }

    /// How many objects of each kind are stored, and their stored bytes (sealed and compressed).
    func totals() -> [ObjectKind: (count: Int, bytes: Int)] {
        var result: [ObjectKind: (count: Int, bytes: Int)] = [:]
        forEach { _, entry in
            guard let kind = ObjectKind(rawValue: entry.kind) else { return }
            result[kind, default: (0, 0)].count += 1
            result[kind, default: (0, 0)].bytes += Int(entry.length)
        }
        return result
    }

    /// The entries of every object, grouped by pack, for writing index files and for verify.
    func entriesByPack() -> [ObjectID: [PackEntry]] {
        var result: [ObjectID: [PackEntry]] = [:]
        forEach { id, entry in
            result[packs[Int(entry.pack)], default: []].append(
                PackEntry(kind: ObjectKind(rawValue: entry.kind)!, id: id, offset: Int(entry.offset), length: Int(entry.length)))
        }
        return result
    }

    /// Records sorted by id in memory of their own (malloc), grown with realloc: a large table
    /// grows by remapping its pages, never held twice while it is copied, as an array would be.
    final class Table: @unchecked Sendable {
        private var records: UnsafeMutablePointer<IndexRecord>?
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
            // A quarter more than needed, so merges of a growing table do not remap every time.
            let grown = max(wanted, capacity + capacity / 4, 1024)
            guard let memory = realloc(records, grown * MemoryLayout<IndexRecord>.stride) else {
                fatalError("out of memory for the repository index (\(grown) objects)")
            }
            records = memory.assumingMemoryBound(to: IndexRecord.self)
            capacity = grown
        }

        func find(_ id: ObjectID) -> IndexValue? {
            guard let records else { return nil }
            var low = 0, high = count
            while low < high {
                let middle = (low + high) / 2
                let found = records[middle].id
                if found == id { return records[middle].value }
                if found < id { low = middle + 1 } else { high = middle }
            }
            return nil
        }

        /// Merges `added` (sorted, none of them in the table) in place, from the back.
        func merge(_ added: [IndexRecord]) {
            guard !added.isEmpty else { return }
            reserve(count + added.count)
            let records = self.records!
            var old = count - 1, new = added.count - 1, to = count + added.count - 1
            while new >= 0 {
                if old >= 0 && added[new].id < records[old].id {
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

        func forEach(_ body: (ObjectID, IndexValue) -> Void) {
            for index in 0..<count { body(records![index].id, records![index].value) }
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
