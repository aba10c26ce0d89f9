/// What a repository's format derives from its master key (fixed values when the repository
/// is not encrypted): the object codec, the chunker's and block signatures' keys and the
/// content hash's prefix. Pure values: whatever writes or reads the format (the repository,
/// a seed-load archive, a replica) makes them from the descriptor and the key alone.
public struct RepositoryKeys: Sendable {
    let codec: ObjectCodec
    /// The secret the chunker's gear table comes from.
    public let chunkerKey: [UInt8]
    /// The key of block signatures' strong hashes (in-file delta).
    public let signatureKey: [UInt8]
    /// What a file's content hash starts with (`ContentHasher`): keyed, so it says nothing to
    /// someone without the key.
    public let contentHashPrefix: [UInt8]
    /// The key that authenticates a seed-load folder's manifest; nil when the repository is
    /// not encrypted (the manifest is then only checksummed).
    public let seedManifestKey: [UInt8]?

    /// The keys of a repository whose descriptor names `encryption`, opened with `master`
    /// (nil exactly when it is `none`); `location` names the repository in errors.
    init(encryption: String, master: MasterKey?, location: String) throws {
        if let master {
            guard let algorithm = AEAD.Algorithm(rawValue: encryption) else {
                throw RepositoryError.unsupported("the repository at \(location) uses the unknown encryption \(encryption)")
            }
            codec = try ObjectCodec(aead: try AEAD(algorithm, key: master.encryption), identificationKey: master.identification)
            chunkerKey = master.identification
            signatureKey = Hashing.hmacSHA256(key: master.identification, Array("cairn-block-signature".utf8))
            contentHashPrefix = Hashing.hmacSHA256(key: master.identification, Array("cairn-content-hash".utf8))
            seedManifestKey = Hashing.hmacSHA256(key: master.identification, Array("cairn-seed-manifest".utf8))
        } else {
            codec = .unencrypted
            chunkerKey = Array("cairn-unencrypted-chunker".utf8)
            signatureKey = Array("cairn-unencrypted-signature".utf8)
            contentHashPrefix = []
            seedManifestKey = nil
        }
    }
}
