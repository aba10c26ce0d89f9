import Foundation

/// Renders config problems for people (`FILE:LINE:COL: error: message`, the source line and a
/// caret under the column) and for scripts (JSON).
public struct DiagnosticFormatter: Sendable {
    public var sources: [String: String]
    public var colour: Bool

    public init(sources: [String: String], colour: Bool) {
        self.sources = sources
        self.colour = colour
    }

    public func text(_ diagnostic: Diagnostic) -> String {
        let severity = diagnostic.severity.rawValue
        let label = colour ? ANSI.wrap(severity + ":", diagnostic.severity == .error ? ANSI.red : ANSI.yellow) : severity + ":"
        guard let location = diagnostic.location else {
            return "cairn: \(label) \(diagnostic.message)"
        }
        var text = "\(location): \(label) \(diagnostic.message)"
        if let line = sourceLine(location) {
            let padding = line.prefix(max(0, location.column - 1)).map { $0 == "\t" ? "\t" : " " }.joined()
            text += "\n" + line + "\n" + padding + (colour ? ANSI.wrap("^", ANSI.green) : "^")
        }
        return text
    }

    func sourceLine(_ location: SourceLocation) -> String? {
        guard let source = sources[location.file] else { return nil }
        let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
        guard location.line >= 1, location.line <= lines.count else { return nil }
        let line = lines[location.line - 1]
        return String(line.hasSuffix("\r") ? line.dropLast() : line)
    }

    /// The problems as JSON: `{"valid": ..., "errors": N, "warnings": N, "problems": [...]}`.
    public static func json(_ diagnostics: [Diagnostic], files: [String]) -> String {
        struct Problem: Encodable {
            var severity: Diagnostic.Severity
            var file: String?
            var line: Int?
            var column: Int?
            var message: String
        }
        struct Report: Encodable {
            var valid: Bool
            var files: [String]
            var errors: Int
            var warnings: Int
            var problems: [Problem]
        }
        let report = Report(
            valid: !diagnostics.contains { $0.severity == .error }, files: files,
            errors: diagnostics.filter { $0.severity == .error }.count,
            warnings: diagnostics.filter { $0.severity == .warning }.count,
            problems: diagnostics.map {
                Problem(severity: $0.severity, file: $0.location?.file, line: $0.location?.line, column: $0.location?.column, message: $0.message)
            })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(report)) ?? Data(), as: UTF8.self)
    }
}

