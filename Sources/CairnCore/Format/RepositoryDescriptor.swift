import Foundation

/// The repository's one plaintext file, `cairn-repository`: what it is and how to read the rest.
/// A copy of the folder plus a key is enough to restore: nothing else is needed from outside.
public struct RepositoryDescriptor: Codable, Sendable, Equatable {
    public static let fileName = "cairn-repository"
    public static let currentVersion = 1
    static let formatName = "cairn-repository"

    public var format: String
    public var version: Int
    public var id: String
    /// `aes-256-gcm`, `chacha20-poly1305` or `none`.
    public var encryption: String
    public var created: Date

    init(id: ObjectID, encryption: String, created: Date) {
        self.format = Self.formatName
        self.version = Self.currentVersion
        self.id = id.hex
        self.encryption = encryption
        self.created = created
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()

    func encoded() throws -> [UInt8] { Array(try Self.encoder.encode(self)) + [0x0A] }

    public static func decode(_ bytes: [UInt8], at place: String) throws -> RepositoryDescriptor {
        struct Probe: Decodable {
            var format: String?
            var version: Int?
        }
        // The file is there: whatever is wrong with it is damage, not a missing repository.
        guard let probe = try? decoder.decode(Probe.self, from: Data(bytes)) else {
            throw RepositoryError.damaged("the descriptor \(place)/\(fileName) is not valid JSON")
        }
        guard probe.format == formatName else {
            throw RepositoryError.damaged(
                "the descriptor \(place)/\(fileName) does not say it is a cairn repository (format \(probe.format.map { "'\($0)'" } ?? "missing"))")
        }
        if let version = probe.version, version != currentVersion {
            throw FormatError.unsupportedVersion("the repository at \(place)", version)
        }
        let descriptor: RepositoryDescriptor
        do {
            descriptor = try decoder.decode(RepositoryDescriptor.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw RepositoryError.damaged("the descriptor \(place)/\(fileName) cannot be read: \(error.inWords)")
        }
        guard ObjectID(hex: descriptor.id) != nil else {
            throw RepositoryError.damaged("the descriptor \(place)/\(fileName) is damaged: its id '\(descriptor.id.prefix(80))' is not 64 hexadecimal digits")
        }
        return descriptor
    }
}
