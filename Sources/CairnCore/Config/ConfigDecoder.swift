import Foundation
import Yams

/// Turns one file's YAML node tree into model values, recording every problem with its place.
///
/// Scalars are read with YAML 1.2 core-schema meaning whatever the parser's defaults: a plain
/// scalar is decoded by the type its key expects, a quoted one is always a string.
final class ConfigDecoder {
    let file: String
    let baseDirectory: String
    let environment: [String: String]
    var diagnostics = Diagnostics()

    init(file: String, baseDirectory: String, environment: [String: String]) {
        self.file = file
        self.baseDirectory = baseDirectory
        self.environment = environment
    }

    func location(of node: Node) -> SourceLocation {
        let mark = node.mark
        return SourceLocation(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1)
    }

    func error(_ message: String, at node: Node) {
        diagnostics.error(message, at: location(of: node))
    }

    func warning(_ message: String, at node: Node) {
        diagnostics.warning(message, at: location(of: node))
    }

    // MARK: Shapes

    /// What a node is, in words, for "expected X, found Y" messages.
    func describe(_ node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar(let scalar):
            if isNull(scalar) { return "nothing" }
            return scalar.style == .plain ? "'\(scalar.string)'" : "the quoted string \"\(scalar.string)\""
        }
    }

    func isNull(_ scalar: Node.Scalar) -> Bool {
        scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    /// A mapping whose keys are checked against `keys`: unknown keys are reported with a
    /// suggestion, and the result hands out the known ones.
    func mapping(_ node: Node, _ what: String, keys: [String], owner: Node? = nil) -> Fields? {
        guard case .mapping(let mapping) = node else {
            error("\(what) must be a mapping, found \(describe(node))", at: node)
            return nil
        }
        var fields = Fields(node: owner ?? node, what: what, decoder: self)
        for (keyNode, value) in mapping {
            guard case .scalar(let key) = keyNode else {
                error("keys in \(what) must be plain words, found \(describe(keyNode))", at: keyNode)
                continue
            }
            if key.string.hasPrefix(YAMLReading.repeatedKeyMarker) { continue }
            if keys.contains(key.string) {
                fields.values[key.string] = (keyNode, value)
            } else {
                error("unknown key '\(key.string)' in \(what)\(Suggestion.didYouMean(key.string, among: keys))", at: keyNode)
            }
        }
        return fields
    }

    /// A mapping of user-chosen names (`accounts:`, `backup-sets:` ...) to definitions.
    func namedEntries(_ node: Node, _ what: String) -> [(name: String, key: Node, value: Node)] {
        guard case .mapping(let mapping) = node else {
            error("\(what) must be a mapping of names to definitions, found \(describe(node))", at: node)
            return []
        }
        var entries: [(String, Node, Node)] = []
        for (keyNode, value) in mapping {
            if case .scalar(let key) = keyNode, key.string.hasPrefix(YAMLReading.repeatedKeyMarker) { continue }
            guard case .scalar(let key) = keyNode, !isNull(key) else {
                error("names in \(what) must be plain words, found \(describe(keyNode))", at: keyNode)
                continue
            }
            guard Self.isValidName(key.string) else {
                error(
                    "'\(key.string)' is not a valid name in \(what): use letters, digits, '.', '_' and '-', starting with a letter or digit",
                    at: keyNode)
                continue
            }
            entries.append((key.string, keyNode, value))
        }
        return entries
    }

    static func isValidName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, name.unicodeScalars.count <= 64 else { return false }
        func allowed(_ c: Unicode.Scalar) -> Bool {
            c.isASCII && (CharacterSet.alphanumerics.contains(c) || c == "." || c == "_" || c == "-")
        }
        return first.isASCII && CharacterSet.alphanumerics.contains(first) && name.unicodeScalars.allSatisfy(allowed)
    }

    func list(_ node: Node, _ what: String) -> [Node]? {
        guard case .sequence(let sequence) = node else {
            error("\(what) must be a list, found \(describe(node))", at: node)
            return nil
        }
        return Array(sequence)
    }

    /// A list, or a single value standing for a list of one (as `at: "22:00"`).
    func oneOrMany(_ node: Node) -> [Node] {
        if case .sequence(let sequence) = node { return Array(sequence) }
        return [node]
    }
}

/// The known keys of one mapping, handed out by name.
struct Fields {
    let node: Node
    let what: String
    let decoder: ConfigDecoder
    var values: [String: (key: Node, value: Node)] = [:]

    init(node: Node, what: String, decoder: ConfigDecoder) {
        self.node = node
        self.what = what
        self.decoder = decoder
    }

    subscript(key: String) -> Node? { values[key]?.value }

    func has(_ key: String) -> Bool { values[key] != nil }

    /// The value of a key that must be present; reports its absence at the mapping.
    func required(_ key: String) -> Node? {
        if let value = values[key]?.value { return value }
        decoder.error("\(what) is missing the required key '\(key)'", at: node)
        return nil
    }

    func keyLocation(_ key: String) -> SourceLocation? {
        values[key].map { decoder.location(of: $0.key) }
    }
}
