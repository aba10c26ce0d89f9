import Foundation
import Yams

/// Parsing a file's text into a node tree that keeps every scalar as written.
enum YAMLReading {
    /// Keys of repeated entries are renamed to this prefix plus a number before parsing again,
    /// so one repeated key does not hide the file's other problems; decoding skips them.
    static let repeatedKeyMarker = "\u{2307}repeated-key-"

    /// The single document of `text`, or nil with the parse problem recorded at its place.
    static func root(of text: String, file: String, diagnostics: inout Diagnostics) -> Node? {
        var text = text
        for attempt in 0..<200 {
            do {
                return try singleDocument(of: text, file: file, diagnostics: &diagnostics)
            } catch let YamlError.duplicatedKeysInMapping(duplicates, context) {
                let key = duplicates.first ?? ""
                guard let place = repeatedKey(key, after: (context.mark.line, context.mark.column), in: text) else {
                    diagnostics.error(
                        "the key '\(key)' is repeated in this mapping; each key may appear once",
                        at: SourceLocation(file: file, line: max(context.mark.line, 1), column: max(context.mark.column, 1)))
                    return nil
                }
                diagnostics.error(
                    "the key '\(key)' is repeated in this mapping; each key may appear once",
                    at: SourceLocation(file: file, line: place.line, column: place.column))
                text = renameKey(at: place, length: place.length, in: text, to: "\"\(repeatedKeyMarker)\(attempt)\"")
            } catch let error as YamlError {
                record(error, file: file, diagnostics: &diagnostics)
                return nil
            } catch {
                diagnostics.error("cannot parse YAML: \(error)", at: SourceLocation(file: file, line: 1, column: 1))
                return nil
            }
        }
        return nil
    }

    private static func singleDocument(of text: String, file: String, diagnostics: inout Diagnostics) throws -> Node? {
        var documents = try Yams.compose_all(yaml: text, .basic).makeIterator()
        var roots: [Node] = []
        while let node = documents.next() { roots.append(node) }
        if let error = documents.error { throw error }
        guard let root = roots.first else {
            diagnostics.error("the file is empty: a config needs at least 'version: 1'", at: SourceLocation(file: file, line: 1, column: 1))
            return nil
        }
        if roots.count > 1, let second = roots[1].mark {
            diagnostics.error(
                "a config file holds one YAML document; split further documents into files of a config directory",
                at: SourceLocation(file: file, line: second.line, column: second.column))
            return nil
        }
        return root
    }

    private static func renameKey(at place: (line: Int, column: Int, length: Int), length: Int, in text: String, to replacement: String) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var line = Array(lines[place.line - 1])
        line.replaceSubrange((place.column - 1)..<(place.column - 1 + length), with: Array(replacement))
        lines[place.line - 1] = String(line)
        return lines.joined(separator: "\n")
    }

    private static func record(_ error: YamlError, file: String, diagnostics: inout Diagnostics) {
        func at(_ mark: Mark) -> SourceLocation {
            SourceLocation(file: file, line: max(mark.line, 1), column: max(mark.column, 1))
        }
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
            let .composer(context, problem, mark, _):
            let started = context.map { "; \($0.text) that starts at line \($0.mark.line), column \($0.mark.column)" } ?? ""
            diagnostics.error("invalid YAML: \(problem)\(started)", at: at(mark))
        case let .reader(problem, _, _, _):
            diagnostics.error("cannot read YAML: \(problem)", at: SourceLocation(file: file, line: 1, column: 1))
        default:
            diagnostics.error("cannot parse YAML: \(error)", at: SourceLocation(file: file, line: 1, column: 1))
        }
    }

    /// Yams reports a repeated key at its first occurrence; the useful place is the repetition,
    /// the next line that has the same key at the same column.
    static func repeatedKey(_ key: String, after first: (line: Int, column: Int), in text: String) -> (line: Int, column: Int, length: Int)? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard first.line >= 1, first.line <= lines.count else { return nil }
        for index in first.line..<lines.count {
            let line = lines[index]
            let indent = line.prefix { $0 == " " }.count
            guard indent == first.column - 1 else { continue }
            let rest = line.dropFirst(indent)
            for candidate in [key, "\"\(key)\"", "'\(key)'"] where rest.hasPrefix(candidate) {
                let after = rest.dropFirst(candidate.count).drop { $0 == " " }
                if after.first == ":" { return (index + 1, first.column, candidate.count) }
            }
        }
        return nil
    }
}
