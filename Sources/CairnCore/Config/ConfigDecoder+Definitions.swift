import Foundation
import Yams

/// Accounts, encryption profiles and filters.
extension ConfigDecoder {
    func account(_ name: String, key: Node, _ node: Node) -> Account? {
        // A server config's storage: and replicate-to: are read as accounts, named as themselves.
        let what = ["storage", "replicate-to"].contains(name) && key == node ? name : "account '\(name)'"
        guard let fields = mapping(node, what, keys: ["destination"] + Self.s3Keys + Self.serverKeysOfAccount, owner: key),
            let destinationNode = fields.required("destination"),
            let text = string(destinationNode, "\(what): destination")
        else { return nil }
        guard let destination = destination(text, at: destinationNode, what: what) else { return nil }
        var account = Account(name: name, location: location(of: key), destination: destination)
        switch destination {
        case .remote("s3", let url):
            guard let options = s3Options(url, fields, at: destinationNode, what: what) else { return nil }
            account.s3 = options
            if let stray = Self.serverKeysOfAccount.first(where: { fields[$0] != nil }) {
                error("\(what): '\(stray)' is a setting of https:// destinations (a cairn server), and this one is \(text)", at: fields[stray]!)
                return nil
            }
        case .remote("https", let url):
            // serverOptions refuses the S3 keys but max-requests, which both take.
            guard let options = serverOptions(url, fields, at: destinationNode, what: what) else { return nil }
            account.server = options
        default:
            let strays = (Self.s3Keys, "s3:// destinations"), servers = (Self.serverKeysOfAccount, "https:// destinations (a cairn server)")
            for (keys, owner) in [strays, servers] {
                if let stray = keys.first(where: { fields[$0] != nil }) {
                    error("\(what): '\(stray)' is a setting of \(owner), and this one is \(text)", at: fields[stray]!)
                    return nil
                }
            }
        }
        return account
    }

    static let serverKeysOfAccount = ["user", "password", "ca-file", "proxy"]

    private func serverOptions(_ url: String, _ fields: Fields, at node: Node, what: String) -> ServerOptions? {
        let parsed: (server: String, host: String, port: Int, account: String)
        // A server's replicate-to: names a replica's address, which takes every account.
        switch ServerOptions.parse(url, accountRequired: what != "replicate-to") {
        case .success(let value): parsed = value
        case .failure(let reason):
            error("\(what): destination \(url): \(reason)", at: node)
            return nil
        }
        if let stray = Self.s3Keys.first(where: { fields[$0] != nil && $0 != "max-requests" }) {
            error("\(what): '\(stray)' is a setting of s3:// destinations, and this one is a cairn server (\(url))", at: fields[stray]!)
            return nil
        }
        var options = ServerOptions(
            server: parsed.server, host: parsed.host, port: parsed.port, account: parsed.account, user: parsed.account.isEmpty ? "replication" : parsed.account,
            password: nil, caFile: nil, proxy: nil,
            maxRequests: ServerOptions.defaultMaxRequests)
        var valid = true
        if let userNode = fields["user"] {
            if let user = string(userNode, "\(what): user"), !user.contains(":"), !user.isEmpty { options.user = user } else {
                error("\(what): user must be a name without ':'", at: userNode)
                valid = false
            }
        }
        if let passwordNode = fields.required("password") {
            if let reference = secretReference(passwordNode, "\(what): password") { options.password = reference } else { valid = false }
        } else {
            valid = false
        }
        if let caNode = fields["ca-file"] {
            if let path = path(caNode, "\(what): ca-file") {
                if FileManager.default.isReadableFile(atPath: path) {
                    options.caFile = path
                } else {
                    warning("\(what): ca-file \(path) does not exist or cannot be read on this host; a run that needs this account will fail", at: caNode)
                    options.caFile = path
                }
            } else {
                valid = false
            }
        }
        if let proxyNode = fields["proxy"], let text = string(proxyNode, "\(what): proxy") {
            switch ServerOptions.parseProxy(text) {
            case .success(let proxy): options.proxy = proxy
            case .failure(let reason):
                error("\(what): proxy: \(reason), found '\(text)'", at: proxyNode)
                valid = false
            }
        } else if fields["proxy"] != nil {
            valid = false
        }
        if let requestsNode = fields["max-requests"] {
            if let value = integer(requestsNode, "\(what): max-requests", in: 1...64) { options.maxRequests = value } else { valid = false }
        }
        return valid ? options : nil
    }

    static let s3Keys = ["endpoint", "region", "path-style", "storage-class", "max-requests", "credentials"]

