import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The checks that keep a run from making good versions harder to get back: missing sources,
/// a repository that has gone, and the memory of which repository a set uses.
extension SetContext {
    /// The group this config's runs of the set make on this host.
    public var group: SnapshotGroup {
        SnapshotGroup(set: set.name, host: run.hostName, sources: set.sources.map(\.value))
    }

    /// Fails when a source that is not optional does not exist (or cannot be reached): an
    /// unmounted disk or a moved folder must not look like deleted files.
    public func checkSources() throws {
        for source in set.sources where !set.optionalSources.contains(source.value) {
            var info = stat()
            guard source.value.withCString({ lstat($0, &info) }) != 0 else { continue }
            let code = errno
            let reason = code == ENOENT || code == ENOTDIR ? "does not exist" : "cannot be reached (\(String(cString: strerror(code))))"
            throw BackupJob.Refusal.sourceMissing(set: set.name, path: source.value, reason: reason)
        }
    }

    /// Where this machine remembers the repositories its sets used:
    /// `$XDG_STATE_HOME/cairn/repositories.json` (`~/.local/state/cairn/...`); nil when the
    /// user has no home folder and no XDG_STATE_HOME.
    var stateFile: String? { run.stateDirectory.map { $0 + "/repositories.json" } }

    /// The file in the destination folder that lists the repositories made there.
    var destinationMarker: String? {
        if source != nil || seed != nil { return nil }
        // A set backed up to its local copy alone keeps the list on that disk.
        if let copy = set.localCopy, copy.only { return copy.path.value + "/" + RepositoryMemory.destinationFileName }
        guard case .localFolder(let path) = account.destination else { return nil }
        return path + "/" + RepositoryMemory.destinationFileName
    }

    /// When the set's repository is missing: what says it existed (this machine's run state,
    /// or the destination's list), in words; nil when nothing does.
    public func knownRepository() -> String? {
        let earlier = run.earlierStateDirectory.map { $0 + "/repositories.json" }
        for file in [stateFile, earlier].compactMap({ $0 }) {
            if let id = RepositoryMemory.read(file)[repositoryPath] {
                return "repository \(id.prefix(8)) at \(repositoryPath), as this machine's run state \(file) records"
            }
        }
        if let marker = destinationMarker, let id = RepositoryMemory.read(marker)[set.repository] {
            return "repository \(id.prefix(8)), as the destination's \(RepositoryMemory.destinationFileName) records"
        }
        return nil
    }

    /// Records the set's repository on this machine and at the destination, so that a later
    /// run notices when it has gone. A failure to record is not the backup's failure.
    public func remember(_ repository: Repository) {
        // A seed folder is not where the set's repository lives.
        guard seed == nil else { return }
        let id = repository.descriptor.id
        if let stateFile { RepositoryMemory.update(stateFile) { $0[repositoryPath] = id } }
        if let marker = destinationMarker { RepositoryMemory.update(marker) { $0[set.repository] = id } }
    }
}

/// A small JSON map written crash-safely (temporary file, fsync, rename).
enum RepositoryMemory {
    static let destinationFileName = ".cairn-repositories.json"

    static func read(_ path: String) -> [String: String] {
        guard let data = FileManager.default.contents(atPath: path),
            let map = try? JSONDecoder().decode([String: String].self, from: data)
        else { return [:] }
        return map
    }

    static func update(_ path: String, _ change: (inout [String: String]) -> Void) {
        var map = read(path)
        let before = map
        change(&map)
        guard map != before else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(map) else { return }
        try? DurableFile.write(data, to: path)
    }
}

extension SetContext {
    /// How long any run of the set may take (backup, apply, and scheduled runs): the shortest
    /// `max-duration` of its schedules; nil when none has one. At the limit the run stops
    /// cleanly with a partial snapshot.
    public var maxDuration: ConfigDuration? {
        self.set.schedules.compactMap { config.schedules[$0.value]?.maxDuration }.min()
    }
}
