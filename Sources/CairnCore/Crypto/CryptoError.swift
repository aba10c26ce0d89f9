internal import COpenSSL

/// A failure inside the cryptography layer.
public enum CryptoError: Error, Equatable, CustomStringConvertible {
    /// Authentication failed: the data was altered, or the key or the associated data is wrong.
    case authenticationFailed
    /// OpenSSL refused an operation; the text is its error queue.
    case openSSL(String)
    case invalidInput(String)

    public var description: String {
        switch self {
        case .authenticationFailed: return "authentication failed: the data is damaged or the key is wrong"
        case .openSSL(let text): return "OpenSSL: \(text)"
        case .invalidInput(let text): return text
        }
    }

    /// The pending OpenSSL errors as one line, clearing the queue.
    static func fromQueue(_ what: String) -> CryptoError {
        var messages: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            messages.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return .openSSL(messages.isEmpty ? what : "\(what): \(messages.joined(separator: "; "))")
    }
}
