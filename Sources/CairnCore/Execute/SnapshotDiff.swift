import Foundation

/// What changed between two snapshots' trees, entry by entry, in the plan's words: new,
/// changed (with what differs), removed. Folders whose trees are the same object are the
/// same: they are not read.
public struct SnapshotDiff: Sendable {
    public enum Kind: String, Sendable, Encodable {
        case new, changed, removed
    }

    public struct Change: Sendable, Encodable {
        public var action: Kind
        public var path: String
        /// file, directory, symlink, fifo, socket, character device, block device (the newer
        /// entry's, or the removed one's).
        public var kind: String
        public var size: UInt64
        /// What differs (changed), empty otherwise.
        public var reason: String
        public var target: String?
        /// The exact path bytes, for paths that are not plain UTF-8 (`path` escapes them).
        let pathBytes: [UInt8]

        enum CodingKeys: String, CodingKey { case action, path, kind, size, reason, target }

        /// As `cairn plan` prints an action: `+ /a/new.txt (4 B)`, `~ /a/b.txt (1.2 kB): size
        /// 1.0 kB → 1.2 kB`, `- /a/gone.txt`, `+ /a/folder/`.
        public var line: String {
            let symbol = action == .new ? "+" : action == .changed ? "~" : "-"
            var text = "\(symbol) \(path)"
            switch kind {
            case "directory": text += "/"
            case "file": if action != .removed { text += " (\(ByteCountText.format(size)))" }
            case "symlink": if action != .removed, let target { text += " -> \(target)" }
            default: if action != .removed { text += " (\(kind))" }
            }
            if action == .changed, !reason.isEmpty { text += ": \(reason)" }
            return text
        }
    }

    public var changes: [Change] = []
    /// Bytes of files new or changed in the newer snapshot, and of files removed from it.
    public var bytesAdded: UInt64 = 0
    public var bytesRemoved: UInt64 = 0
    var times = TimeText.utc

    public var counts: (new: Int, changed: Int, removed: Int) {
        changes.reduce(into: (0, 0, 0)) { counts, change in
            switch change.action {
            case .new: counts.0 += 1
            case .changed: counts.1 += 1
            case .removed: counts.2 += 1
            }
        }
    }

    /// `3 new, 1 changed, 2 removed` (or `no changes`).
    public var summaryLine: String {
        let (new, changed, removed) = counts
        guard new + changed + removed > 0 else { return "no changes" }
        return "\(new) new, \(changed) changed, \(removed) removed (\(ByteCountText.format(bytesAdded)) in new and changed files)"
    }

    /// The changes from the tree `older` to the tree `newer` (nil: an empty tree), below
    /// `selection`'s paths when it names any.
    public static func between(
        _ older: ObjectID?, _ newer: ObjectID?, in repository: Repository, selection: PathSelection = PathSelection([]), times: TimeText = .utc
    ) async throws -> SnapshotDiff {
        var diff = SnapshotDiff()
        diff.times = times
        try await diff.compare(older, newer, at: .root, in: repository, selection: selection)
        return diff
    }

    private mutating func compare(
        _ older: ObjectID?, _ newer: ObjectID?, at path: FilePath, in repository: Repository, selection: PathSelection
    ) async throws {
        if older == newer { return }
        var before: [TreeEntry] = []
        var after: [TreeEntry] = []
        if let older { before = try await repository.tree(older).entries }
        if let newer { after = try await repository.tree(newer).entries }
        var byName: [[UInt8]: TreeEntry] = [:]
        for entry in before { byName[entry.name] = entry }
        var seen: Set<[UInt8]> = []
        let afterByName = Dictionary(after.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        // Every name of either tree, in name order.
        var names = after.map(\.name)
        names += before.map(\.name).filter { afterByName[$0] == nil }
        names.sort { $0.lexicographicallyPrecedes($1) }
        for name in names where seen.insert(name).inserted {
            let child = path.appending(name)
            let choice = selection.selection(of: child)
            guard choice.selected || choice.below else { continue }
            let old = byName[name]
            let new = afterByName[name]
            if choice.selected {
                if let new, old == nil || old?.kind != new.kind {
                    record(.new, child, new, reason: old.map { "was a \(BackupPlan.kindName($0.kind))" } ?? "")
                    if let old, old.kind != new.kind { record(.removed, child, old, reason: "", counted: false) }
                } else if let old, new == nil {
                    record(.removed, child, old, reason: "")
                } else if let old, let new, let reason = Self.difference(old, new, times: times) {
                    record(.changed, child, new, reason: reason)
                }
            }
            // Into folders on either side: what is under a new folder is new, under a removed one removed.
            let oldSubtree = old?.kind == .directory ? old?.subtree : nil
            let newSubtree = new?.kind == .directory ? new?.subtree : nil
            if oldSubtree != nil || newSubtree != nil {
                try await compare(oldSubtree, newSubtree, at: child, in: repository, selection: selection)
            }
        }
    }

    private mutating func record(_ action: Kind, _ path: FilePath, _ entry: TreeEntry, reason: String, counted: Bool = true) {
        // A kind change is shown once, as the new entry with what it was.
        guard counted else {
            if entry.kind == .file { bytesRemoved += entry.size }
            return
        }
        let size = entry.kind == .file || entry.kind == .symlink ? entry.size : 0
        changes.append(
            Change(
                action: action, path: path.description, kind: BackupPlan.kindName(entry.kind), size: size, reason: reason,
                target: entry.kind == .symlink ? FilePath.display(entry.symlinkTarget) : nil, pathBytes: path.bytes))
        guard entry.kind == .file else { return }
        if action == .removed { bytesRemoved += entry.size } else { bytesAdded += entry.size }
    }

    /// What differs between two entries of one kind, in words; nil when nothing that a
    /// restore brings back does (a folder differs only by its metadata here: what is in it is
    /// compared entry by entry).
    static func difference(_ old: TreeEntry, _ new: TreeEntry, times: TimeText) -> String? {
        var parts: [String] = []
        if old.kind == .file {
            if old.size != new.size {
                parts.append("size \(ByteCountText.format(old.size)) → \(ByteCountText.format(new.size))")
            } else if old.contentHash != new.contentHash || (old.contentHash == nil && old.content != new.content) {
                parts.append("content")
            }
        }
        if old.kind == .symlink, old.symlinkTarget != new.symlinkTarget {
            parts.append("target \(FilePath.display(old.symlinkTarget)) → \(FilePath.display(new.symlinkTarget))")
        }
        if (old.kind == .characterDevice || old.kind == .blockDevice), old.rdev != new.rdev { parts.append("device number") }
        if old.mode & 0o7777 != new.mode & 0o7777 {
            parts.append("mode \(String(format: "%04o", old.mode & 0o7777)) → \(String(format: "%04o", new.mode & 0o7777))")
        }
        if old.uid != new.uid || old.user != new.user { parts.append("owner \(old.user.isEmpty ? String(old.uid) : old.user) → \(new.user.isEmpty ? String(new.uid) : new.user)") }
        if old.gid != new.gid || old.group != new.group {
            parts.append("group \(old.group.isEmpty ? String(old.gid) : old.group) → \(new.group.isEmpty ? String(new.gid) : new.group)")
        }
        if old.xattrs != new.xattrs { parts.append("extended attributes") }
        // A folder's time changes with what is in it: what is in it is compared instead.
        if old.mtime != new.mtime, old.kind != .directory { parts.append("modified \(times(new.mtime))") }
        return parts.isEmpty ? nil : parts.joined(separator: ", ")
    }
}
