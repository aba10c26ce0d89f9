import Foundation

/// What an `https://HOST[:PORT]/ACCOUNT` account (a cairn server) says besides its destination:
/// the user and password (a reference, never the value), a private CA, and a proxy.
public struct ServerOptions: Hashable, Sendable {
    /// `https://host:port`, without the account.
    public var server: String
    public var host: String
    public var port: Int
    /// The account on the server: the destination's path.
    public var account: String
    /// The user name sent; the account's name when the config names none.
    public var user: String
    public var password: SecretReference?
    /// PEM certificates trusted besides the system's (a private CA that signed the server's).
    public var caFile: String?
    /// `http://[USER:PASSWORD@]HOST:PORT`: an HTTP proxy reached with CONNECT.
    public var proxy: Proxy?
    /// Requests at once (8 by default).
    public var maxRequests: Int

    public struct Proxy: Hashable, Sendable {
        public var host: String
        public var port: Int
        public var user: String?
        public var password: String?
    }

    public static let defaultMaxRequests = 8

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    /// The server address, port and account of `https://HOST[:PORT]/ACCOUNT`.
    /// With `accountRequired` false (a server's `replicate-to:`), the URL may name no account.
    public static func parse(_ url: String, accountRequired: Bool = true) -> Result<(server: String, host: String, port: Int, account: String), Invalid> {
        guard let components = URLComponents(string: url), components.scheme?.lowercased() == "https", let host = components.host, !host.isEmpty else {
            return .failure(Invalid("a cairn server destination is https://HOST[:PORT]/ACCOUNT"))
        }
        guard components.user == nil, components.password == nil else {
            return .failure(Invalid("the user and password go in the account's user: and password: keys, not in the URL"))
        }
        guard components.query == nil, components.fragment == nil else { return .failure(Invalid("the URL has a query or fragment")) }
        let parts = components.path.split(separator: "/", omittingEmptySubsequences: true)
        if !accountRequired, !parts.isEmpty {
            return .failure(Invalid("a replica is named by its address alone, https://HOST[:PORT]: it takes every account"))
        }
        guard !accountRequired || (parts.count == 1 && ConfigDecoder.isValidName(String(parts[0]))) else {
            return .failure(Invalid("the path must be the account's name on the server (https://HOST[:PORT]/ACCOUNT)"))
        }
        let port = components.port ?? 443
        guard (1...65535).contains(port) else { return .failure(Invalid("port \(port) is out of range")) }
        let shownHost = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        return .success(
            ("https://\(shownHost)\(components.port.map { ":\($0)" } ?? "")", host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port, parts.first.map(String.init) ?? ""))
    }

    /// `http://[USER:PASSWORD@]HOST:PORT`.
    public static func parseProxy(_ text: String) -> Result<Proxy, Invalid> {
        guard let components = URLComponents(string: text), components.scheme?.lowercased() == "http", let host = components.host, !host.isEmpty,
            let port = components.port, (1...65535).contains(port), components.path.isEmpty || components.path == "/"
        else {
            return .failure(Invalid("a proxy is http://HOST:PORT (an HTTP proxy that tunnels with CONNECT), optionally http://USER:PASSWORD@HOST:PORT"))
        }
        return .success(Proxy(host: host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port: port, user: components.user, password: components.password))
    }
}
