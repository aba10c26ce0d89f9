/// Repository problems, each saying what happened, where, and what to do.
public enum RepositoryError: Error, Equatable, CustomStringConvertible {
    case notARepository(String)
    case alreadyExists(String)
    case wrongKey(String, tried: Int, damaged: [String] = [])
    case noKeyNeeded(String)
    case keyNeeded(String)
    case damaged(String)
    case missingObject(String)
    case locked(String)
    case unsupported(String)

    public var description: String {
        switch self {
        case .notARepository(let place): return "\(place) is not a cairn repository (no cairn-repository file)"
        case .alreadyExists(let place): return "\(place) already holds a cairn repository"
        case .wrongKey(let place, let tried, let damaged):
            let skipped = damaged.isEmpty ? "" : "; \(damaged.count) of them could not be tried: \(damaged.joined(separator: "; "))"
            return "the key does not open the repository at \(place) (tried its \(tried) key\(tried == 1 ? "" : "s")\(skipped)); nothing was changed. Check the key, or use 'cairn key change' with a key that works"
        case .noKeyNeeded(let place): return "the repository at \(place) is not encrypted (encryption: none) but the set's profile has a key"
        case .keyNeeded(let place): return "the repository at \(place) is encrypted, but the set's encryption profile is none"
        case .damaged(let what): return "damaged repository data: \(what); 'cairn verify SET' says what it affects, 'cairn repair SET' what can be done"
        case .missingObject(let what): return "missing repository data: \(what); 'cairn verify SET' says what it affects, 'cairn repair SET' what can be done"
        case .locked(let what): return what
        case .unsupported(let what): return what
        }
    }
}

extension DecodingError {
    /// A JSON record's decoding error in words, without Swift's coding-path dump.
    var inWords: String {
        switch self {
        case .dataCorrupted: return "its record is not valid JSON"
        case .keyNotFound(let key, _): return "its record has no '\(key.stringValue)'"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "its record's '\(context.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type"
        @unknown default: return "its record cannot be decoded"
        }
    }
}
