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

    public var date: Date { Date(timeIntervalSince1970: Double(seconds) + Double(nanoseconds) / 1e9) }
    public var timespec: Foundation.timespec { Foundation.timespec(tv_sec: Int(seconds), tv_nsec: Int(nanoseconds)) }

    public static func < (l: Timestamp, r: Timestamp) -> Bool { (l.seconds, l.nanoseconds) < (r.seconds, r.nanoseconds) }

    /// For lines people read: `2026-11-22 04:13:21 UTC`.
    public var shortUTC: String { description.prefix(19).replacingOccurrences(of: "T", with: " ") + " UTC" }

    /// ISO 8601 in UTC with nanoseconds: `2026-11-22T04:13:21.123456789Z`.
    public var description: String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%09dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
            Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), Int(nanoseconds))
    }
}

extension Comparable {
    func clamped(to range: ClosedRange<Self>) -> Self { min(max(self, range.lowerBound), range.upperBound) }
}
