import Foundation

/// Everything a command needs to work on one backup set: its definitions, its storage, its key.
public struct SetContext: Sendable {
    public let config: Config
    public let set: BackupSet
    public let account: Account
    public let profile: EncryptionProfile
    /// The machine as this run sees it: clock, host, zone, variables, command runner.
    public let run: RunEnvironment
    /// The run's environment variables.
    public var environment: [String: String] { run.variables }
    /// `--delta-mode`: how this run stores changed files of a set with in-file delta.
    public var deltaOverride: DeltaModeOverride?
    /// `max-removed`, or `--max-removed` for one run; nil: off.
    public var maxRemoved: Percentage?
    /// `--new-repository`: a set that has backed up before may start a new repository.
    public var newRepository = false
    /// `--from DIR`: the repository is read there (a copied repository folder, a local copy)
    /// instead of at the destination, and nothing is ever written there.
    public var source: String?
    /// A key given on the command line for `--from` (`--key-file`, ...), instead of the profile's.
    public var keyOverride: SecretReference?
    /// `cairn seed-load`: the backup goes into this seed folder's volumes instead of the
    /// destination (no retention, no local copy).
    public var seed: SeedFolder?
    /// The requests made to the set's object store (by every storage this context opens), for
    /// the job report: requests cost money.
    public let traffic = StorageTraffic()
    /// Whether a remote repository's unchanging files are kept on this machine
    /// (`RepositoryCache`); verify turns it off to check every file as stored.
    public var usesCache = true

    /// Whether the repository is on an object store, where each request costs: its unchanging
    /// files are then cached on this machine.
    var isRemote: Bool {
        guard usesCache, seed == nil, source == nil, set.localCopy?.only != true, case .remote = account.destination else { return false }
        return true
    }

    public enum Failure: Error, CustomStringConvertible, Equatable {
        case unknownSet(String, suggestion: String)
        case notBuilt(String, feature: String)
        case destination(String)
        case secret(String)

        public var description: String {
            switch self {
            case .unknownSet(let name, let suggestion): return "no backup set named '\(name)' in the config\(suggestion)"
            case .notBuilt(let set, let feature):
                return "backup set '\(set)' uses \(feature), which is not built yet in this version of cairn; the run stops rather than ignore it"
            case .destination(let text), .secret(let text): return text
            }
        }
    }

    public init(config: Config, setName: String, run: RunEnvironment) throws {
        guard let set = config.backupSets[setName] else {
            throw Failure.unknownSet(setName, suggestion: Suggestion.didYouMean(setName, among: config.backupSets.keys))
        }
        // A valid config defines every name a set refers to.
        self.config = config
        self.set = set
        self.account = config.accounts[set.account.value]!
        self.profile = config.encryption[set.encryption.value]!
        self.run = run
        self.maxRemoved = set.maxRemoved
    }

    /// The folder of the set's repository: the account's destination and the set's `repository:`.
    public var repositoryPath: String {
        if let seed { return seed.folder }
        if let source { return source }
        if let copy = set.localCopy, copy.only { return copy.path.value + "/" + set.repository }
        switch account.destination {
        case .localFolder(let path): return path + "/" + set.repository
        case .remote(_, let url): return url + "/" + set.repository
        }
    }

