import Foundation

/// What an object is; part of what its seal authenticates, so an object of one kind can never
/// be passed off as another (borg's CVE-2023-36811 is the lesson).
public enum ObjectKind: UInt8, Sendable, CaseIterable {
    case blob = 1
    case tree = 2
    case snapshot = 3
    case index = 4
    case packHeader = 5
    case lock = 6
    case signature = 7

    public var name: String {
        switch self {
        case .blob: return "data"
        case .tree: return "tree"
        case .snapshot: return "snapshot"
        case .index: return "index"
        case .packHeader: return "pack header"
        case .lock: return "lock"
        case .signature: return "signature"
        }
    }
}

/// Seals objects for storage and opens them again, verified.
///
/// Sealed plaintext is `method (1 byte) || original length (varint) || payload`. With
/// encryption the box is AEAD(plaintext) with `kind || id` as associated data; with encryption
/// `none` it is the plaintext followed by SHA-256(kind || id || plaintext), so damage is still
/// found on every read.
struct ObjectCodec: Sendable {
    let aead: AEAD?
    /// The key of the content hash; nil with encryption `none`, where ids are plain SHA-256.
    let identificationKey: KeyedHash?

    private init(aead: AEAD?, keyed: KeyedHash?) {
        self.aead = aead
        self.identificationKey = keyed
    }

    /// An encrypted repository's codec.
    init(aead: AEAD, identificationKey: [UInt8]) throws {
        self.init(aead: aead, keyed: try KeyedHash(key: identificationKey))
    }

    /// The codec of a repository with encryption `none`.
    static let unencrypted = ObjectCodec(aead: nil, keyed: nil)

    /// The id of content: HMAC-SHA-256 under the repository's key, so identical content is
    /// stored once and the destination cannot recognise known files by their hash.
    func contentID<D: ContiguousBytes>(of plaintext: D) -> ObjectID {
        if let identificationKey { return ObjectID(identificationKey.mac(plaintext)) }
        return ObjectID(Hashing.sha256(plaintext))
    }

    static func associatedData(_ kind: ObjectKind, _ id: ObjectID) -> [UInt8] {
        var data: [UInt8] = []
        data.reserveCapacity(1 + ObjectID.size)
        data.append(kind.rawValue)
        id.append(to: &data)
        return data
    }

    /// Seals an object into one buffer: compressed into its place in the box and encrypted
    /// there, or, when compression does not pay, encrypted from where it is.
    func seal(_ kind: ObjectKind, id: ObjectID, plaintext: [UInt8], compressor: Compressor) throws -> [UInt8] {
        var framed = BinaryWriter(capacity: 12)
        framed.byte(Compressor.Method.none.rawValue)
        framed.varint(plaintext.count)
        let header = framed.bytes
        let associated = Self.associatedData(kind, id)
        let before = aead == nil ? 0 : AEAD.nonceSize
        let after = aead == nil ? 32 : AEAD.tagSize
        let payload = before + header.count
        return try BufferPool.shared.make(count: payload + plaintext.count + after) { box in
            let room = UnsafeMutableBufferPointer(rebasing: box[payload..<payload + plaintext.count])
            let compressed = try compressor.compress(plaintext, into: room)
            _ = UnsafeMutableBufferPointer(rebasing: box[before..<payload]).initialize(from: header)
            box[before] = (compressed?.method ?? .none).rawValue
            return try plaintext.withUnsafeBytes { plaintext in
                let stored = compressed?.count ?? plaintext.count
                if let aead {
                    if compressed != nil { return try aead.seal(in: box, inPlace: header.count + stored, associatedData: associated) }
                    return try aead.seal(in: box, inPlace: header.count, then: plaintext, associatedData: associated)
                }
                // No encryption: the body, then SHA-256(kind || id || body).
                if compressed == nil, !plaintext.isEmpty { UnsafeMutableRawBufferPointer(room).copyMemory(from: plaintext) }
                let body = UnsafeRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(box)[0..<header.count + stored])
                let hash = SHA256Stream()
                hash.update(associated)
                hash.update(body)
                _ = UnsafeMutableBufferPointer(rebasing: box[body.count..<body.count + 32]).initialize(from: hash.finish())
                return body.count + 32
            }
        }
    }

    /// The object's plaintext; throws `RepositoryError.damaged` when it fails verification.
    func open(_ kind: ObjectKind, id: ObjectID, box: [UInt8], where place: String) throws -> [UInt8] {
        try box.withUnsafeBytes { try open(kind, id: id, box: $0, where: place) }
    }

    /// The same, for a box in memory the caller owns.
    func open(_ kind: ObjectKind, id: ObjectID, box: UnsafeRawBufferPointer, where place: String) throws -> [UInt8] {
        let associated = Self.associatedData(kind, id)
        let body: [UInt8]
        if let aead {
            do {
                body = try aead.open(box, associatedData: associated)
            } catch {
                throw RepositoryError.damaged("\(kind.name) \(id.short) in \(place) fails authentication")
            }
        } else {
            guard box.count >= 32 else { throw RepositoryError.damaged("\(kind.name) \(id.short) in \(place) is truncated") }
            body = Array(box[..<(box.count - 32)])
            guard Hashing.sha256(associated + body) == Array(box[(box.count - 32)...]) else {
                throw RepositoryError.damaged("\(kind.name) \(id.short) in \(place) fails its checksum")
            }
        }
        do {
            var reader = BinaryReader(body, what: "\(kind.name) \(id.short)")
            guard let method = Compressor.Method(rawValue: try reader.byte()) else {
                throw RepositoryError.damaged("\(kind.name) \(id.short) in \(place) has an unknown compression method")
            }
            // No object is larger than this (a chunk is at most a few MiB, a tree of a folder
            // of millions of entries some hundreds): a larger claim is damage, not an allocation.
            let length = try reader.count(limit: 1 << 31)
            let start = reader.position
            _ = consume reader
            let plaintext = try Compressor.decompress(body[start...], method: method, originalSize: length)
            // The body's buffer goes back to the pool: nothing refers to it any more.
            BufferPool.shared.recycle(consume body)
            return plaintext
        } catch let error as RepositoryError {
            throw error
        } catch {
            throw RepositoryError.damaged("\(kind.name) \(id.short) in \(place) does not decompress: \(error)")
        }
    }
}
