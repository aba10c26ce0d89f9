import Foundation

/// A path as the kernel gives it: bytes, not a `String`, so that names that are not valid
/// UTF-8, or that differ only in Unicode normalisation, stay distinct.
public struct FilePath: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public init(_ string: String) { self.bytes = Array(string.utf8) }

    public static let root = FilePath("/")

    public func appending(_ name: [UInt8]) -> FilePath {
        FilePath(bytes == [0x2F] ? [0x2F] + name : bytes + [0x2F] + name)
    }

    /// The names from the root: `/a/b` is `["a", "b"]`.
    public var components: [[UInt8]] {
        bytes.split(separator: 0x2F, omittingEmptySubsequences: true).map(Array.init)
    }

    /// The last name (`components.last`), without splitting the whole path (the scan asks it of
    /// every entry).
    public var name: [UInt8] {
        var end = bytes.count
        while end > 0, bytes[end - 1] == 0x2F { end -= 1 }
        var start = end
        while start > 0, bytes[start - 1] != 0x2F { start -= 1 }
        return Array(bytes[start..<end])
    }

    /// Whether this path is `other` or inside it.
    public func isInside(_ other: FilePath) -> Bool {
        other.bytes == [0x2F] || bytes == other.bytes || (bytes.starts(with: other.bytes) && bytes.count > other.bytes.count && bytes[other.bytes.count] == 0x2F)
    }

    /// Calls `body` with a NUL-terminated copy for C functions.
    public func withCString<R>(_ body: (UnsafePointer<CChar>) throws -> R) rethrows -> R {
        try (bytes + [0]).withUnsafeBufferPointer { buffer in
            try buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) { try body($0) }
        }
    }

    /// For people: UTF-8 as it is, other bytes escaped as `\xNN`, control characters escaped.
    public var description: String { Self.display(bytes) }

    /// A path typed back as `display` shows it: `\xNN` is that byte, `\\` a backslash; any
    /// other backslash is itself. So a name that is not UTF-8 (`bad\xFF.txt`) can be named
    /// on the command line, and one that holds `\xFF` as text (`bad\\xFF.txt`) too.
    public init(typed text: String) {
        let characters = Array(text.utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(characters.count)
        var index = 0
        func hex(_ byte: UInt8) -> UInt8? {
            switch byte {
            case 0x30...0x39: return byte - 0x30
            case 0x41...0x46: return byte - 0x41 + 10
            case 0x61...0x66: return byte - 0x61 + 10
            default: return nil
            }
        }
        while index < characters.count {
            let byte = characters[index]
            if byte == 0x5C, index + 1 < characters.count {
                if characters[index + 1] == 0x5C {
                    bytes.append(0x5C)
                    index += 2
                    continue
                }
                if characters[index + 1] == 0x78, index + 3 < characters.count, let high = hex(characters[index + 2]), let low = hex(characters[index + 3]) {
                    bytes.append(high << 4 | low)
                    index += 4
                    continue
                }
            }
            bytes.append(byte)
            index += 1
        }
        self.bytes = bytes
    }

    public static func display(_ bytes: [UInt8]) -> String {
        // Most names need no escaping: valid UTF-8 without control characters or backslashes
        // (in UTF-8 those are single bytes, never part of a longer sequence).
        if !bytes.contains(where: { $0 < 0x20 || $0 == 0x7F || $0 == 0x5C }), let text = String(validating: bytes, as: UTF8.self) {
            return text
        }
        var result = ""
        var index = 0
        while index < bytes.count {
            let length = utf8SequenceLength(bytes, at: index)
            if length > 0, let text = String(validating: bytes[index..<index + length], as: UTF8.self), text.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) {
                if text == "\\" { result += "\\\\" } else { result += text }
                index += length
            } else {
                result += String(format: "\\x%02X", bytes[index])
                index += 1
            }
        }
        return result
    }

    private static func utf8SequenceLength(_ bytes: [UInt8], at index: Int) -> Int {
        let first = bytes[index]
        let length = first < 0x80 ? 1 : first >> 5 == 0x6 ? 2 : first >> 4 == 0xE ? 3 : first >> 3 == 0x1E ? 4 : 0
        return index + length <= bytes.count ? length : 0
    }

    public static func < (l: FilePath, r: FilePath) -> Bool { l.bytes.lexicographicallyPrecedes(r.bytes) }
}
