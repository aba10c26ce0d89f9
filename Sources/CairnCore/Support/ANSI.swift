import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Terminal colours, used only when the output is a terminal and NO_COLOR is not set.
public enum ANSI {
    public static let red = "31"
    public static let yellow = "33"
    public static let green = "32"

    public static func wrap(_ text: String, _ code: String) -> String {
        "\u{1B}[\(code)m\(text)\u{1B}[0m"
    }

    /// Whether to colour what goes to `descriptor`: a terminal, and NO_COLOR unset or empty.
    public static func enabled(for descriptor: Int32, environment: [String: String]) -> Bool {
        guard isatty(descriptor) == 1 else { return false }
        return (environment["NO_COLOR"] ?? "").isEmpty && environment["TERM"] != "dumb"
    }
}
