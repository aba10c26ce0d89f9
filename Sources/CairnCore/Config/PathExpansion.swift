import Foundation

/// `~` and `${VAR}` expansion and lexical normalisation of the paths written in configs.
public enum PathExpansion {
    public enum Failure: LocalizedError, CustomStringConvertible, Equatable {
        case undefinedVariable(String)
        case unterminatedVariable
        case noHome
        case unknownUser(String)

        public var errorDescription: String? {
            switch self {
            case .undefinedVariable(let name): return "the environment variable \(name) is not set"
            case .unterminatedVariable: return "'${' has no closing '}'"
            case .noHome: return "'~' cannot be expanded: HOME is not set"
            case .unknownUser(let name): return "'~\(name)' cannot be expanded: this machine has no user '\(name)'"
            }
        }

        /// The message, also where the error is interpolated ("\(error)").
        public var description: String { errorDescription ?? "" }
    }

    /// Expands `text` and makes it absolute against `base`.
    ///
    /// `~` or `~/...` becomes `$HOME/...`; `${NAME}` becomes the variable's value, and an unset
    /// variable is an error rather than an empty string; a `$` not followed by `{` stays as it is.
    public static func expand(_ text: String, relativeTo base: String, environment: [String: String]) throws -> String {
        var expanded = try substituteVariables(text, environment: environment)
        if expanded == "~" || expanded.hasPrefix("~/") {
            guard let home = environment["HOME"], !home.isEmpty else { throw Failure.noHome }
            expanded = home + expanded.dropFirst()
        } else if expanded.hasPrefix("~") {
            // `~name` or `~name/...`: that user's home folder.
            let name = String(expanded.dropFirst().prefix { $0 != "/" })
            guard let home = homeFolder(of: name) else { throw Failure.unknownUser(name) }
            expanded = home + expanded.dropFirst(1 + name.utf8.count)
        }
        if !expanded.hasPrefix("/") {
            expanded = base + "/" + expanded
        }
        return normalize(expanded)
    }

    /// The home folder of user `name` from the user database; nil when there is no such user.
    static func homeFolder(of name: String) -> String? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        guard getpwnam_r(name, &entry, &buffer, buffer.count, &result) == 0, result != nil, let directory = entry.pw_dir else { return nil }
        let home = String(cString: directory)
        return home.hasPrefix("/") ? home : nil
    }

    static func substituteVariables(_ text: String, environment: [String: String]) throws -> String {
        var result = ""
        var rest = Substring(text)
        while let dollar = rest.range(of: "${") {
            result += rest[..<dollar.lowerBound]
            guard let close = rest[dollar.upperBound...].firstIndex(of: "}") else { throw Failure.unterminatedVariable }
            let name = String(rest[dollar.upperBound..<close])
            guard let value = environment[name] else { throw Failure.undefinedVariable(name) }
            result += value
            rest = rest[rest.index(after: close)...]
        }
        return result + rest
    }

    /// Removes `.` components, resolves `..` lexically and collapses repeated slashes.
    public static func normalize(_ path: String) -> String {
        var components: [Substring] = []
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch component {
            case ".": continue
            case "..": if !components.isEmpty { components.removeLast() }
            default: components.append(component)
            }
        }
        return "/" + components.joined(separator: "/")
    }
}
