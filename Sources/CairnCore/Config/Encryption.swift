/// An `encryption:` profile: the algorithm and the user key that wraps a set's master key.
public struct EncryptionProfile: Sendable {
    public enum Algorithm: String, CaseIterable, Sendable {
        case aes256GCM = "aes-256-gcm"
        case chacha20Poly1305 = "chacha20-poly1305"
        case none
    }

    public var name: String
    public var location: SourceLocation
    public var algorithm: Algorithm
    /// Nil only when `algorithm` is `none`.
    public var key: SecretReference?
}

/// Where a secret comes from. The secret itself never lives in the config and is never printed.
public struct SecretReference: Hashable, Sendable, CustomStringConvertible {
    public enum Source: Hashable, Sendable {
        /// The value of an environment variable.
        case environment(String)
        /// The contents of a file, without one trailing newline.
        case file(String)
        /// What a shell command prints, without one trailing newline.
        case command(String)
        /// Typed at a prompt on the terminal, never echoed (`{prompt: true}`, encryption keys
        /// only): asked once per process and profile.
        case prompt
    }

    public var source: Source
    public var location: SourceLocation
    /// How long a command may take before it is stopped (`timeout:`, default 60 s): a command
    /// that hangs must not hang every command of cairn.
    public var timeout = ConfigDuration(seconds: 60)

    public init(_ source: Source, at location: SourceLocation) {
        self.source = source
        self.location = location
    }

    /// How the reference is shown to people: which kind and where, never a value; a command's
    /// text is masked because command lines often carry credentials.
    public var description: String {
        switch source {
        case .environment(let name): return "{env: \(name)}"
        case .file(let path): return "{file: \(path)}"
        case .command: return "{command: ***}"
        case .prompt: return "{prompt: true}"
        }
    }
}
