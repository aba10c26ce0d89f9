import Foundation

/// What a seed-load folder holds (`cairn-seed.json`): the set and repository, and for each
/// seed-load run into the folder (a session) its volumes, with sizes and SHA-256, and where in
/// the session's tar stream each repository file's data lies. Authenticated with a key derived
/// from the repository's master key, so a manifest that was altered, or made with another key,
/// is refused.
public struct SeedManifest: Codable, Sendable, Equatable {
    public static let fileName = "cairn-seed.json"
    /// The largest manifest read or written (about 7 TiB of packs).
    public static let largest = 256 << 20
    public static let formatName = "cairn-seed"
    /// 2: a file may lie in pieces (`Member.pieces`).
    public static let currentVersion = 2

    public struct Volume: Codable, Sendable, Equatable {
        public var name: String
        public var size: Int
        public var sha256: String
    }

    public struct Piece: Codable, Sendable, Equatable {
        /// Where the piece's data starts in the session's stream (the volumes one after another).
        public var offset: Int
        public var size: Int
    }

    public struct Member: Codable, Sendable, Equatable {
        /// The repository file: `data/ab/…`, `index/…`, `snapshots/…`, `keys/…`, `cairn-repository`.
        public var key: String
        /// Where its data (or its first piece) starts in the session's stream.
        public var offset: Int
        public var size: Int
        /// A file written in pieces (members KEY.partNNN): where each lies, in order. Written
        /// as one string, `OFFSET:SIZE` pairs separated by spaces: a pack has about nine, and
        /// as JSON objects they would make the manifest four times larger.
        public var pieces: [Piece]?

        enum CodingKeys: String, CodingKey {
            case key, offset, size, pieces
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            key = try container.decode(String.self, forKey: .key)
            offset = try container.decode(Int.self, forKey: .offset)
            size = try container.decode(Int.self, forKey: .size)
            guard let text = try container.decodeIfPresent(String.self, forKey: .pieces) else { return }
            var pieces: [Piece] = []
            for pair in text.split(separator: " ", omittingEmptySubsequences: false) {
                let parts = pair.split(separator: ":", omittingEmptySubsequences: false)
                guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
                    let offset = Int(parts[0]), let size = Int(parts[1])
                else {
                    throw DecodingError.dataCorruptedError(forKey: .pieces, in: container, debugDescription: "the pieces of \(key.prefix(80)) are not OFFSET:SIZE pairs")
                }
                pieces.append(Piece(offset: offset, size: size))
            }
            self.pieces = pieces
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(key, forKey: .key)
            try container.encode(offset, forKey: .offset)
            try container.encode(size, forKey: .size)
            try container.encodeIfPresent(pieces.map { $0.map { "\($0.offset):\($0.size)" }.joined(separator: " ") }, forKey: .pieces)
        }

        init(key: String, pieces: [Piece]) {
            self.key = key
            offset = pieces.first?.offset ?? 0
            size = pieces.reduce(0) { $0 + $1.size }
            self.pieces = pieces.count > 1 ? pieces : nil
        }

        /// The parts of the stream that hold the file, in order.
        var extents: [Piece] { pieces ?? [Piece(offset: offset, size: size)] }
    }

    public struct Session: Codable, Sendable, Equatable {
        public var number: Int
        public var created: String
        public var snapshot: String?
        public var volumeSize: Int
        public var volumes: [Volume]
        public var members: [Member]
    }

    public var format = SeedManifest.formatName
    public var version = SeedManifest.currentVersion
    public var set: String
    public var repository: String
    public var encryption: String
    public var sessions: [Session]
    /// HMAC-SHA-256 of the manifest without this field (SHA-256 when not encrypted), hex.
    public var mac: String?

