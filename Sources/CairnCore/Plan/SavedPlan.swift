import Foundation

/// The document `cairn plan --json` prints and `cairn plan --out FILE` writes: the plans of the
/// sets, and what they were based on, so `cairn apply --plan FILE` can refuse when that changed.
/// docs/PLAN-JSON.md describes it; its `version` changes when its meaning does.
public struct SavedPlan: Codable, Sendable, Equatable {
    public static let formatName = "cairn-plan"
    /// 3: every action has a fingerprint (a folder's with its mode and owner), in the order of
    /// the walk; apply --plan checks what it carries out against them. 2 (times as RFC 3339
    /// text) and 1 (times as seconds and nanoseconds, actions in another order) had them for
    /// files only, and are refused: a plan is made again in a moment.
    public static let currentVersion = 3
    static let readableVersions = 3...3

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
                var bytes: [UInt8] = []
                let inner = Array((indent + "  ").utf8)
                while let action = try reader.next() {
                    bytes.append(contentsOf: first ? Array("[\n".utf8) : Array(",\n".utf8))
                    first = false
                    if !ActionJSON.append(action, indent: inner, to: &bytes) {
                        let lines = String(decoding: try element.encode(action), as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
                        bytes.append(contentsOf: Array(lines.map { indent + "  " + $0 }.joined(separator: "\n").utf8))
                    }
                    if bytes.count >= 1 << 16 {
                        try output(String(decoding: bytes, as: UTF8.self))
                        bytes.removeAll(keepingCapacity: true)
                    }
                }
                try output(String(decoding: bytes, as: UTF8.self) + "\n\(indent)]")
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

/// One action as `SavedPlan`'s encoder writes it (pretty printed, keys sorted and in snake
/// case, times as RFC 3339 text, slashes as they are), each line after `indent`, written by
/// hand: Foundation's encoder took 33 µs an action (35 s of a plan of a million files). A test
/// holds the two to the same bytes. An action with a delta's `full_if_over` (a number with a
/// fraction) is left to the encoder.
enum ActionJSON {
    /// Appends `action`; false, appending nothing, when it is left to the encoder.
    static func append(_ action: BackupPlan.Action, indent: [UInt8], to out: inout [UInt8]) -> Bool {
        if action.delta?.fullIfOver != nil { return false }
        out.append(contentsOf: indent)
        out.append(UInt8(ascii: "{"))
        var first = true
        func key(_ name: String, depth: Int = 1) {
            out.append(contentsOf: first ? [0x0A] : [UInt8(ascii: ","), 0x0A])
            first = false
            out.append(contentsOf: indent)
            for _ in 0..<depth { out.append(contentsOf: [0x20, 0x20]) }
            string(name)
            out.append(contentsOf: Array(" : ".utf8))
        }
        func string(_ text: String) {
            out.append(UInt8(ascii: "\""))
            for byte in text.utf8 {
                switch byte {
                case UInt8(ascii: "\""): out.append(contentsOf: [0x5C, UInt8(ascii: "\"")])
                case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
                case 0x08: out.append(contentsOf: [0x5C, UInt8(ascii: "b")])
                case 0x0C: out.append(contentsOf: [0x5C, UInt8(ascii: "f")])
                case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
                case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
                case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
                case 0..<0x20:
                    let hex = Array("0123456789abcdef".utf8)
                    out.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 15)]])
                default: out.append(byte)
                }
            }
            out.append(UInt8(ascii: "\""))
        }
        func number(_ value: UInt64) { out.append(contentsOf: Array(String(value).utf8)) }
        func object(_ name: String, _ body: () -> Void) {
            key(name)
            out.append(UInt8(ascii: "{"))
            let outer = first
            first = true
            body()
            first = outer
            out.append(0x0A)
            out.append(contentsOf: indent)
            out.append(contentsOf: [0x20, 0x20, UInt8(ascii: "}")])
        }
        key("action")
        string(action.action.rawValue)
        if let change = action.change {
            key("change")
            string(change.rawValue)
        }
        if let delta = action.delta {
            object("delta") {
                key("decision", depth: 2)
                string(delta.decision.rawValue)
                key("reason", depth: 2)
                string(delta.reason)
            }
        }
        if let print = action.fingerprint {
            object("fingerprint") {
                key("ctime", depth: 2)
                string(print.ctime.description)
                if let gid = print.gid {
                    key("gid", depth: 2)
                    number(UInt64(gid))
                }
                key("inode", depth: 2)
                number(print.inode)
                if let mode = print.mode {
                    key("mode", depth: 2)
                    number(UInt64(mode))
                }
                key("mtime", depth: 2)
                string(print.mtime.description)
                key("size", depth: 2)
                number(print.size)
                if let uid = print.uid {
                    key("uid", depth: 2)
                    number(UInt64(uid))
                }
            }
        }
        key("kind")
        string(action.kind)
        key("path")
        string(action.path)
        if let base64 = action.pathBase64 {
            key("path_base64")
            string(base64)
        }
        key("reason")
        string(action.reason)
        key("size")
        number(action.size)
        if let target = action.target {
            key("target")
            string(target)
        }
        out.append(0x0A)
        out.append(contentsOf: indent)
        out.append(UInt8(ascii: "}"))
        return true
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
