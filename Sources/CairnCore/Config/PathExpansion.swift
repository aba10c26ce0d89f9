import Foundation

/// `~` and `${VAR}` expansion and lexical normalisation of the paths written in configs.
public enum PathExpansion {
    public enum Failure: LocalizedError, Equatable {
        case undefinedVariable(String)
        case unterminatedVariable
        case noHome

        public var errorDescription: String? {
            switch self {
            case .undefinedVariable(let name): return "the environment variable \(name) is not set"
            case .unterminatedVariable: return "'${' has no closing '}'"
            case .noHome: return "'~' cannot be expanded: HOME is not set"
            }
        }
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
        }
        if !expanded.hasPrefix("/") {
            expanded = base + "/" + expanded
        }
        return normalize(expanded)
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
