internal import CArchive
import Foundation

/// `cairn export`: a snapshot (or the chosen paths of it) as a plain archive written through
/// libarchive, for people without cairn: pax tar (optionally gzip, zstd or xz) or zip. Modes,
/// owners, times, symlinks, hard links, devices and extended attributes go in where the format
/// can hold them (pax tar holds them all; zip holds modes, times and symlinks, stores hard links
/// as copies, and cannot hold devices, FIFOs or sockets, which are listed as left out). Every
/// object is verified as it is read, and each file's content against its recorded hash.
public struct Exporter {
    public enum Format: String, CaseIterable, Sendable {
        case tar, tarGz = "tar.gz", tarZst = "tar.zst", tarXz = "tar.xz", zip

        /// The format a file name's extension names; nil when it names none.
        public init?(fileName: String) {
            let name = fileName.lowercased()
            let suffixes: [(String, Format)] = [
                (".tar.gz", .tarGz), (".tgz", .tarGz), (".tar.zst", .tarZst), (".tzst", .tarZst), (".tar.xz", .tarXz), (".txz", .tarXz),
                (".tar", .tar), (".zip", .zip),
            ]
            guard let found = suffixes.first(where: { name.hasSuffix($0.0) }) else { return nil }
            self = found.1
        }
    }

    public struct Summary: Sendable {
        public var files = 0
        public var directories = 0
        public var others = 0
        public var bytes: UInt64 = 0
        /// Entries the format cannot hold, with why.
        public var leftOut: [String] = []
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public let repository: Repository
    public let format: Format
    public let paths: PathSelection

    public init(repository: Repository, format: Format, paths: PathSelection) {
        self.repository = repository
        self.format = format
        self.paths = paths
    }

    /// Writes the archive of the tree `root` (a snapshot's tree of `/`) to `descriptor`.
    public func export(root: ObjectID, to descriptor: Int32) async throws -> Summary {
        guard let archive = archive_write_new() else { throw Failure(description: "libarchive could not start an archive") }
        defer { archive_write_free(archive) }
        func check(_ status: Int32, _ what: String) throws {
            guard status < ARCHIVE_WARN else { return }
            let reason = archive_error_string(archive).map { String(cString: $0) } ?? "unknown error"
            throw Failure(description: "\(what): \(reason)")
        }
        switch format {
        case .zip: try check(archive_write_set_format_zip(archive), "zip format")
        // pax, not pax-restricted: restricted leaves sub-second times out.
        default: try check(archive_write_set_format_pax(archive), "pax format")
        }
        switch format {
        case .tarGz: try check(archive_write_add_filter_gzip(archive), "gzip")
        case .tarZst: try check(archive_write_add_filter_zstd(archive), "zstd")
        case .tarXz: try check(archive_write_add_filter_xz(archive), "xz")
        case .tar, .zip: break
        }
        try check(archive_write_open_fd(archive, descriptor), "opening the output")
        var state = State()
        let reads = JoinedReads(repository: repository)
        do {
            try await walk(root, at: .root, archive: archive, reads: reads, state: &state, check: check)
            try check(archive_write_close(archive), "finishing the archive")
        } catch {
            // No end-of-archive: a reader of a cut stream must see it is cut.
            archive_write_fail(archive)
            throw error
        }
        return state.summary
    }

    struct State {
        var summary = Summary()
        /// The first path of each hard-linked file (device, inode), for the links after it.
        var linked: [[UInt64]: [UInt8]] = [:]
    }

    private func walk(
        _ tree: ObjectID, at path: FilePath, archive: OpaquePointer, reads: JoinedReads, state: inout State, check: (Int32, String) throws -> Void
    ) async throws {
        let entries = try await repository.tree(tree).entries
        await reads.announce(entries.filter { paths.selection(of: path.appending($0.name)).selected }.flatMap { $0.content.map(\.object) })
        for entry in entries {
            let child = path.appending(entry.name)
            let (selected, below) = paths.selection(of: child)
            if selected { try await write(entry, at: child, archive: archive, reads: reads, state: &state, check: check) }
            if entry.kind == .directory, let subtree = entry.subtree, selected || below {
                try await walk(subtree, at: child, archive: archive, reads: reads, state: &state, check: check)
            }
        }
    }

    static let aclTypes: [String: Int32] = [
        "system.posix_acl_access": Int32(ARCHIVE_ENTRY_ACL_TYPE_ACCESS), "system.posix_acl_default": Int32(ARCHIVE_ENTRY_ACL_TYPE_DEFAULT),
    ]

    /// Adds the entries of a POSIX ACL in Linux's extended attribute form (version 2, then
    /// tag, permissions and id of each entry, little-endian) as libarchive ACL entries; false
    /// when the value is not in that form (it then goes in as the attribute it is).
    static func addACL(_ value: [UInt8], type: Int32, to header: OpaquePointer) -> Bool {
        func word(_ at: Int, _ size: Int) -> UInt32 { (0..<size).reduce(0) { $0 | UInt32(value[at + $1]) << (8 * $1) } }
        guard value.count >= 4, (value.count - 4) % 8 == 0, word(0, 4) == 2 else { return false }
        var entries: [(tag: Int32, permissions: Int32, id: Int32)] = []
        for at in stride(from: 4, to: value.count, by: 8) {
            let tag: Int32
            switch word(at, 2) {
            case 0x01: tag = Int32(ARCHIVE_ENTRY_ACL_USER_OBJ)
            case 0x02: tag = Int32(ARCHIVE_ENTRY_ACL_USER)
            case 0x04: tag = Int32(ARCHIVE_ENTRY_ACL_GROUP_OBJ)
            case 0x08: tag = 10003  // ARCHIVE_ENTRY_ACL_GROUP
            case 0x10: tag = Int32(ARCHIVE_ENTRY_ACL_MASK)
            case 0x20: tag = Int32(ARCHIVE_ENTRY_ACL_OTHER)
            default: return false
            }
            entries.append((tag, Int32(word(at + 2, 2) & 0o7), Int32(bitPattern: word(at + 4, 4))))
        }
        for entry in entries {
            let qualified = entry.tag == Int32(ARCHIVE_ENTRY_ACL_USER) || entry.tag == 10003
            guard archive_entry_acl_add_entry(header, type, entry.permissions, entry.tag, qualified ? entry.id : -1, nil) == ARCHIVE_OK else {
                return false
            }
        }
        return true
    }

