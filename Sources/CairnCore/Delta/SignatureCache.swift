import Foundation

/// Signatures kept on this machine, so a delta against the last version needs no download
/// (`$XDG_CACHE_HOME/cairn/REPOSITORY-ID/signatures/`, by default under `~/.cache`). Entries
/// are sealed with the repository's key like the stored object: the cache says nothing to
/// someone without the key, and a damaged entry is found when opened and fetched again.
public struct SignatureCache: Sendable {
    /// nil when there is no usable cache folder: every signature is then read from the repository.
    public let directory: String?

    public init(repositoryID: String, run: RunEnvironment) {
        directory = run.cacheDirectory.map { "\($0)/\(repositoryID)/signatures" }
    }

    init(directory: String?) {
        self.directory = directory
    }

    func path(of id: ObjectID) -> String? { directory.map { "\($0)/\(id.hex)" } }

    /// The signature `id`: from the cache when it holds a good copy, else from the repository
    /// (and then kept in the cache, unless `keep` is false: planning writes nothing).
    public func load(_ id: ObjectID, from repository: Repository, keep: Bool = true) async throws -> BlockSignature {
        let what = "signature \(id.short)"
        if let path = path(of: id), let box = FileManager.default.contents(atPath: path),
            let plaintext = try? repository.open(.signature, id: id, box: Array(box), where: path)
        {
            return try BlockSignature.decode(plaintext, what: what)
        }
        if keep { FaultInjection.reach("signature-fetched") }
        let plaintext = try await repository.load(.signature, id)
        if keep, let box = try? repository.seal(.signature, id: id, plaintext: plaintext, compressor: Compressor(.default)) { save(id, box: box) }
        return try BlockSignature.decode(plaintext, what: what)
    }

    /// Keeps a sealed copy; a cache that cannot be written only costs a download later.
    public func save(_ id: ObjectID, box: [UInt8]) {
        guard let directory, let path = path(of: id) else { return }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let temporary = "\(path).\(UUID().uuidString).tmp"
            guard FileManager.default.createFile(atPath: temporary, contents: Data(box)) else { return }
            if rename(temporary, path) != 0 { unlink(temporary) }
        } catch {
            return
        }
    }
}
