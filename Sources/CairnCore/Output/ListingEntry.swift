import Foundation

/// One entry of a snapshot as `cairn ls --json` prints it: what the snapshot recorded, so two
/// snapshots (or a plan and what a run recorded) can be compared entry by entry.
public struct ListingEntry: Encodable, Sendable {
    /// The snapshot it is from (with --all-versions, each version names its own).
    public var snapshot: String
    /// The path for people: bytes that are not UTF-8, and control characters, escaped.
    public var path: String
    /// The exact path bytes in base64, present when `path` is not exactly them.
    public var pathBase64: String?
    /// file, directory, symlink, fifo, socket, character device, block device.
    public var type: String
    /// Permission bits with setuid, setgid and sticky, as octal text (`0644`).
    public var mode: String
    public var uid: UInt32
    public var gid: UInt32
    public var user: String
    public var group: String
    public var size: UInt64
    /// RFC 3339 UTC with nanoseconds.
    public var mtime: String
    /// The inode's change time (RFC 3339 UTC) and number, as the backup saw them: what tells
    /// a run that an entry changed.
    public var ctime: String
    public var inode: UInt64
    /// A symbolic link's target (escaped like `path`), and its exact bytes when they differ.
    public var target: String?
    public var targetBase64: String?
    /// A device's number.
    public var rdev: UInt64?
    /// Hard links of the file (entries with the same inode in the snapshot).
    public var links: UInt64
    /// Extended attributes (ACLs among them): name and the SHA-256 of the value, in hex.
    public var xattrs: [String: String]
    /// The keyed hash of a file's content: equal hashes, equal content.
    public var contentHash: String?
    /// Why the entry is the previous snapshot's (`not reached`, `read failed`, `source
    /// absent`); absent when this run recorded it.
    public var carriedOver: String?

    enum CodingKeys: String, CodingKey {
        case snapshot, path, pathBase64 = "path_base64", type, mode, uid, gid, user, group, size, mtime, ctime, inode, target
        case targetBase64 = "target_base64", rdev, links, xattrs, contentHash = "content_hash", carriedOver = "carried_over"
    }

    public init(snapshot: ObjectID, path: FilePath, entry: TreeEntry) {
        self.snapshot = snapshot.hex
        let shown = path.description
        self.path = shown
        pathBase64 = shown == String(decoding: path.bytes, as: UTF8.self) ? nil : Data(path.bytes).base64EncodedString()
        type = BackupPlan.kindName(entry.kind)
        mode = String(format: "%04o", entry.mode & 0o7777)
        uid = entry.uid
        gid = entry.gid
        user = entry.user
        group = entry.group
        size = entry.kind == .file || entry.kind == .symlink ? entry.size : 0
        mtime = entry.mtime.description
        ctime = entry.ctime.description
        inode = entry.inode
        if entry.kind == .symlink {
            let text = FilePath.display(entry.symlinkTarget)
            target = text
            targetBase64 = text == String(decoding: entry.symlinkTarget, as: UTF8.self) ? nil : Data(entry.symlinkTarget).base64EncodedString()
        }
        rdev = entry.kind == .characterDevice || entry.kind == .blockDevice ? entry.rdev : nil
        links = entry.links
        xattrs = Dictionary(
            entry.xattrs.map { (FilePath.display($0.name), Hashing.sha256($0.value).map { String(format: "%02x", $0) }.joined()) },
            uniquingKeysWith: { first, _ in first })
        contentHash = entry.kind == .file ? entry.contentHash?.hex : nil
        carriedOver = entry.carried?.description
    }
}
