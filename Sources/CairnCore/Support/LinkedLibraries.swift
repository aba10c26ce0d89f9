internal import CArchive
internal import COpenSSL
internal import CZlib
internal import CZstd

/// The versions of the C libraries cairn is linked against, as they report themselves at run time.
public enum LinkedLibraries {
    public static var openSSL: String { String(cString: OpenSSL_version(OPENSSL_VERSION_STRING)) }
    public static var zlib: String { String(cString: zlibVersion()) }
    public static var zstd: String { String(cString: ZSTD_versionString()) }
    public static var libarchive: String { String(cString: archive_version_string()) }

    /// One line naming each library and its version, for `cairn --version`.
    public static var summary: String {
        "OpenSSL \(openSSL), zlib \(zlib), zstd \(zstd), \(libarchive)"
    }
}
