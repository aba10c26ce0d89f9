/// The compact binary encoding of trees, pack headers and indexes (docs/FORMAT.md): unsigned
/// LEB128 varints, length-prefixed byte strings, and fixed 32-byte ids.
struct BinaryWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    mutating func byte(_ value: UInt8) { bytes.append(value) }

    mutating func varint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    mutating func varint(_ value: Int) { varint(UInt64(value)) }

    /// A signed value, zigzag-encoded (times before 1970 are negative).
    mutating func signed(_ value: Int64) { varint(UInt64(bitPattern: (value << 1) ^ (value >> 63))) }

    mutating func data(_ value: [UInt8]) {
        varint(value.count)
        bytes += value
    }

    mutating func string(_ value: String) { data(Array(value.utf8)) }

    mutating func id(_ value: ObjectID) { value.append(to: &bytes) }

    mutating func raw(_ value: [UInt8]) { bytes += value }

    mutating func raw(_ value: ArraySlice<UInt8>) { bytes += value }

    /// Replaces the first `count` bytes with `replacement` in the same buffer (the rest moves
    /// within it: no second buffer).
    mutating func replacePrefix(_ count: Int, with replacement: [UInt8]) {
        bytes.replaceSubrange(0..<count, with: replacement)
    }

    /// Zigzag seconds, then nanoseconds.
    mutating func timestamp(_ value: Timestamp) {
        signed(value.seconds)
        varint(UInt64(value.nanoseconds))
    }

    /// A byte 0, or 1 and the id.
    mutating func optionalID(_ value: ObjectID?) {
        if let value {
            byte(1)
            id(value)
        } else {
            byte(0)
        }
    }

    mutating func uint32LE(_ value: UInt32) {
        for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }
}

/// Reads what `BinaryWriter` wrote; every read is bounds-checked, so damaged or hostile input
/// ends in `FormatError`, never a crash.
struct BinaryReader {
    let bytes: [UInt8]
    private(set) var position: Int
    let end: Int
    let what: String

    init(_ bytes: [UInt8], what: String, range: Range<Int>? = nil) {
        self.bytes = bytes
        self.position = range?.lowerBound ?? 0
        self.end = range?.upperBound ?? bytes.count
        self.what = what
    }

    var isAtEnd: Bool { position >= end }

    mutating func byte() throws -> UInt8 {
        guard position < end else { throw FormatError.truncated(what) }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func varint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let next = try byte()
            guard shift < 64 else { throw FormatError.malformed(what, "a number is too long") }
            result |= UInt64(next & 0x7F) << shift
            if next & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// A varint that must fit an `Int` and be at most `limit`.
    mutating func count(limit: Int = Int.max) throws -> Int {
        let value = try varint()
        guard value <= UInt64(limit) else { throw FormatError.malformed(what, "a count of \(value) is out of range") }
        return Int(value)
    }

    mutating func signed() throws -> Int64 {
        let raw = try varint()
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    mutating func data() throws -> [UInt8] {
        // The limit is what is left after the length itself is read.
        let length = try count()
        guard length <= end - position else { throw FormatError.truncated(what) }
        defer { position += length }
        return Array(bytes[position..<position + length])
    }

    mutating func string() throws -> String {
        let raw = try data()
        guard let text = String(validating: raw, as: UTF8.self) else { throw FormatError.malformed(what, "text is not UTF-8") }
        return text
    }

    mutating func timestamp() throws -> Timestamp {
        Timestamp(seconds: try signed(), nanoseconds: Int32(try count(limit: 999_999_999)))
    }

    mutating func optionalID() throws -> ObjectID? {
        try byte() == 1 ? try id() : nil
    }

    mutating func raw(_ count: Int) throws -> [UInt8] {
        guard count >= 0, end - position >= count else { throw FormatError.truncated(what) }
        defer { position += count }
        return Array(bytes[position..<position + count])
    }

    mutating func id() throws -> ObjectID {
        guard end - position >= ObjectID.size else { throw FormatError.truncated(what) }
        defer { position += ObjectID.size }
        return bytes.withUnsafeBytes { ObjectID(raw: UnsafeRawBufferPointer(rebasing: $0[position..<position + ObjectID.size])) }
    }
}

/// A repository file whose structure is wrong: damage, or a format this version cannot read.
public enum FormatError: Error, Equatable, CustomStringConvertible {
    case truncated(String)
    case malformed(String, String)
    case unsupportedVersion(String, Int)

    public var description: String {
        switch self {
        case .truncated(let what): return "\(what) is truncated"
        case .malformed(let what, let why): return "\(what) is malformed: \(why)"
        case .unsupportedVersion(let what, let version): return "\(what) has format version \(version), which this cairn cannot read; upgrade cairn"
        }
    }
}