    public init(set: String, repository: String, encryption: String) {
        self.set = set
        self.repository = repository
        self.encryption = encryption
        sessions = []
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static let placeholder = String(repeating: "0", count: 64)

    /// The code of a manifest file's exact bytes with its `mac` value read as 64 zeros (so no
    /// re-encoding is involved: a later JSON encoder that writes differently changes nothing).
    static func code(of bytes: [UInt8], key: [UInt8]?) -> String? {
        let marker = Array("\"mac\" : \"".utf8)
        guard let start = bytes.firstRange(of: marker)?.upperBound, start + 64 <= bytes.count else { return nil }
        var blanked = bytes
        blanked.replaceSubrange(start..<start + 64, with: Array(placeholder.utf8))
        let code = key.map { Hashing.hmacSHA256(key: $0, blanked) } ?? Hashing.sha256(blanked)
        return code.map { String(format: "%02x", $0) }.joined()
    }

    /// The manifest's file: written with 64 zeros for its code, which then replace the code
    /// of those bytes.
    public func signed(key: [UInt8]?) throws -> Data {
        var copy = self
        copy.mac = Self.placeholder
        var bytes = Array(try Self.encoder.encode(copy))
        guard let code = Self.code(of: bytes, key: key), let range = bytes.firstRange(of: Array("\"mac\" : \"".utf8)) else {
            throw Invalid(description: "the seed manifest could not be signed")
        }
        bytes.replaceSubrange(range.upperBound..<range.upperBound + 64, with: Array(code.utf8))
        return Data(bytes)
    }

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads a manifest's text; checks its form and version, not yet its code (that needs the key).
    public static func decode(_ data: Data, at place: String) throws -> SeedManifest {
        struct Probe: Decodable {
            var format: String?
            var version: Int?
        }
        guard let probe = try? JSONDecoder().decode(Probe.self, from: data) else {
            throw Invalid(description: "the seed manifest \(place) is not valid JSON (damaged?)")
        }
        guard probe.format == formatName else { throw Invalid(description: "\(place) is not a cairn seed manifest") }
        if let version = probe.version, version > currentVersion {
            throw Invalid(description: "the seed at \(place) has format version \(version); this cairn reads version \(currentVersion): use a newer cairn")
        }
        let manifest: SeedManifest
        do {
            manifest = try JSONDecoder().decode(SeedManifest.self, from: data)
        } catch let error as DecodingError {
            throw Invalid(description: "the seed manifest \(place) cannot be read: \(error.inWords)")
        }
        if let problem = manifest.problem { throw Invalid(description: "the seed manifest \(place) is damaged: \(problem)") }
        return manifest
    }

    /// What is wrong with the manifest's structure, before anything it names is opened (it is
    /// authenticated only once the repository's key is known): volume names of the folder's
    /// own form, sizes and offsets inside their session's stream, repository keys, no key twice.
    var problem: String? {
        var keys: Set<String> = []
        for session in sessions {
            // Bounds that keep every sum below an Int's range (16 TiB volumes, 100,000 of them).
            guard session.number > 0, session.number < 100_000, session.volumeSize > 0, session.volumeSize <= 1 << 44, session.volumes.count <= 100_000 else {
                return "session \(session.number) is not valid"
            }
            var stream = 0
            for (index, volume) in session.volumes.enumerated() {
                let expected = "\(set)-s\(String(format: "%02d", session.number)).tar.\(String(format: "%03d", index))"
                guard volume.name == expected, !set.contains("/"), !set.hasPrefix(".") else { return "a volume is named '\(volume.name.prefix(80))', not \(expected)" }
                guard volume.size >= 0, volume.size <= session.volumeSize else { return "the volume \(volume.name) has a size out of range" }
                stream += volume.size
            }
            for member in session.members {
                guard (try? StorageKey.check(member.key)) != nil, member.key.split(separator: "/").allSatisfy({ $0 != ".." && $0 != "." }) else {
                    return "it names the file '\(member.key.prefix(80))', which is no repository file"
                }
                if let pieces = member.pieces {
                    var total = 0
                    for piece in pieces {
                        guard piece.size >= 0, piece.size <= stream - total else { return "the pieces of the file \(member.key) do not add up to it" }
                        total += piece.size
                    }
                    guard !pieces.isEmpty, member.offset == pieces[0].offset, total == member.size else {
                        return "the pieces of the file \(member.key) do not add up to it"
                    }
                }
                for piece in member.extents {
                    guard piece.offset >= 0, piece.size >= 0, piece.offset <= stream, piece.size <= stream - piece.offset else {
                        return "the file \(member.key) lies outside its session's volumes"
                    }
                }
                guard keys.insert(member.key).inserted else { return "the file \(member.key) is named twice" }
            }
        }
        return nil
    }

    /// Fails unless the file's code matches under `key`.
    public static func authenticate(_ bytes: [UInt8], key: [UInt8]?, at place: String) throws {
        let written = (try? JSONDecoder().decode(SeedManifest.self, from: Data(bytes)))?.mac
        guard let written, let code = code(of: bytes, key: key), code == written else {
            throw Invalid(
                description: "the seed manifest \(place) does not match its authentication code: it was altered, damaged, or made with another key")
        }
    }
}
