import Foundation

/// How cairn prints a time for people, in one style everywhere (listings, reports, plans,
/// errors): `2026-11-29 20:35:12 +01:00` in the config's time zone with its offset, or
/// `2026-11-29 19:35:12 UTC` with `--utc`. `--at` reads every such time back
/// (`SnapshotChoice.parseTime`), to the end of its second.
public struct TimeText: Sendable {
    public var zone: TimeZone
    public var utc: Bool

    public init(zone: TimeZone, utc: Bool = false) {
        self.zone = zone
        self.utc = utc
    }

    /// UTC, for text written where no config says a zone.
    public static let utc = TimeText(zone: TimeZone(secondsFromGMT: 0)!, utc: true)

    /// The width of a time in columns: the same for every time of one style.
    public var width: Int { utc ? 23 : 26 }

    public func callAsFunction(_ date: Date) -> String { self(Timestamp(date)) }

    public func callAsFunction(_ time: Timestamp) -> String {
        let offset = utc ? 0 : zone.secondsFromGMT(for: time.date)
        var shifted = time_t(time.seconds + Int64(offset))
        var parts = tm()
        gmtime_r(&shifted, &parts)
        let clock = String(
            format: "%04d-%02d-%02d %02d:%02d:%02d", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
            Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
        if utc { return clock + " UTC" }
        let size = abs(offset)
        return clock + String(format: " %@%02d:%02d", offset < 0 ? "-" : "+", size / 3600, size % 3600 / 60)
    }

    /// `text` with each RFC 3339 UTC time in it (`Timestamp.description`'s form, as reasons in
    /// plans keep them) written in this style.
    public func restyle(_ text: String) -> String {
        guard text.contains("Z") else { return text }
        var result = ""
        var rest = Substring(text)
        while let match = rest.firstMatch(of: Self.rfc3339Pattern) {
            result += rest[..<match.range.lowerBound]
            let found = String(rest[match.range])
            result += Timestamp(rfc3339: found).map { self($0) } ?? found
            rest = rest[match.range.upperBound...]
        }
        return result + rest
    }

    nonisolated(unsafe) static let rfc3339Pattern = #/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}Z/#

    /// The time for JSON: RFC 3339 in UTC with nanoseconds, whatever the style
    /// (`2026-11-29T19:35:12.930000000Z`).
    public static func rfc3339(_ time: Timestamp) -> String { time.description }
}

extension CodingUserInfoKey {
    /// Set (to true) on the encoder of cairn's `--json` output: times are then RFC 3339 text in
    /// UTC with nanoseconds, where the repository's own files keep seconds and nanoseconds.
    public static let timesAsText = CodingUserInfoKey(rawValue: "cairn.times-as-text")!
}

/// The encoder of every `--json` document: sorted keys, indented, times as RFC 3339 UTC text
/// with nanoseconds (`Timestamp` and `Date` alike).
public enum JSONOutput {
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.userInfo[.timesAsText] = true
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Timestamp(date).description)
        }
        return encoder
    }

    /// Several documents as one: arrays joined into one array, anything else listed in one.
    public static func joined(_ documents: [String]) -> String {
        let parsed = documents.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8), options: [.fragmentsAllowed]) }
        let items: [Any] = parsed.allSatisfy { $0 is [Any] } ? parsed.flatMap { $0 as! [Any] } : parsed
        guard let data = try? JSONSerialization.data(withJSONObject: items, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]) else {
            return "[]"
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// `value` as a JSON document, ended by a newline.
    public static func text<Value: Encodable>(_ value: Value) throws -> String {
        String(decoding: try encoder().encode(value), as: UTF8.self)
    }
}
