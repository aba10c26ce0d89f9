import Foundation

/// A 32-byte identifier: the keyed hash of an object's plaintext, or a random id for files
/// such as snapshots. Held as four words so the index stays small.
public struct ObjectID: Hashable, Sendable, Comparable, CustomStringConvertible {
    var a: UInt64, b: UInt64, c: UInt64, d: UInt64

    public static let size = 32

    init(words a: UInt64, _ b: UInt64, _ c: UInt64, _ d: UInt64) {
        (self.a, self.b, self.c, self.d) = (a, b, c, d)
    }

    public init(_ bytes: [UInt8]) {
        precondition(bytes.count == Self.size, "an object id is 32 bytes")
        self = bytes.withUnsafeBytes { ObjectID(raw: $0) }
    }

    /// The id in the first 32 bytes of `raw` (which has at least that many).
    init(raw: UnsafeRawBufferPointer) {
        precondition(raw.count >= Self.size, "an object id is 32 bytes")
        func word(_ at: Int) -> UInt64 { UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
        (a, b, c, d) = (word(0), word(8), word(16), word(24))
    }

    public init?(hex: String) {
        let bytes = Array(hex.utf8)
        guard bytes.count == 64 else { return nil }
        var result = [UInt8]()
        result.reserveCapacity(32)
        var index = 0
        while index < 64 {
            guard let high = Self.nibble(bytes[index]), let low = Self.nibble(bytes[index + 1]) else { return nil }
            result.append(high << 4 | low)
            index += 2
        }
        self.init(result)
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        default: return nil
        }
    }

    public static func random() throws -> ObjectID { ObjectID(try SecureRandom.bytes(size)) }

    public var bytes: [UInt8] {
        withBytes { Array($0) }
    }

    /// Calls `body` with the id's 32 bytes, without making an array of them (ids are written
    /// for every object sealed, every tree entry and every file's content hash).
    func withBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        var words = (a.bigEndian, b.bigEndian, c.bigEndian, d.bigEndian)
        return try withUnsafeBytes(of: &words) { try body($0) }
    }

    /// Appends the id's 32 bytes to `array`.
    func append(to array: inout [UInt8]) {
        withBytes { array.append(contentsOf: $0) }
    }

    public var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(64)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The first 8 hex digits, as people see ids.
    public var short: String { String(hex.prefix(8)) }
    public var description: String { hex }

    public static func < (l: ObjectID, r: ObjectID) -> Bool { (l.a, l.b, l.c, l.d) < (r.a, r.b, r.c, r.d) }
}