    private func s3Options(_ url: String, _ fields: Fields, at node: Node, what: String) -> S3Options? {
        let bucket: String, prefix: String
        switch S3Options.parse(url) {
        case .success(let parsed): (bucket, prefix) = parsed
        case .failure(let reason):
            error("\(what): destination \(url): \(reason)", at: node)
            return nil
        }
        var options = S3Options(bucket: bucket, prefix: prefix, pathStyle: false, maxRequests: S3Options.defaultMaxRequests)
        var valid = true
        if let endpointNode = fields["endpoint"], let text = string(endpointNode, "\(what): endpoint") {
            let url = URL(string: text)
            let scheme = url?.scheme?.lowercased()
            if let url, scheme == "https" || scheme == "http", url.host != nil, url.path.isEmpty || url.path == "/", url.query == nil, url.user == nil {
                options.endpoint = text.hasSuffix("/") ? String(text.dropLast()) : text
            } else {
                error("\(what): endpoint must be an http:// or https:// URL of a host (and port), such as https://s3.eu-central-1.amazonaws.com, found '\(text)'", at: endpointNode)
                valid = false
            }
        } else if fields["endpoint"] != nil {
            valid = false
        }
        if let regionNode = fields["region"], let text = string(regionNode, "\(what): region") {
            if !text.isEmpty, text.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }) {
                options.region = text
            } else {
                error("\(what): region must be a region name such as eu-central-1, found '\(text)'", at: regionNode)
                valid = false
            }
        } else if fields["region"] != nil {
            valid = false
        }
        if let pathStyleNode = fields["path-style"] {
            if let value = boolean(pathStyleNode, "\(what): path-style") { options.pathStyle = value } else { valid = false }
        }
        if let classNode = fields["storage-class"], let text = string(classNode, "\(what): storage-class") {
            if ["GLACIER", "DEEP_ARCHIVE"].contains(text) {
                error(
                    "\(what): storage-class \(text) is an archive class whose objects must be restored before they can be read; cairn reads its packs to restore, verify and prune: use STANDARD, STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING or GLACIER_IR",
                    at: classNode)
                valid = false
            } else if !text.isEmpty, text.allSatisfy({ $0.isASCII && ($0.isUppercase || $0.isNumber || $0 == "_") }) {
                options.storageClass = text
            } else {
                error("\(what): storage-class must be a class name such as STANDARD or STANDARD_IA, found '\(text)'", at: classNode)
                valid = false
            }
        } else if fields["storage-class"] != nil {
            valid = false
        }
        if let requestsNode = fields["max-requests"] {
            if let value = integer(requestsNode, "\(what): max-requests", in: 1...256) { options.maxRequests = value } else { valid = false }
        }
        if let credentialsNode = fields["credentials"] {
            let where_ = "\(what): credentials"
            guard let entries = mapping(credentialsNode, where_, keys: ["access-key-id", "secret-access-key", "session-token"]) else { return nil }
            guard let idNode = entries.required("access-key-id"), let secretNode = entries.required("secret-access-key"),
                let id = secretReference(idNode, "\(where_): access-key-id"), let secret = secretReference(secretNode, "\(where_): secret-access-key")
            else { return nil }
            var token: SecretReference?
            if let tokenNode = entries["session-token"] {
                guard let reference = secretReference(tokenNode, "\(where_): session-token") else { return nil }
                token = reference
            }
            options.credentials = S3Options.Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: token)
        }
        return valid ? options : nil
    }

    private func destination(_ text: String, at node: Node, what: String) -> Destination? {
        if let colon = text.range(of: "://") {
            let scheme = String(text[..<colon.lowerBound]).lowercased()
            if scheme == "file" {
                let path = String(text[colon.upperBound...])
                guard path.hasPrefix("/") else {
                    error("\(what): a file:// destination needs an absolute path, as file:///srv/backup", at: node)
                    return nil
                }
                return .localFolder(PathExpansion.normalize(path))
            }
            guard Destination.plannedSchemes.contains(scheme) else {
                error(
                    "\(what): unknown destination scheme '\(scheme)://'; use a local folder path\(Suggestion.didYouMean(scheme, among: Destination.plannedSchemes))",
                    at: node)
                return nil
            }
            return .remote(scheme: scheme, url: text)
        }
        return path(node, "\(what): destination").map { .localFolder($0) }
    }

    func encryptionProfile(_ name: String, key: Node, _ node: Node) -> EncryptionProfile? {
        let what = "encryption '\(name)'"
        guard let fields = mapping(node, what, keys: ["algorithm", "key"], owner: key) else { return nil }
        guard let algorithmNode = fields.required("algorithm"),
            let algorithm = word(algorithmNode, "\(what): algorithm", as: EncryptionProfile.Algorithm.self)
        else { return nil }
        var secret: SecretReference?
        if let keyNode = fields["key"] {
            if algorithm == .none {
                error("\(what): algorithm none stores data in clear and takes no key; remove 'key'", at: keyNode)
                return nil
            }
            secret = secretReference(keyNode, "\(what): key", promptAllowed: true)
            if secret == nil { return nil }
        } else if algorithm != .none {
            error("\(what) is missing the required key 'key' ({env: VAR}, {file: PATH}, {command: \"...\"} or {prompt: true})", at: node)
            return nil
        } else {
            warning("\(what): algorithm none stores file contents and names in clear at the destination", at: algorithmNode)
        }
        return EncryptionProfile(name: name, location: location(of: key), algorithm: algorithm, key: secret)
    }

    /// `{env: VAR}`, `{file: PATH}` or `{command: "..."}`, and for the keys of encryption
    /// profiles (`promptAllowed`) `{prompt: true}`; a literal secret is refused.
    func secretReference(_ node: Node, _ what: String, promptAllowed: Bool = false) -> SecretReference? {
        let forms = promptAllowed ? "{env: VAR}, {file: PATH}, {command: \"...\"} or {prompt: true}" : "{env: VAR}, {file: PATH} or {command: \"...\"}"
        if case .scalar(let scalar) = node, !isNull(scalar) {
            error("\(what) must be a reference (\(forms)): secrets never live in the config", at: node)
            return nil
        }
        guard var fields = mapping(node, what, keys: ["env", "file", "command", "timeout", "prompt"]) else { return nil }
        if !promptAllowed, let entry = fields.values["prompt"] {
            error("\(what): {prompt: true} is only for the keys of encryption profiles; use \(forms)", at: entry.key)
            return nil
        }
        var timeout: ConfigDuration?
        if let entry = fields.values.removeValue(forKey: "timeout") {
            guard fields.values["command"] != nil else {
                error("\(what): timeout goes with command (how long the command may take)", at: entry.key)
                return nil
            }
            guard let value = duration(entry.value, "\(what): timeout") else { return nil }
            guard value.seconds > 0 else {
                error("\(what): timeout must be longer than 0s", at: entry.value)
                return nil
            }
            timeout = value
        }
        guard fields.values.count == 1, let (kind, entry) = fields.values.first else {
            error("\(what) must have exactly one of env, file\(promptAllowed ? ", command or prompt" : " or command")", at: node)
            return nil
        }
        let here = location(of: node)
        switch kind {
        case "env":
            guard let name = string(entry.value, "\(what): env") else { return nil }
            return SecretReference(.environment(name), at: here)
        case "file":
            guard let path = path(entry.value, "\(what): file") else { return nil }
            return SecretReference(.file(path), at: here)
        case "prompt":
            guard let asked = boolean(entry.value, "\(what): prompt") else { return nil }
            guard asked else {
                error("\(what): prompt must be true (the key is typed at a prompt on the terminal); a key from elsewhere is {env: VAR}, {file: PATH} or {command: \"...\"}", at: entry.value)
                return nil
            }
            return SecretReference(.prompt, at: here)
        default:
            guard let command = string(entry.value, "\(what): command") else { return nil }
            var reference = SecretReference(.command(command), at: here)
            if let timeout { reference.timeout = timeout }
            return reference
        }
    }

    func filter(_ name: String, key: Node, _ node: Node) -> Filter? {
        let what = "filter '\(name)'"
        let keys = ["top", "apply-to", "match", "patterns", "mode", "others"]
        guard let fields = mapping(node, what, keys: keys, owner: key) else { return nil }
        let top = fields.required("top").flatMap { path($0, "\(what): top") }
        var applyTo: [Filter.Target]? = [.files]
        if let node = fields["apply-to"] {
            let targets = oneOrMany(node).map { word($0, "\(what): apply-to", as: Filter.Target.self) }
            applyTo = targets.contains { $0 == nil } ? nil : Array(Set(targets.compactMap { $0 })).sorted { $0.rawValue > $1.rawValue }
            if targets.isEmpty {
                error("\(what): apply-to must name files, directories or both", at: node)
                applyTo = nil
            }
        }
        let match = fields.required("match").flatMap { word($0, "\(what): match", as: Filter.Match.self) }
        let mode = fields.required("mode").flatMap { word($0, "\(what): mode", as: Filter.Mode.self) }
        let others = fields["others"].map { word($0, "\(what): others", as: Filter.Others.self) } ?? .keep
        var patterns: [String]?
        if let node = fields.required("patterns"), let items = list(node, "\(what): patterns") {
            if items.isEmpty { error("\(what): patterns must not be empty", at: node) }
            let read = items.map { item -> String? in
                guard let pattern = string(item, "\(what): pattern") else { return nil }
                if match == .regex, let problem = RegexCheck.problem(in: pattern) {
                    error("\(what): invalid regular expression '\(pattern)': \(problem)", at: item)
                    return nil
                }
                return pattern
            }
            patterns = read.contains { $0 == nil } || items.isEmpty ? nil : read.compactMap { $0 }
        }
        guard let top, let applyTo, let match, let mode, let others, let patterns else { return nil }
        return Filter(
            name: name, location: location(of: key), top: top, applyTo: applyTo, match: match,
            patterns: patterns, mode: mode, others: others)
    }
}

/// Regular expressions of filters are ICU expressions matched against an entry's name.
enum RegexCheck {
    static func problem(in pattern: String) -> String? {
        do {
            _ = try NSRegularExpression(pattern: pattern)
            return nil
        } catch {
            return "not a valid regular expression"
        }
    }
}
