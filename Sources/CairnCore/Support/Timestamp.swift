import Foundation

/// A time with nanoseconds, as file systems keep it.
public struct Timestamp: Hashable, Sendable, Comparable, Codable, CustomStringConvertible {
    public var seconds: Int64
    public var nanoseconds: Int32

    public init(seconds: Int64, nanoseconds: Int32) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    public init(_ date: Date) {
        let whole = date.timeIntervalSince1970.rounded(.down)
        seconds = Int64(whole)
        nanoseconds = Int32(((date.timeIntervalSince1970 - whole) * 1e9).rounded().clamped(to: 0...999_999_999))
    }

    public init(_ time: timespec) {
        self.init(seconds: Int64(time.tv_sec), nanoseconds: Int32(time.tv_nsec))
    }

    private enum CodingKeys: String, CodingKey { case seconds, nanoseconds }

    /// Seconds and nanoseconds (the repository's files, reports, saved plans), or RFC 3339 text
    /// in UTC (`--json` output, `CodingUserInfoKey.timesAsText`).
    public init(from decoder: any Decoder) throws {
        if let single = try? decoder.singleValueContainer(), let text = try? single.decode(String.self) {
            guard let parsed = Timestamp(rfc3339: text) else {
                throw DecodingError.dataCorruptedError(in: single, debugDescription: "'\(text)' is not an RFC 3339 time in UTC")
            }
            self = parsed
            return
        }
        let container = try decoder.container(keyedBy: CodingKeys.self)
        seconds = try container.decode(Int64.self, forKey: .seconds)
        nanoseconds = try container.decode(Int32.self, forKey: .nanoseconds)
    }

    public func encode(to encoder: any Encoder) throws {
        if encoder.userInfo[.timesAsText] as? Bool == true {
            var container = encoder.singleValueContainer()
            try container.encode(description)
            return
        }
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(seconds, forKey: .seconds)
        try container.encode(nanoseconds, forKey: .nanoseconds)
    }

    /// Reads `description`'s form back: `2026-11-22T04:13:21.123456789Z` (the fraction may
    /// have 0 to 9 digits; a year past 9999 has more digits, one before year 1 a minus sign,
    /// as file systems allow such times).
    public init?(rfc3339 text: String) {
        var rest = Substring(text)
        let negative = rest.first == "-"
        if negative { rest = rest.dropFirst() }
        guard let dash = rest.firstIndex(of: "-") else { return nil }
        let yearText = rest[..<dash]
        let body = Array(rest[dash...].utf8)
        guard (4...12).contains(yearText.count), yearText.allSatisfy({ $0.isASCII && $0.isNumber }), let yearValue = Int(yearText),
            body.count >= 16, body.last == UInt8(ascii: "Z"), body[6] == UInt8(ascii: "T")
        else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= body.count, body[range].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            return body[range].reduce(0) { $0 * 10 + Int($1 - 0x30) }
        }
        // body: -MM-DDTHH:MM:SS[.fraction]Z
        guard let month = number(1..<3), body[3] == UInt8(ascii: "-"), let day = number(4..<6), let hour = number(7..<9),
            body[9] == UInt8(ascii: ":"), let minute = number(10..<12), body[12] == UInt8(ascii: ":"), let second = number(13..<15),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var nanoseconds = 0
        let fraction = body[15..<(body.count - 1)]
        if !fraction.isEmpty {
            guard fraction.first == UInt8(ascii: "."), (2...10).contains(fraction.count), let digits = number(16..<(body.count - 1)) else { return nil }
            nanoseconds = digits * Int(pow(10, Double(10 - fraction.count)))
        }
        var parts = tm()
        parts.tm_year = Int32(clamping: (negative ? -yearValue : yearValue) - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        self.init(seconds: Int64(timegm(&parts)), nanoseconds: Int32(nanoseconds))
    }

    public var date: Date { Date(timeIntervalSince1970: Double(seconds) + Double(nanoseconds) / 1e9) }
    public var timespec: Foundation.timespec { Foundation.timespec(tv_sec: Int(seconds), tv_nsec: Int(nanoseconds)) }

    public static func < (l: Timestamp, r: Timestamp) -> Bool { (l.seconds, l.nanoseconds) < (r.seconds, r.nanoseconds) }

    /// ISO 8601 in UTC with nanoseconds: `2026-11-22T04:13:21.123456789Z`.
    public var description: String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        let year = Int(parts.tm_year) + 1900
        // Digits written by hand in the usual range: String(format:) took a quarter of the
        // time of writing a plan of a million files as JSON (two times an entry).
        if (0...9999).contains(year), (0..<1_000_000_000).contains(nanoseconds) {
            var bytes = [UInt8](repeating: UInt8(ascii: "0"), count: 30)
            func put(_ value: Int, at end: Int, width: Int) {
                var value = value
                for index in stride(from: end - 1, through: end - width, by: -1) {
                    bytes[index] = UInt8(ascii: "0") + UInt8(value % 10)
                    value /= 10
                }
            }
            put(year, at: 4, width: 4)
            put(Int(parts.tm_mon) + 1, at: 7, width: 2)
            put(Int(parts.tm_mday), at: 10, width: 2)
            put(Int(parts.tm_hour), at: 13, width: 2)
            put(Int(parts.tm_min), at: 16, width: 2)
            put(Int(parts.tm_sec), at: 19, width: 2)
            put(Int(nanoseconds), at: 29, width: 9)
            for (index, byte) in [(4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":"), (19, "."), (29, "Z")] as [(Int, Unicode.Scalar)] {
                bytes[index] = UInt8(ascii: byte)
            }
            return String(decoding: bytes, as: UTF8.self)
        }
        return String(
            format: "%@%04d-%02d-%02dT%02d:%02d:%02d.%09dZ", year < 0 ? "-" : "", abs(year), Int(parts.tm_mon) + 1, Int(parts.tm_mday),
            Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), Int(nanoseconds))
    }
}

extension Comparable {
    func clamped(to range: ClosedRange<Self>) -> Self { min(max(self, range.lowerBound), range.upperBound) }
}
