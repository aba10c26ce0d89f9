import Foundation

extension ServerOptions {
    public struct MissingPassword: Error, CustomStringConvertible {
        public var description: String
    }

    /// The account's state on the server (usage, quota, append-only, whether this address may restore).
    public func status(account: String, environment: [String: String]) async throws -> ServerAccountStatus {
        try await client(account: account, repository: "-", environment: environment).accountStatus()
    }

    /// Reports a job to the server (its web page shows the last of each repository).
    public func report(_ job: ServerJobSummary, account: String, repository: String, environment: [String: String]) async throws {
        try await client(account: account, repository: repository, environment: environment).reportJob(job)
    }

    private func client(account: String, repository: String, environment: [String: String], traffic: StorageTraffic? = nil) throws -> ServerStorage {
        guard let password else { throw MissingPassword(description: "account '\(account)' has no password") }
        let value: String
        do {
            value = try password.resolve(environment: environment)
        } catch let error as SecretReference.ResolutionError {
            throw MissingPassword(description: "account '\(account)': the password cannot be read: \(error.errorDescription ?? "\(error)")")
        }
        return try ServerStorage(ServerStorage.Settings(options: self, repository: repository, password: value), traffic: traffic)
    }

    /// The storage of the repository `repository` on the server, with retries for what a
    /// network answers now and then (resets, 503); the password is read now that it is needed.
    public func storage(account: String, repository: String, environment: [String: String], traffic: StorageTraffic? = nil) throws -> any StorageBackend {
        RetryingStorage(try client(account: account, repository: repository, environment: environment, traffic: traffic))
    }
}
