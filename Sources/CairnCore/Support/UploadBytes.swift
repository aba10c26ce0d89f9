/// Bytes their owner holds in one piece, lent for reading in place.
public protocol UploadBytes {
    var byteCount: Int { get }
    func withUploadBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result
}

extension Array: UploadBytes where Element == UInt8 {
    public var byteCount: Int { count }
    public func withUploadBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result { try withUnsafeBytes(body) }
}

extension ArraySlice: UploadBytes where Element == UInt8 {
    public var byteCount: Int { count }
    public func withUploadBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result { try withUnsafeBytes(body) }
}
