import Foundation
import Yams

/// `cairn server`'s config (server.yaml): where it listens, its certificate, where the
/// repositories live, and the accounts that may store there. Declarative like the client's:
/// `cairn server validate` reports every problem with its place; SIGHUP reads it again.
public struct ServerConfig: Sendable {
    public var file: String
    public var listen: ListenAddress
    /// nil only with an explicit `tls: off` (plain HTTP behind a reverse proxy on this host).
    public var tls: TLSFiles?
    public var storage: Storage
    public var accounts: [String: ServerAccount]
    /// The web page's admin view of every account (`admin: {password-hash: ...}`).
    public var adminPasswordHash: PasswordHash?
    /// The server's own files (the replication queue): `state:`, by default
    /// `<storage>/.cairn-server` for a folder storage.
    public var stateFolder: String
    /// Where every object stored is forwarded (`replicate-to:`).
    public var replicateTo: Account?
    /// Users other servers replicate into this one with (`replication-sources:`).
    public var replicationSources: [String: PasswordHash] = [:]

    public struct ListenAddress: Hashable, Sendable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    public struct TLSFiles: Hashable, Sendable {
        public var certificate: String
        public var key: String
    }

    public enum Storage: Sendable {
        /// A local folder: `<folder>/<account>/<repository>/...`.
        case folder(String)
        /// An S3 bucket (and prefix), described as a client account is.
        case s3(Account)

        public var description: String {
            switch self {
            case .folder(let path): return path
            case .s3(let account): return account.destination.description
            }
        }
    }
}

public struct ServerAccount: Sendable {
    /// Whether `name` can name an account: letters, digits, '.', '_' and '-', starting with a
    /// letter or digit, at most 64.
    public static func isValidName(_ name: String) -> Bool { ConfigDecoder.isValidName(name) }

    public var name: String
    public var location: SourceLocation
    public var passwordHash: PasswordHash
    /// nil: no quota.
    public var quota: ByteSize?
    /// Addresses that may read stored data (restore, verify, prune); nil: any address.
    public var restoreFrom: [NetworkRange]?
    /// Deletes and overwrites refused (but of the client's own locks).
    public var appendOnly: Bool
    public var contact: String?
    /// What `cairn server prune ACCOUNT` keeps (an append-only account's expiry).
    public var retention: RetentionPolicy?

    /// Whether a client at `address` (bytes, as `NetworkRange.address` gives) may read stored data.
    public func mayRestore(from address: [UInt8]?) -> Bool {
        guard let restoreFrom else { return true }
        guard let address else { return false }
        return restoreFrom.contains { $0.contains(address) }
    }
}

/// Reads and checks server.yaml.
public struct ServerConfigLoader: Sendable {
    public var environment: [String: String]
    public var currentDirectory: String

    public init(environment: [String: String], currentDirectory: String) {
        self.environment = environment
        self.currentDirectory = currentDirectory
    }

    public init(_ run: RunEnvironment) {
        self.init(environment: run.variables, currentDirectory: run.currentDirectory)
    }

    public struct Result: Sendable {
        public var config: ServerConfig?
        public var diagnostics: Diagnostics
        public var sources: [String: String]
    }

    public func load(path: String) -> Result {
        var diagnostics = Diagnostics()
        let absolute = PathExpansion.normalize(path.hasPrefix("/") ? path : currentDirectory + "/" + path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: absolute, isDirectory: &isDirectory), !isDirectory.boolValue else {
            diagnostics.error("no server config at '\(path)': \(isDirectory.boolValue ? "it is a folder, not a file" : "no such file")", at: nil)
            return Result(config: nil, diagnostics: diagnostics, sources: [:])
        }
        guard let data = FileManager.default.contents(atPath: absolute) else {
            diagnostics.error("cannot read '\(path)': permission denied or not a regular file", at: nil)
            return Result(config: nil, diagnostics: diagnostics, sources: [:])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            diagnostics.error("'\(path)' is not valid UTF-8 text", at: SourceLocation(file: path, line: 1, column: 1))
            return Result(config: nil, diagnostics: diagnostics, sources: [:])
        }
        let decoder = ConfigDecoder(file: path, baseDirectory: (absolute as NSString).deletingLastPathComponent, environment: environment)
        var config: ServerConfig?
        if let root = YAMLReading.root(of: text, file: path, diagnostics: &decoder.diagnostics) {
            config = decoder.serverConfig(root)
        }
        return Result(config: decoder.diagnostics.hasErrors ? nil : config, diagnostics: decoder.diagnostics, sources: [path: text])
    }
}

