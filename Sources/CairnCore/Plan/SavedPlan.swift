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

    public static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.userInfo[.timesAsText] = true
        return encoder
    }()

    public func json() throws -> String {
        String(decoding: try Self.encoder.encode(self), as: UTF8.self)
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

    public static func read(_ path: String) throws -> SavedPlan {
        guard let data = FileManager.default.contents(atPath: path) else { throw Failure.unreadable(path, "it cannot be read") }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        struct Probe: Decodable {
            var format: String?
            var version: Int?
        }
        guard let probe = try? decoder.decode(Probe.self, from: data), probe.format == formatName else {
            throw Failure.unreadable(path, "it has no \"format\": \"cairn-plan\"")
        }
        guard let version = probe.version, readableVersions.contains(version) else { throw Failure.unsupported(path, probe.version ?? 0) }
        do {
            return try decoder.decode(SavedPlan.self, from: data)
        } catch {
            throw Failure.unreadable(path, "\(error)")
        }
    }
}

extension Config {
    /// SHA-256 of the normalised config, in hex.
    public var digest: String {
        ObjectID(Hashing.sha256(Array(normalized.json().utf8))).hex
    }
}
