import CairnCore
import Dispatch
import Foundation
import Synchronization

/// The server's accounts as the config last read says, what each stores (kept up to date as
/// objects come and go, so a quota is checked without a listing), the bytes promised to
/// uploads under way, and the passwords already checked. SIGHUP swaps the accounts; usage and
/// uploads under way stay.
final class AccountBook: Sendable {
    private struct State {
        var config: ServerConfig
        var usage: [String: Int] = [:]
        var reserved: [String: Int] = [:]
        /// Per account (and `replication:NAME`), the SHA-256 of the password last found right,
        /// with the hash it matched.
        var verified: [String: (password: [UInt8], hash: PasswordHash)] = [:]
    }

    private let state: Mutex<State>

    init(config: ServerConfig) {
        state = Mutex(State(config: config))
    }

    var config: ServerConfig { state.withLock { $0.config } }

    func account(_ name: String) -> ServerAccount? { state.withLock { $0.config.accounts[name] } }

    /// Takes a new config's accounts (the listener, certificate and storage are read at start).
    func reload(_ config: ServerConfig) {
        state.withLock {
            $0.config.accounts = config.accounts
            $0.config.adminPasswordHash = config.adminPasswordHash
            $0.config.replicationSources = config.replicationSources
        }
    }

    func setUsage(_ usage: [String: Int]) {
        state.withLock { $0.usage = usage }
    }

    /// Usage counted anew by listing (uploads under way keep their promises).
    func recount(_ counted: [String: Int]) {
        state.withLock { state in
            for (name, used) in counted { state.usage[name] = used }
        }
    }

    func usage(_ account: String) -> Int { state.withLock { $0.usage[account] ?? 0 } }

    /// Promises `bytes` to an upload of `account` that replaces `replacing` bytes; nil when the
    /// quota would be passed (then the usage, promises included, and the quota).
    func reserve(_ account: String, bytes: Int, replacing: Int, enforcing: Bool = true) -> (used: Int, quota: Int)? {
        state.withLock { state in
            let used = (state.usage[account] ?? 0) + (state.reserved[account] ?? 0)
            if enforcing, let quota = state.config.accounts[account]?.quota.map({ Int(clamping: $0.bytes) }), used - replacing + bytes > quota {
                return (used, quota)
            }
            state.reserved[account, default: 0] += bytes
            return nil
        }
    }

    /// Ends a promise: the upload stored `stored` bytes in place of `replaced` (0 and 0 when it failed).
    func settle(_ account: String, reserved: Int, stored: Int, replaced: Int) {
        state.withLock { state in
            state.reserved[account, default: 0] -= reserved
            state.usage[account, default: 0] += stored - replaced
        }
    }

    func removed(_ account: String, bytes: Int) {
        state.withLock { $0.usage[account, default: 0] -= bytes }
    }

    /// Whether `password` is the account's (scrypt off the event loops; a password found
    /// right is remembered until the account's hash changes).
    func check(_ account: String, password: [UInt8]) async -> Bool {
        await check(entry: account, password: password) { $0.config.accounts[account]?.passwordHash }
    }

    /// Whether `user` is a replication source (`replication-sources:`) with this password.
    func checkReplication(_ user: String, password: [UInt8]) async -> Bool {
        await check(entry: "replication:" + user, password: password) { $0.config.replicationSources[user] }
    }

    private func check(entry: String, password: [UInt8], hash: @Sendable (borrowing State) -> PasswordHash?) async -> Bool {
        let digest = Hashing.sha256(password)
        let known: (hash: PasswordHash, remembered: Bool)? = state.withLock { state in
            guard let hash = hash(state) else { return nil }
            if let verified = state.verified[entry], verified.hash == hash, verified.password == digest { return (hash, true) }
            return (hash, false)
        }
        guard let known else {
            // No such account: as long to answer as a wrong password, so timing tells nothing.
            _ = await Self.scrypt { Self.standIn.matches(password) }
            return false
        }
        if known.remembered { return true }
        let good = await Self.scrypt { known.hash.matches(password) }
        if good { state.withLock { $0.verified[entry] = (digest, known.hash) } }
        return good
    }

    /// The admin's password, for the web page's view of every account.
    func checkAdmin(password: [UInt8]) async -> Bool {
        guard let hash = state.withLock({ $0.config.adminPasswordHash }) else { return false }
        return await Self.scrypt { hash.matches(password) }
    }

    /// Checked against when the user does not exist.
    private static let standIn = try! PasswordHash.make(Array("no such account".utf8))

    private static let queue = DispatchQueue(label: "cairn.server.scrypt", attributes: .concurrent)

    private static func scrypt(_ work: @escaping @Sendable () -> Bool) async -> Bool {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: work()) }
        }
    }
}
