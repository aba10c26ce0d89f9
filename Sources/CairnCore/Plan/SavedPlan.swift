import Foundation

/// The document `cairn plan --json` prints and `cairn plan --out FILE` writes: the plans of the
/// sets, and what they were based on, so `cairn apply --plan FILE` can refuse when that changed.
/// docs/PLAN-JSON.md describes it; its `version` changes when its meaning does.
public struct SavedPlan: Codable, Sendable, Equatable {
    public static let formatName = "cairn-plan"
    /// 2: times are RFC 3339 text in UTC with nanoseconds, as in every --json output (1 wrote
    /// them as seconds and nanoseconds; still read).
    public static let currentVersion = 2
    static let readableVersions = 1...2

    public var format: String
    public var version: Int
    public var created: Timestamp
    public var host: String
    /// SHA-256 of the normalised config (`cairn validate --show --json`), so a formatting change
    /// is no change but any change of meaning is.
    public var configDigest: String
    public var plans: [BackupPlan]

    public init(created: Date, host: String, configDigest: String, plans: [BackupPlan]) {
        format = Self.formatName
        version = Self.currentVersion
        self.created = Timestamp(created)
        self.host = host
        self.configDigest = configDigest
        self.plans = plans
    }

    public static let encoder: JSONEncoder = makeEncoder()

    static func makeEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.userInfo[.timesAsText] = true
        return encoder
    }

    public func json() throws -> String {
        var text = ""
        try writeJSON { text += $0 }
        return text
    }

    /// The document as `json()` gives it, in pieces handed to `output`: each plan's actions are
    /// read from their spill file and written one at a time (a plan of a million files is never
    /// held as JSON text). The document is encoded with a marker in place of each plan's
    /// actions, and the actions are written where the marker is, indented as it is.
    public func writeJSON(_ output: (String) throws -> Void) throws {
        let splice = ActionSplice()
        let encoder = Self.makeEncoder()
        encoder.userInfo[.actionSplice] = splice
        let text = String(decoding: try encoder.encode(self), as: UTF8.self)
        var rest = Substring(text)
        let element = Self.makeEncoder()
        for (marker, actions) in splice.registered {
            guard let range = rest.range(of: "\"\(marker)\"") else {
                throw EncodingError.invalidValue(marker, EncodingError.Context(codingPath: [], debugDescription: "a plan's actions were not where they were to be written"))
            }
            let before = rest[..<range.lowerBound]
            try output(String(before))
            let lineStart = before.lastIndex(of: "\n").map { before.index(after: $0) } ?? before.startIndex
            let indent = String(before[lineStart...].prefix { $0 == " " })
            if actions.isEmpty {
                try output("[\n\n\(indent)]")
            } else {
                var first = true
                var reader = actions.reader()
                while let action = try reader.next() {
                    let lines = String(decoding: try element.encode(action), as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
                    try output((first ? "[\n" : ",\n") + lines.map { indent + "  " + $0 }.joined(separator: "\n"))
                    first = false
                }
                try output("\n\(indent)]")
            }
            rest = rest[range.upperBound...]
        }
        try output(String(rest))
    }

    /// The plans' actions met while encoding, each given a marker to stand for it.
    final class ActionSplice: @unchecked Sendable {
        private let prefix = "cairn-actions-\(UInt64.random(in: 0...UInt64.max))-"
        var registered: [(marker: String, actions: PlanActions)] = []

        func register(_ actions: PlanActions) -> String {
            let marker = prefix + String(registered.count)
            registered.append((marker, actions))
            return marker
        }
    }

    public enum Failure: Error, CustomStringConvertible, Equatable {
        case unreadable(String, String)
        case unsupported(String, Int)

        public var description: String {
            switch self {
            case .unreadable(let path, let why): return "\(path) is not a cairn plan: \(why)"
            case .unsupported(let path, let version): return "\(path) is a plan of format version \(version), which this cairn cannot apply"
            }
        }
    }
}

extension CodingUserInfoKey {
    /// A `SavedPlan.ActionSplice`: actions are encoded as a marker, to be written in its place.
    static let actionSplice = CodingUserInfoKey(rawValue: "cairn.action-splice")!
}

extension Config {
    /// SHA-256 of the normalised config, in hex.
    public var digest: String {
        ObjectID(Hashing.sha256(Array(normalized.json().utf8))).hex
    }
}