extension ConfigDecoder {
    static let serverKeys = ["version", "listen", "tls", "storage", "state", "accounts", "admin", "replicate-to", "replication-sources"]

    func serverConfig(_ root: Node) -> ServerConfig? {
        guard let fields = mapping(root, "the server config", keys: Self.serverKeys) else { return nil }
        if let versionNode = fields.required("version"), let version = integer(versionNode, "version", in: 1...Int.max), version != 1 {
            error("version \(version) is not known to this cairn: it reads server configs of version 1", at: versionNode)
        }
        let listen = fields.required("listen").flatMap(listenAddress)
        let tls = fields.required("tls").flatMap(tlsFiles)
        let storage = fields.required("storage").flatMap(serverStorage)
        var accounts: [String: ServerAccount] = [:]
        if let accountsNode = fields.required("accounts") {
            for (name, key, value) in namedEntries(accountsNode, "accounts") {
                if let account = serverAccount(name, key: key, value) { accounts[name] = account }
            }
            if case .mapping(let mapping) = accountsNode, mapping.isEmpty {
                warning("accounts: no accounts are defined; the server will refuse every request", at: accountsNode)
            }
        }
        var admin: PasswordHash?
        if let adminNode = fields["admin"], let adminFields = mapping(adminNode, "admin", keys: ["password-hash"]),
            let hashNode = adminFields.required("password-hash")
        {
            admin = passwordHash(hashNode, "admin: password-hash")
        }
        var state: String?
        if let stateNode = fields["state"] { state = path(stateNode, "state") }
        if state == nil, case .s3? = storage, fields["state"] == nil {
            error("the server config needs state: (a local folder for the server's own files, such as its replication queue) when storage is an S3 bucket", at: root)
        }
        var replicateTo: Account?
        if let node = fields["replicate-to"] {
            replicateTo = account("replicate-to", key: node, node)
            if case .localFolder? = replicateTo?.destination {
                error("replicate-to: the replica is another cairn server (https://HOST[:PORT]) or an S3 bucket (s3://BUCKET/PREFIX)", at: node)
                replicateTo = nil
            }
        }
        var sources: [String: PasswordHash] = [:]
        if let node = fields["replication-sources"] {
            for (name, key, value) in namedEntries(node, "replication-sources") {
                guard let entry = mapping(value, "replication source '\(name)'", keys: ["password-hash"], owner: key),
                    let hashNode = entry.required("password-hash"), let hash = passwordHash(hashNode, "replication source '\(name)': password-hash")
                else { continue }
                if accounts[name] != nil { error("replication source '\(name)' has the name of an account; give it a name of its own", at: key) }
                sources[name] = hash
            }
        }
        guard let listen, let tls, let storage else { return nil }
        let stateFolder: String
        switch storage {
        case .folder(let folder): stateFolder = state ?? folder + "/.cairn-server"
        case .s3: stateFolder = state ?? ""
        }
        return ServerConfig(
            file: file, listen: listen, tls: tls.files, storage: storage, accounts: accounts, adminPasswordHash: admin, stateFolder: stateFolder,
            replicateTo: replicateTo, replicationSources: sources)
    }

    private func listenAddress(_ node: Node) -> ServerConfig.ListenAddress? {
        guard let text = string(node, "listen") else { return nil }
        let problem = "listen must be ADDRESS:PORT, such as 0.0.0.0:8443, 127.0.0.1:8443 or [::]:8443, found '\(text)'"
        guard let colon = text.lastIndex(of: ":") else {
            error(problem, at: node)
            return nil
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port), NetworkRange.address(host) != nil else {
            error(problem, at: node)
            return nil
        }
        return ServerConfig.ListenAddress(host: host, port: port)
    }

    private struct TLSChoice {
        var files: ServerConfig.TLSFiles?
    }

    private func tlsFiles(_ node: Node) -> TLSChoice? {
        if case .scalar(let scalar) = node, scalar.style == .plain, ["off", "false"].contains(scalar.string) {
            return TLSChoice(files: nil)
        }
        guard case .mapping = node else {
            error("tls must be {certificate: PATH, key: PATH}, or off for plain HTTP behind a reverse proxy on this host, found \(describe(node))", at: node)
            return nil
        }
        guard let fields = mapping(node, "tls", keys: ["certificate", "key"]),
            let certificateNode = fields.required("certificate"), let keyNode = fields.required("key"),
            let certificate = path(certificateNode, "tls: certificate"), let key = path(keyNode, "tls: key")
        else { return nil }
        var readable = true
        for (path, at, what) in [(certificate, certificateNode, "certificate"), (key, keyNode, "key")] where !FileManager.default.isReadableFile(atPath: path) {
            error("tls: \(what) \(path) does not exist or cannot be read", at: at)
            readable = false
        }
        return readable ? TLSChoice(files: ServerConfig.TLSFiles(certificate: certificate, key: key)) : nil
    }

