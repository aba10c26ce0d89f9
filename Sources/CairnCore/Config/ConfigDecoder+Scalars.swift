import Foundation
import Yams

/// Scalar values, each decoded by the type its key expects (YAML 1.2 core schema for
/// integers, booleans and null; quoted scalars are always strings).
extension ConfigDecoder {
    /// A plain or quoted scalar's text; null, mappings and lists are errors, and so is an empty
    /// string unless `allowEmpty`.
    func string(_ node: Node, _ what: String, allowEmpty: Bool = false) -> String? {
        guard case .scalar(let scalar) = node, !isNull(scalar) else {
            error("\(what) must be a string, found \(describe(node))", at: node)
            return nil
        }
        if scalar.string.isEmpty && !allowEmpty {
            error("\(what) must not be empty", at: node)
            return nil
        }
        return scalar.string
    }

    func locatedString(_ node: Node, _ what: String) -> Located<String>? {
        string(node, what).map { Located($0, at: location(of: node)) }
    }

    /// A plain scalar in YAML 1.2 core integer syntax (decimal, `0o` octal or `0x` hex), within `range`.
    func integer(_ node: Node, _ what: String, in range: ClosedRange<Int>) -> Int? {
        guard case .scalar(let scalar) = node, scalar.style == .plain, !isNull(scalar) else {
            if case .scalar(let scalar) = node, scalar.style != .plain {
                error("\(what) must be an integer, found the quoted string \"\(scalar.string)\" (quoted values are always strings)", at: node)
            } else {
                error("\(what) must be an integer, found \(describe(node))", at: node)
            }
            return nil
        }
        guard let value = Self.coreInteger(scalar.string) else {
            error("\(what) must be an integer, found '\(scalar.string)'", at: node)
            return nil
        }
        guard range.contains(value) else {
            error("\(what) must be between \(range.lowerBound) and \(range.upperBound), found \(value)", at: node)
            return nil
        }
        return value
    }

    static func coreInteger(_ text: String) -> Int? {
        if text.hasPrefix("0o") { return Int(text.dropFirst(2), radix: 8) }
        if text.hasPrefix("0x") { return Int(text.dropFirst(2), radix: 16) }
        var digits = Substring(text)
        if digits.first == "+" || digits.first == "-" { digits = digits.dropFirst() }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(text)
    }

    /// A plain `true` or `false` (also `True`, `TRUE`, `False`, `FALSE`, as YAML 1.2 has them).
    func boolean(_ node: Node, _ what: String) -> Bool? {
        if case .scalar(let scalar) = node, scalar.style == .plain {
            switch scalar.string {
            case "true", "True", "TRUE": return true
            case "false", "False", "FALSE": return false
            default: break
            }
        }
        error("\(what) must be true or false, found \(describe(node))", at: node)
        return nil
    }

    /// One of a fixed set of words, with a suggestion when the word is close to one of them.
    func word<Choice: RawRepresentable & CaseIterable>(_ node: Node, _ what: String, as type: Choice.Type) -> Choice?
    where Choice.RawValue == String {
        let choices = Choice.allCases.map(\.rawValue)
        guard let text = string(node, what) else { return nil }
        if let choice = Choice(rawValue: text) { return choice }
        error("\(what) must be one of \(choices.joined(separator: ", ")), found '\(text)'\(Suggestion.didYouMean(text, among: choices))", at: node)
        return nil
    }

    func weekday(_ node: Node, _ what: String) -> Weekday? {
        word(node, what, as: Weekday.self)
    }

    func duration(_ node: Node, _ what: String) -> ConfigDuration? {
        guard let text = string(node, what) else { return nil }
        guard let duration = ConfigDuration(parsing: text) else {
            error("\(what) must be a duration such as 90s, 15m, 4h, 3d or 1h30m, found '\(text)'", at: node)
            return nil
        }
        guard duration.seconds > 0 else {
            error("\(what) must be longer than zero", at: node)
            return nil
        }
        return duration
    }

    func size(_ node: Node, _ what: String) -> ByteSize? {
        guard let text = string(node, what) else { return nil }
        guard let size = ByteSize(parsing: text) else {
            error("\(what) must be a size such as 25MB (10^6 bytes), 25MiB (2^20 bytes) or a byte count, found '\(text)'", at: node)
            return nil
        }
        return size
    }

    func time(_ node: Node, _ what: String) -> TimeOfDay? {
        guard let text = string(node, what) else { return nil }
        guard let time = TimeOfDay(parsing: text) else {
            error("\(what) must be a time of day HH:MM (00:00 to 23:59), found '\(text)'", at: node)
            return nil
        }
        return time
    }

    func date(_ node: Node, _ what: String) -> LocalDate? {
        guard let text = string(node, what) else { return nil }
        guard let date = LocalDate(parsing: text) else {
            error("\(what) must be a date YYYY-MM-DD, found '\(text)'", at: node)
            return nil
        }
        return date
    }

    /// `off`, or a value read by `read`; `.some(nil)` is `off`, nil is an error.
    func orOff<Value>(_ node: Node, _ read: (Node) -> Value?) -> Value?? {
        if case .scalar(let scalar) = node, scalar.string == "off" { return .some(nil) }
        guard let value = read(node) else { return nil }
        return .some(value)
    }

    /// A path: `~` and `${VAR}` expanded, made absolute against the config file's folder, and
    /// normalised (`.`, `..` and repeated slashes removed).
    func path(_ node: Node, _ what: String) -> String? {
        guard let text = string(node, what) else { return nil }
        do {
            return try PathExpansion.expand(text, relativeTo: baseDirectory, environment: environment)
        } catch {
            self.error("\(what): \(error.localizedDescription)", at: node)
            return nil
        }
    }

    func locatedPath(_ node: Node, _ what: String) -> Located<String>? {
        path(node, what).map { Located($0, at: location(of: node)) }
    }
}
