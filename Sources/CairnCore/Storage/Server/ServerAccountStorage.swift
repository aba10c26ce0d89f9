import Foundation

extension ServerOptions {
    public struct MissingPassword: Error, CustomStringConvertible {
        public var description: String
    }

    /// The storage of the repository `repository` on the server, with retries for what a
    /// network answers now and then (resets, 503); the password is read now that it is needed.
    public func storage(account: String, repository: String, environment: [String: String], traffic: StorageTraffic? = nil) throws -> any StorageBackend {
        guard let password else { throw MissingPassword(description: "account '\(account)' has no password") }
        let value: String
        do {
            value = try password.resolve(environment: environment)
        } catch let error as SecretReference.ResolutionError {
            throw MissingPassword(description: "account '\(account)': the password cannot be read: \(error.errorDescription ?? "\(error)")")
        }
        return RetryingStorage(try ServerStorage(ServerStorage.Settings(options: self, repository: repository, password: value), traffic: traffic))
    }
}