    private func serverStorage(_ node: Node) -> ServerConfig.Storage? {
        if case .scalar(let scalar) = node {
            if scalar.string.lowercased().hasPrefix("s3:") {
                error("storage: an S3 bucket is written {destination: s3://BUCKET/PREFIX, endpoint: ..., credentials: ...}, as a client account", at: node)
                return nil
            }
            guard let folder = path(node, "storage") else { return nil }
            if folder.hasPrefix("s3:") {
                error("storage: an S3 bucket is written {destination: s3://BUCKET/PREFIX, endpoint: ..., credentials: ...}, as a client account", at: node)
                return nil
            }
            var isDirectory: ObjCBool = false
            if !FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory) || !isDirectory.boolValue {
                error("storage: the folder \(folder) does not exist (is its disk mounted?); create it for the server's repositories", at: node)
                return nil
            }
            return .folder(folder)
        }
        guard let account = account("storage", key: node, node) else { return nil }
        switch account.destination {
        case .localFolder(let path): return .folder(path)
        case .remote("s3", _): return .s3(account)
        case .remote(let scheme, _):
            error("storage: the server stores to a local folder or an s3:// bucket, not \(scheme)://", at: node)
            return nil
        }
    }

    private func passwordHash(_ node: Node, _ what: String) -> PasswordHash? {
        guard let text = string(node, what) else { return nil }
        do {
            return try PasswordHash(parsing: text)
        } catch {
            self.error("\(what): \(error)", at: node)
            return nil
        }
    }

    private func serverAccount(_ name: String, key: Node, _ node: Node) -> ServerAccount? {
        let what = "account '\(name)'"
        guard let fields = mapping(node, what, keys: ["password-hash", "quota", "restore-from", "append-only", "contact", "retention"], owner: key) else { return nil }
        let hash = fields.required("password-hash").flatMap { passwordHash($0, "\(what): password-hash") }
        var valid = hash != nil
        var quota: ByteSize?
        if let quotaNode = fields["quota"] {
            if case .scalar(let scalar) = quotaNode, scalar.style == .plain, ["none", "off"].contains(scalar.string) {
                quota = nil
            } else if let size = size(quotaNode, "\(what): quota") {
                quota = size
            } else {
                valid = false
            }
        }
        var restoreFrom: [NetworkRange]?
        if let rangesNode = fields["restore-from"] {
            var ranges: [NetworkRange] = []
            for entry in oneOrMany(rangesNode) {
                guard let text = string(entry, "\(what): restore-from") else {
                    valid = false
                    continue
                }
                if let range = NetworkRange(parsing: text) {
                    ranges.append(range)
                } else {
                    error("\(what): restore-from: '\(text)' is not an address or range (such as 192.168.1.0/24, 10.0.0.7 or 2001:db8::/32)", at: entry)
                    valid = false
                }
            }
            if ranges.isEmpty, valid { warning("\(what): restore-from is empty: no address may restore from this account", at: rangesNode) }
            restoreFrom = ranges
        }
        var appendOnly = false
        if let appendNode = fields["append-only"] {
            if let value = boolean(appendNode, "\(what): append-only") { appendOnly = value } else { valid = false }
        }
        var contact: String?
        if let contactNode = fields["contact"] {
            if let text = string(contactNode, "\(what): contact") { contact = text } else { valid = false }
        }
        var retention: RetentionPolicy?
        if let retentionNode = fields["retention"] {
            retention = retentionPolicy(name, key: fields.values["retention"]!.key, retentionNode)
            if retention == nil { valid = false }
            if appendOnly, let policy = retention {
                if case .keepDays = policy.kind {} else {
                    warning(
                        "\(what): an append-only account's client can still add snapshots (empty ones, as many as it likes): a policy that counts jobs or keeps by rules can then expire the real ones in cairn server prune; keep-days cannot be flooded so",
                        at: retentionNode)
                }
            }
        }
        guard valid, let hash else { return nil }
        return ServerAccount(
            name: name, location: location(of: key), passwordHash: hash, quota: quota, restoreFrom: restoreFrom, appendOnly: appendOnly, contact: contact,
            retention: retention)
    }
}