    /// The storage of the set's repository; the destination folder itself must exist (a missing
    /// one is often an unmounted disk, and writing beside it would fill the wrong disk).
    public func storage() throws -> any StorageBackend {
        if let seed { return seed }
        if let source, SeedFolder.isSeed(source) { return try SeedFolder(folder: source, set: set.name, readOnly: true) }
        if let source {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw Failure.destination("--from \(source) does not exist or is not a folder (is the disk mounted?)")
            }
            guard FileManager.default.fileExists(atPath: source + "/" + RepositoryDescriptor.fileName) else {
                throw Failure.destination(
                    "--from \(source) is not a cairn repository: it has no \(RepositoryDescriptor.fileName) file (name the repository's own folder: a copied repository or a local copy)")
            }
            return ReadOnlyStorage(try StorageRegistry.standard.open(source), mode: .refuse)
        }
        if let copy = set.localCopy, copy.only { return try localCopyStorage() }
        switch account.destination {
        case .localFolder(let path):
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw Failure.destination(
                    "the destination \(path) of account '\(account.name)' does not exist or is not a folder (is its disk mounted?); create it to start backing up there")
            }
            return try StorageRegistry.standard.open(repositoryPath)
        case .remote("s3", _):
            guard let s3 = account.s3 else { throw Failure.destination("account '\(account.name)' has no S3 settings") }
            return try s3.storage(account: account.name, repository: set.repository, environment: environment, traffic: traffic)
        case .remote("https", _):
            guard let server = account.server else { throw Failure.destination("account '\(account.name)' has no server settings") }
            return try server.storage(account: account.name, repository: set.repository, environment: environment, traffic: traffic)
        case .remote(let scheme, _):
            guard StorageRegistry.standard.canOpen(scheme: scheme) else {
                throw Failure.notBuilt(set.name, feature: "a \(scheme):// destination (account '\(account.name)')")
            }
            return try StorageRegistry.standard.open(repositoryPath)
        }
    }

    /// Where the set's local copy lives: its repository's folder under the local copy folder.
    public var localCopyPath: String? { self.set.localCopy.map { $0.path.value + "/" + self.set.repository } }

    /// The local copy's repository folder (made when missing); the local copy folder itself
    /// must exist: a missing one is a removable disk that is not mounted, and writing there
    /// would fill the disk below the mount point.
    public func localCopyStorage() throws -> any StorageBackend {
        guard let copy = set.localCopy, let path = localCopyPath else { throw Failure.destination("backup set '\(set.name)' has no local copy") }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: copy.path.value, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw Failure.destination(
                "the local copy folder \(copy.path.value) (\(copy.path.location)) does not exist or is not a folder (is its disk mounted?)")
        }
        return try StorageRegistry.standard.open(path)
    }

    public var algorithm: AEAD.Algorithm? {
        switch profile.algorithm {
        case .aes256GCM: return .aes256GCM
        case .chacha20Poly1305: return .chacha20Poly1305
        case .none: return nil
        }
    }

    /// Whether the key is typed at a prompt (`{prompt: true}`): commands that only show
    /// something ask for it only when they must read the repository.
    public var keyIsTyped: Bool { (keyOverride ?? profile.key)?.source == .prompt }

    /// The user key, read from its reference now that it is needed; nil for encryption `none`.
    public func passphrase() throws -> [UInt8]? {
        if let keyOverride {
            do {
                return Array(try keyOverride.resolve(environment: environment).utf8)
            } catch {
                throw Failure.secret("the key given on the command line cannot be read: \(error.localizedDescription)")
            }
        }
        guard let key = profile.key else { return nil }
        do {
            return Array(try key.resolve(environment: environment, question: "key of encryption profile '\(profile.name)'").utf8)
        } catch SecretReference.ResolutionError.noTerminal {
            throw Failure.secret(
                "the key of encryption profile '\(profile.name)' is asked at a prompt (key: {prompt: true}), and there is no terminal: run cairn on a terminal, or point the profile's key (\(key.location)) to {env: VAR}, {file: PATH} or {command: \"...\"}; restore, snapshots, ls and verify with --from DIR also take --key-file, --key-env or --key-command")
        } catch {
            throw Failure.secret("the key of encryption profile '\(profile.name)' cannot be read: \(error.localizedDescription)")
        }
    }

    /// For an account on a cairn server: fails, before anything is read, when the server does
    /// not let this machine read stored data (the account's restore-from), naming the address
    /// the server sees. Restores, dumps, exports and verify --read-data call it.
    public func requireStoredDataReadable() async throws {
        guard source == nil, seed == nil, let server = account.server, case .remote("https", _) = account.destination else { return }
        let status = try await server.status(account: account.name, environment: environment)
        guard status.restoreAllowed else {
            throw Failure.destination(
                "account '\(account.name)' on \(server.server) may restore only from the addresses its server allows (restore-from), and the server sees this machine at \(status.address ?? "an address outside them"): restore from an allowed address, or ask the server's administrator\(status.contact.map { " (\($0))" } ?? "")")
        }
    }

    /// For an account on a cairn server: tells the server how the job ended (its web page
    /// shows it); a warning when it could not, never a failure of the job.
    public func reportToServer(_ report: JobReport) async -> String? {
        guard source == nil, seed == nil, let server = account.server, case .remote("https", _) = account.destination else { return nil }
        let statistics = report.statistics
        let job = ServerJobSummary(
            set: report.set, host: report.host, command: report.command, status: report.status, start: report.start.description, end: report.end.description,
            snapshot: report.snapshot, files: statistics.map { Int($0.files) }, bytes: statistics.map { Int($0.bytes) },
            bytesAdded: statistics.map { Int($0.bytesStored) })
        do {
            try await server.report(job, account: account.name, repository: set.repository, environment: environment)
            return nil
        } catch {
            // A job that failed for want of the server says so already.
            return report.status == "failed" ? nil : "the job was not reported to the server \(server.server): \(error)"
        }
    }

    /// The set's repository, or nil when it has never been backed up.
    public func openRepository() async throws -> Repository? {
        let storage = try storage()
        guard try await Repository.exists(in: storage) else { return nil }
        let repository = try await Repository.open(storage: storage, passphrase: try passphrase(), run: run, cached: isRemote)
        DamageWarnings.tell(await repository.warnings)
        if let folder = storage as? SeedFolder { try await folder.authenticate(repository, set: set.name) }
        if let expected = algorithm?.rawValue ?? Optional("none"), repository.descriptor.encryption != expected, let source {
            throw Failure.destination(
                "the repository at \(source) uses encryption \(repository.descriptor.encryption), but backup set '\(set.name)' uses \(expected): it is not this set's repository (name another set, or leave the set out of the config and give the key with --key-file, --key-env or --key-command)")
        }
        if let expected = algorithm?.rawValue ?? Optional("none"), repository.descriptor.encryption != expected {
            throw Failure.destination(
                "backup set '\(set.name)' now says encryption \(expected), but its repository at \(repositoryPath) uses \(repository.descriptor.encryption); the algorithm of a set cannot change: create a new set (or point 'repository:' to a new folder)")
        }
        await repository.setCompression(set.compression)
        return repository
    }

    /// The set's new repository's identity and first key (the key derivation runs now).
    public func prepareRepository() throws -> Repository.Prepared {
        try Repository.Prepared.make(algorithm: algorithm, passphrase: try passphrase(), run: run, location: repositoryPath)
    }

    /// The same, with the key read now (so a key that cannot be read fails at once) and the
    /// slow part, deriving the key that wraps the new master key (scrypt: a fifth of a second
    /// of one core), started on a thread of its own, for the caller to await once it has done
    /// other work meanwhile.
    func startPreparingRepository() throws -> Task<Repository.Prepared, any Error> {
        let passphrase = try passphrase()
        let algorithm = algorithm, run = run, location = repositoryPath
        return Task {
            try await BlockingIO.run { try Repository.Prepared.make(algorithm: algorithm, passphrase: passphrase, run: run, location: location) }
        }
    }

    /// Creates the set's repository with its profile's algorithm and key.
    public func createRepository(prepared: Repository.Prepared? = nil) async throws -> Repository {
        let repository = try await Repository.create(storage: try storage(), prepared: try prepared ?? prepareRepository(), run: run, cached: isRemote)
        await repository.setCompression(set.compression)
        return repository
    }

    /// Repositories in the destination folder that no set of the config uses, such as a
    /// renamed set leaves behind.
    public func unusedRepositories() -> [String] {
        guard case .localFolder(let path) = account.destination else { return [] }
        let used = Set(config.backupSets.values.filter { $0.account.value == account.name }.map(\.repository))
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.filter { name in
            !used.contains(name) && FileManager.default.fileExists(atPath: path + "/" + name + "/" + RepositoryDescriptor.fileName)
        }.sorted()
    }

    /// The set's in-file delta decisions at `now`; nil when the set does not use it.
    public func deltaPolicy(now: Date) -> DeltaPolicy? {
        guard set.inFileDelta.mode != .off else { return nil }
        return DeltaPolicy(settings: set.inFileDelta, override: deltaOverride, now: now, timeZone: config.timeZone)
    }

    /// The set's retention, evaluated in the config's time zone; nil when it has none.
    public var retention: (name: String, evaluation: RetentionEvaluation)? {
        guard seed == nil, let name = set.retention?.value, let policy = config.retention[name] else { return nil }
        return (name, RetentionEvaluation(policy: policy.kind, timeZone: config.timeZone, keepTags: policy.keepTags))
    }

    /// The sources as paths, and the selection the set's excludes and filters make.
    public func selection() throws -> Selection {
        try Selection(
            sources: set.sources.map { FilePath($0.value) }, excludes: set.exclude.map { FilePath($0.value) },
            filters: set.filters.compactMap { config.filters[$0.value] })
    }
}
