import Foundation

/// An ordered tree of plain values, rendered as YAML for people or JSON for scripts.
public indirect enum StructuredValue: Equatable, Sendable {
    case string(String)
    case integer(Int)
    case boolean(Bool)
    case list([StructuredValue])
    case map([(String, StructuredValue)])

    public static func == (lhs: StructuredValue, rhs: StructuredValue) -> Bool {
        switch (lhs, rhs) {
        case let (.string(a), .string(b)): return a == b
        case let (.integer(a), .integer(b)): return a == b
        case let (.boolean(a), .boolean(b)): return a == b
        case let (.list(a), .list(b)): return a == b
        case let (.map(a), .map(b)): return a.map(\.0) == b.map(\.0) && a.map(\.1) == b.map(\.1)
        default: return false
        }
    }

    // MARK: YAML

    /// Block-style YAML that reads back the same under YAML 1.1 and 1.2: every string that
    /// could be read as anything else is double-quoted.
    public func yaml() -> String {
        var lines: [String] = []
        renderYAML(indent: 0, into: &lines, prefix: nil)
        return lines.joined(separator: "\n") + "\n"
    }

    private var isScalar: Bool {
        switch self {
        case .list(let items): return items.isEmpty
        case .map(let pairs): return pairs.isEmpty
        default: return true
        }
    }

    private var scalarYAML: String {
        switch self {
        case .string(let text): return Self.yamlString(text)
        case .integer(let value): return String(value)
        case .boolean(let value): return value ? "true" : "false"
        case .list: return "[]"
        case .map: return "{}"
        }
    }

    private func renderYAML(indent: Int, into lines: inout [String], prefix: String?) {
        let pad = String(repeating: " ", count: indent)
        switch self {
        case .map(let pairs) where !pairs.isEmpty:
            var first = true
            for (key, value) in pairs {
                let lead = first && prefix != nil ? prefix! : pad
                first = false
                let keyText = Self.yamlString(key)
                if value.isScalar {
                    lines.append("\(lead)\(keyText): \(value.scalarYAML)")
                } else {
                    lines.append("\(lead)\(keyText):")
                    value.renderYAML(indent: indent + 2, into: &lines, prefix: nil)
                }
            }
        case .list(let items) where !items.isEmpty:
            for item in items {
                if item.isScalar {
                    lines.append("\(pad)- \(item.scalarYAML)")
                } else if case .map = item {
                    item.renderYAML(indent: indent + 2, into: &lines, prefix: pad + "- ")
                } else {
                    lines.append("\(pad)-")
                    item.renderYAML(indent: indent + 2, into: &lines, prefix: nil)
                }
            }
        default:
            lines.append(pad + scalarYAML)
        }
    }

    static let reservedWords: Set<String> = ["true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"]

    static func yamlString(_ text: String) -> String {
        let plainHead = text.unicodeScalars.first.map { ($0.properties.isAlphabetic && $0.isASCII) || "_/".unicodeScalars.contains($0) } ?? false
        let plainBody = text.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_./+@-".unicodeScalars.contains($0)) }
        if plainHead, plainBody, !reservedWords.contains(text.lowercased()) { return text }
        return jsonString(text)
    }

    // MARK: JSON

    public func json(indent: Int = 0) -> String {
        let pad = String(repeating: "  ", count: indent)
        let inner = String(repeating: "  ", count: indent + 1)
        switch self {
        case .string(let text): return Self.jsonString(text)
        case .integer(let value): return String(value)
        case .boolean(let value): return value ? "true" : "false"
        case .list(let items):
            if items.isEmpty { return "[]" }
            return "[\n" + items.map { inner + $0.json(indent: indent + 1) }.joined(separator: ",\n") + "\n\(pad)]"
        case .map(let pairs):
            if pairs.isEmpty { return "{}" }
            return "{\n" + pairs.map { inner + Self.jsonString($0.0) + ": " + $0.1.json(indent: indent + 1) }.joined(separator: ",\n") + "\n\(pad)}"
        }
    }

    /// A double-quoted string valid as JSON and as YAML.
    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                out += String(format: "\\u%04X", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
