/// Where every stored object is: its pack, offset and length. Loaded whole when a repository
/// is opened; about 80 bytes an object.
struct RepositoryIndex: Sendable {
    struct Location: Hashable, Sendable {
        var pack: ObjectID
        var kind: ObjectKind
        var offset: Int
        var length: Int
    }

    private var packs: [ObjectID] = []
    private var packNumbers: [ObjectID: UInt32] = [:]
    private var objects: [ObjectID: (pack: UInt32, kind: UInt8, offset: UInt32, length: UInt32)] = [:]

    var count: Int { objects.count }

    func contains(_ id: ObjectID) -> Bool { objects[id] != nil }
    func containsPack(_ pack: ObjectID) -> Bool { packNumbers[pack] != nil }

    /// Every pack an index file or a pack header named, with canonical objects or not.
    var allPacks: [ObjectID] { packs }

    func location(of id: ObjectID) -> Location? {
        guard let entry = objects[id] else { return nil }
        return Location(pack: packs[Int(entry.pack)], kind: ObjectKind(rawValue: entry.kind)!, offset: Int(entry.offset), length: Int(entry.length))
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
        for entry in entries where objects[entry.id] == nil {
            objects[entry.id] = (number, entry.kind.rawValue, UInt32(entry.offset), UInt32(entry.length))
        }
    }

    /// How many objects of each kind are stored, and their stored bytes (sealed and compressed).
    func totals() -> [ObjectKind: (count: Int, bytes: Int)] {
        var result: [ObjectKind: (count: Int, bytes: Int)] = [:]
        for entry in objects.values {
            guard let kind = ObjectKind(rawValue: entry.kind) else { continue }
            result[kind, default: (0, 0)].count += 1
            result[kind, default: (0, 0)].bytes += Int(entry.length)
        }
        return result
    }

    /// The entries of every object, grouped by pack, for writing index files and for verify.
    func entriesByPack() -> [ObjectID: [PackEntry]] {
        var result: [ObjectID: [PackEntry]] = [:]
        for (id, entry) in objects {
            result[packs[Int(entry.pack)], default: []].append(
                PackEntry(kind: ObjectKind(rawValue: entry.kind)!, id: id, offset: Int(entry.offset), length: Int(entry.length)))
        }
        return result
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