    /// The name in the archive: the original absolute path without its leading slash.
    static func archiveName(_ path: FilePath) -> [UInt8] { Array(path.bytes.drop { $0 == 0x2F }) }

    private func write(
        _ entry: TreeEntry, at path: FilePath, archive: OpaquePointer, reads: JoinedReads, state: inout State, check: (Int32, String) throws -> Void
    ) async throws {
        let name = Self.archiveName(path)
        guard !name.isEmpty else { return }
        // The file type bits of st_mode (S_IFREG ...), as libarchive takes them.
        let type: UInt32
        switch entry.kind {
        case .file: type = 0o100000
        case .directory: type = 0o040000
        case .symlink: type = 0o120000
        case .fifo: type = 0o010000
        case .characterDevice: type = 0o020000
        case .blockDevice: type = 0o060000
        case .socket:
            state.summary.leftOut.append("\(path): a socket (no archive format holds one)")
            return
        }
        if format == .zip, [.fifo, .characterDevice, .blockDevice].contains(entry.kind) {
            state.summary.leftOut.append("\(path): a \(entry.kind == .fifo ? "FIFO" : "device") (zip cannot hold one; tar can)")
            return
        }
        guard let header = archive_entry_new() else { throw Failure(description: "libarchive could not make an entry") }
        defer { archive_entry_free(header) }
        (name + [0]).withUnsafeBufferPointer { archive_entry_copy_pathname(header, UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self)) }
        archive_entry_set_filetype(header, type)
        archive_entry_set_perm(header, mode_t(entry.mode & 0o7777))
        archive_entry_set_uid(header, la_int64_t(entry.uid))
        archive_entry_set_gid(header, la_int64_t(entry.gid))
        if !entry.user.isEmpty { archive_entry_copy_uname(header, entry.user) }
        if !entry.group.isEmpty { archive_entry_copy_gname(header, entry.group) }
        archive_entry_set_mtime(header, time_t(entry.mtime.seconds), Int(entry.mtime.nanoseconds))
        if format != .zip {
            for xattr in entry.xattrs {
                // POSIX ACLs go in as ACLs, which tar readers restore as such.
                let name = String(decoding: xattr.name, as: UTF8.self)
                if let type = Self.aclTypes[name], Self.addACL(xattr.value, type: type, to: header) { continue }
                xattr.value.withUnsafeBytes { value in
                    archive_entry_xattr_add_entry(header, name, value.baseAddress, value.count)
                }
            }
        }
        var writesData = false
        switch entry.kind {
        case .file:
            let key = [entry.device, entry.inode]
            if format != .zip, entry.links > 1, let first = state.linked[key] {
                // A later name of a hard-linked file: a link to the first, without data.
                (first + [0]).withUnsafeBufferPointer { archive_entry_copy_hardlink(header, UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self)) }
                archive_entry_set_size(header, 0)
            } else {
                if entry.links > 1 { state.linked[key] = name }
                archive_entry_set_size(header, la_int64_t(entry.size))
                writesData = true
            }
            state.summary.files += 1
        case .directory:
            state.summary.directories += 1
        case .symlink:
            (entry.symlinkTarget + [0]).withUnsafeBufferPointer { archive_entry_copy_symlink(header, UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self)) }
            state.summary.others += 1
        default:
            archive_entry_set_rdev(header, dev_t(entry.rdev))
            state.summary.others += 1
        }
        try check(archive_write_header(archive, header), "writing the entry \(path)")
        guard writesData else { return }
        var written: UInt64 = 0
        let whole = entry.content.allSatisfy { $0.offset == 0 }
        for extent in entry.content {
            let object = try await reads.load(.blob, extent.object)
            guard extent.offset + extent.length <= object.count else {
                throw RepositoryError.damaged("an extent of \(path) reaches past the end of object \(extent.object.short)")
            }
            try object[extent.offset..<extent.offset + extent.length].withUnsafeBytes { piece in
                var done = 0
                while done < piece.count {
                    let count = archive_write_data(archive, piece.baseAddress! + done, piece.count - done)
                    if count <= 0 { try check(Int32(ARCHIVE_FATAL), "writing \(path)") }
                    done += count
                }
            }
            written += UInt64(extent.length)
        }
        guard written == entry.size else {
            throw RepositoryError.damaged("the content of \(path) has \(written) bytes, not the \(entry.size) its entry records")
        }
        // Content cut as a backup cuts it (whole objects) is checked against its recorded hash;
        // other layouts (an in-file delta's) rest on each object's own verified hash.
        if whole, entry.delta == nil, let expected = entry.contentHash,
            ContentHasher.hash(ofChunks: entry.content.map(\.object), keys: repository.keys) != expected
        {
            throw RepositoryError.damaged("the content of \(path) does not match its recorded hash")
        }
        state.summary.bytes += written
    }
}
