import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// An address range in CIDR notation (`192.168.1.0/24`, `2001:db8::/32`) or one address
/// (`127.0.0.1`, `::1`): the server's `restore-from` lists.
public struct NetworkRange: Hashable, Sendable, CustomStringConvertible {
    /// The network's address bytes: 4 for IPv4, 16 for IPv6.
    public var address: [UInt8]
    public var prefixLength: Int

    public init?(parsing text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let address = Self.address(String(parts[0])) else { return nil }
        let bits = address.count * 8
        var length = bits
        if parts.count == 2 {
            guard let value = Int(parts[1]), (0...bits).contains(value), parts[1].allSatisfy(\.isNumber) else { return nil }
            length = value
        }
        self.address = Self.masked(address, length)
        prefixLength = length
    }

    /// The bytes of an IPv4 or IPv6 address in text; an IPv4-mapped IPv6 address
    /// (`::ffff:10.0.0.1`) is read as the IPv4 address it carries.
    public static func address(_ text: String) -> [UInt8]? {
        var four = in_addr()
        if inet_pton(AF_INET, text, &four) == 1 {
            return withUnsafeBytes(of: &four) { Array($0) }
        }
        var six = in6_addr()
        guard inet_pton(AF_INET6, text, &six) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &six) { Array($0) }
        if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff { return Array(bytes[12...]) }
        return bytes
    }

    static func masked(_ address: [UInt8], _ length: Int) -> [UInt8] {
        address.enumerated().map { index, byte in
            let kept = max(0, min(8, length - index * 8))
            return kept == 8 ? byte : byte & UInt8(truncatingIfNeeded: 0xff << (8 - kept))
        }
    }

    /// Whether the address (its bytes, as `address(_:)` gives) lies in this range.
    public func contains(_ bytes: [UInt8]) -> Bool {
        bytes.count == address.count && Self.masked(bytes, prefixLength) == address
    }

    public var description: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let family = address.count == 4 ? AF_INET : AF_INET6
        _ = address.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &text, socklen_t(text.count)) }
        let shown = String(cString: text)
        return prefixLength == address.count * 8 ? shown : "\(shown)/\(prefixLength)"
    }
}
