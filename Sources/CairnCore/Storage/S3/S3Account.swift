import Foundation

extension S3Options {
    public struct MissingCredentials: Error, CustomStringConvertible {
        public var description: String
    }

    /// The credentials, read now that they are needed: the account's references, or the usual
    /// AWS sources (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY with AWS_SESSION_TOKEN, then
    /// the AWS_PROFILE or default profile of AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials).
    /// Errors name where a secret was looked for, never its value.
    public func resolveCredentials(account: String, environment: [String: String]) throws -> SigV4Signer.Credentials {
        if let credentials {
            do {
                return SigV4Signer.Credentials(
                    accessKey: try credentials.accessKeyID.resolve(environment: environment),
                    secretKey: try credentials.secretAccessKey.resolve(environment: environment),
                    sessionToken: try credentials.sessionToken?.resolve(environment: environment))
            } catch let error as SecretReference.ResolutionError {
                throw MissingCredentials(description: "account '\(account)': the S3 credentials cannot be read: \(error.errorDescription ?? "\(error)")")
            }
        }
        if let id = environment["AWS_ACCESS_KEY_ID"], !id.isEmpty, let secret = environment["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty {
            return SigV4Signer.Credentials(accessKey: id, secretKey: secret, sessionToken: environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 })
        }
        let profile = environment["AWS_PROFILE"].flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        let file = environment["AWS_SHARED_CREDENTIALS_FILE"] ?? environment["HOME"].map { $0 + "/.aws/credentials" } ?? "~/.aws/credentials (HOME is not set)"
        if let text = FileManager.default.contents(atPath: file).map({ String(decoding: $0, as: UTF8.self) }) {
            let values = Self.profile(profile, in: text)
            if let id = values["aws_access_key_id"], let secret = values["aws_secret_access_key"] {
                return SigV4Signer.Credentials(accessKey: id, secretKey: secret, sessionToken: values["aws_session_token"])
            }
        }
        throw MissingCredentials(
            description:
                "account '\(account)' has no S3 credentials: give it credentials: {access-key-id: {env: ...}, secret-access-key: {env: ...}}, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or put profile '\(profile)' in \(file)"
        )
    }

    /// The `key = value` lines of `[name]` in an AWS credentials file.
    static func profile(_ name: String, in text: String) -> [String: String] {
        var values: [String: String] = [:]
        var inside = false
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("#") || line.hasPrefix(";") || line.isEmpty { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                inside = line.dropFirst().dropLast().trimmingCharacters(in: .whitespaces) == name
                continue
            }
            guard inside, let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if !value.isEmpty { values[key] = value }
        }
        return values
    }

    /// The region: the account's, else AWS_REGION or AWS_DEFAULT_REGION, else us-east-1.
    public func resolvedRegion(environment: [String: String]) -> String {
        region ?? environment["AWS_REGION"].flatMap { $0.isEmpty ? nil : $0 } ?? environment["AWS_DEFAULT_REGION"].flatMap { $0.isEmpty ? nil : $0 } ?? "us-east-1"
    }

    /// The storage of the repository `repository` (a folder name under the prefix), with
    /// retries for what an object store answers now and then (500, 503 SlowDown, resets).
    public func storage(account: String, repository: String, environment: [String: String], traffic: StorageTraffic? = nil) throws -> any StorageBackend {
        let region = resolvedRegion(environment: environment)
        guard region.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }) else {
            throw MissingCredentials(description: "account '\(account)': the region '\(region)' from AWS_REGION or AWS_DEFAULT_REGION is no region name (such as eu-central-1)")
        }
        guard let endpoint = URL(string: endpoint ?? "https://s3.\(region).amazonaws.com") else {
            throw MissingCredentials(description: "account '\(account)': no endpoint can be made for region '\(region)'")
        }
        let settings = S3Storage.Settings(
            endpoint: endpoint, bucket: bucket, prefix: repository.isEmpty ? prefix : prefix + repository + "/", region: region, pathStyle: pathStyle, storageClass: storageClass,
            credentials: try resolveCredentials(account: account, environment: environment), concurrentRequests: maxRequests)
        // Signed with the system's time, whatever clock the run plans by: a server refuses a
        // request whose time is more than 15 minutes off its own.
        return RetryingStorage(S3Storage(settings, clock: SystemClock(), traffic: traffic))
    }
}
