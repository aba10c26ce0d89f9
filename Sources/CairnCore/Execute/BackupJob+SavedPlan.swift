import Foundation

/// Carrying out a saved plan exactly: what changed since it was made is either backed up as it
/// is now and reported (drift), or left for the next plan.
extension BackupJob {
    public struct Drift: Sendable, Equatable {
        /// Planned files that changed again since: backed up as they are now.
        public var drifted: [(path: String, what: String)] = []
        /// Changes the plan did not have: they wait for the next plan.
        public var deferred: [String] = []
        /// Planned files that are gone.
        public var vanished: [String] = []

        public var isEmpty: Bool { drifted.isEmpty && deferred.isEmpty && vanished.isEmpty }

        public static func == (l: Drift, r: Drift) -> Bool {
            l.drifted.map(\.path) == r.drifted.map(\.path) && l.deferred == r.deferred && l.vanished == r.vanished
        }
    }

    public enum SavedPlanFailure: Error, CustomStringConvertible, Equatable {
        case baseChanged(String)
        case strict([String])
        case outOfOrder(String)

        public var description: String {
            switch self {
            case .baseChanged(let text): return text
            case .outOfOrder(let path):
                return "the plan's actions are not in the order of the walk at \(path) (a plan made by an older cairn, or edited): make a new plan"
            case .strict(let paths):
                return "\(paths.count) planned entr\(paths.count == 1 ? "y" : "ies") changed since the plan was made (--strict): \(paths.prefix(10).joined(separator: ", "))\(paths.count > 10 ? ", ..." : ""); plan again"
            }
        }
    }

    /// Restricts this job to `saved`: refuses when the set's latest snapshot is not the one the
    /// plan was made against; returns what drifted. With `strict`, any drifted file refuses.
    ///
    /// The scan and the plan's actions are both in the order of the walk, and are merged in
    /// that order (`Restriction`): a plan of a million files is read one action at a time, and
    /// only folders whose contents differ from the plan are written again.
    public mutating func restrict(to saved: BackupPlan, strict: Bool) async throws -> Drift {
        let now = previous?.id.hex
        guard now == saved.previousSnapshot else {
            let what =
                saved.previousSnapshot == nil
                ? "the plan was made for a set never backed up, but it now has snapshot \(now.map { String($0.prefix(8)) } ?? "?")"
                : "the set's latest snapshot is now \(now.map { String($0.prefix(8)) } ?? "none"), but the plan was made against \(saved.previousSnapshot!.prefix(8))"
            throw SavedPlanFailure.baseChanged("\(what): someone backed up since (or cairn tag gave it a new id); make a new plan")
        }
        let repository = repository
        var restriction = try Restriction(
            saved.actions, previousRoot: previous?.snapshot.treeID,
            tree: { id in
                guard let repository else { throw RepositoryError.missingObject("tree \(id.short)") }
                return try await repository.tree(id)
            })
        try await restriction.run(scan)
        var drift = restriction.drift
        drift.vanished.sort()
        if strict, !drift.drifted.isEmpty { throw SavedPlanFailure.strict(drift.drifted.map(\.path)) }
        return drift
    }
}

/// A scan restricted to a saved plan: the scan's folders walked depth first, each one's entries
/// (those there now, and those gone since the last snapshot) in name order, merged with the
/// plan's actions, which come in the same order. For each entry:
///
/// - planned, and changed now: recorded as it is now; drifted when it is not what the plan saw
///   (its fingerprint: size, times, inode; a folder's mode, owner and inode, not its times,
///   which change with what is added to it; a link's target; another type);
/// - changed now but not planned: the change waits for the next plan, and the snapshot keeps
///   the last version (a file's content, a folder's own attributes, a link, a gone entry) or
///   leaves out what is new (a new folder with everything under it);
/// - planned, but not changed now (or not there): drifted when it is there again as in the
///   last snapshot, vanished when it is not there at all.
struct Restriction {
    typealias Action = BackupPlan.Action
    typealias Drift = BackupJob.Drift

    private var actions: PlanActions.Reader
    /// The next action of the plan not yet matched, with its path's bytes.
    private var ahead: (action: Action, path: [UInt8])?
    private let previousRoot: ObjectID?
    private let tree: (ObjectID) async throws -> Tree
    /// The last folder of the previous snapshot read for an entry.
    private var lastPreviousFolder: (path: FilePath, tree: Tree?)?
    private(set) var drift = Drift()

    init(_ saved: PlanActions, previousRoot: ObjectID?, tree: @escaping (ObjectID) async throws -> Tree) throws {
        actions = saved.reader()
        self.previousRoot = previousRoot
        self.tree = tree
        try advance()
    }

    /// Takes the next action; one that does not come after the one before in the walk's order
    /// (a plan from a cairn that listed them otherwise, or edited) refuses the plan: merged
    /// with the scan, it would be misread.
    private mutating func advance() throws {
        let before = ahead?.path
        ahead = try actions.next().map { ($0, $0.pathBytes) }
        if let before, let next = ahead?.path, !Self.precedes(before, next) {
            throw BackupJob.SavedPlanFailure.outOfOrder(ahead!.action.path)
        }
    }

    /// Whether path `a` comes before `b` in the walk: by name, folder by folder, a folder
    /// before what is under it (`/` ends a name, so it sorts below every byte of one).
    static func precedes(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        let count = min(a.count, b.count)
        var index = 0
        while index < count, a[index] == b[index] { index += 1 }
        if index == count { return a.count < b.count }
        let x = a[index], y = b[index]
        if x == UInt8(ascii: "/") { return true }
        if y == UInt8(ascii: "/") { return false }
        return x < y
    }

    /// Whether `path` is under the folder `folder`.
    static func isUnder(_ path: [UInt8], _ folder: [UInt8]) -> Bool {
        guard path.count > folder.count, path.starts(with: folder) else { return false }
        return folder.last == UInt8(ascii: "/") || path[folder.count] == UInt8(ascii: "/")
    }

    /// A folder being walked, and its contents written again once they differ from the scan's.
    private struct Frame {
        var walk: ScannedDirectory.Walk
        var directory: ScannedDirectory { walk.directory }
        /// Gone entries whose removal is planned: they stay gone.
        var stillRemoved: [TreeEntry] = []
        /// Set at the first difference, with the nodes before it copied.
        var writer: ScannedDirectory.Rewriter?
        /// Its own entry was changed (a folder's attributes kept as last recorded).
        var entryChanged = false

        init(_ directory: ScannedDirectory) throws {
            walk = try ScannedDirectory.Walk(directory)
        }

        /// Records what becomes of the item just taken: `node` in its place (nil: left out).
        /// `same`: it is the scan's node, unchanged (or the gone entry staying gone).
        mutating func record(_ node: ScannedNode?, same: Bool, wasPresent: Bool) throws {
            if writer == nil {
                guard !same else { return }
                // The first difference: what came before it is copied as it was.
                var rewriter = ScannedDirectory.Rewriter(for: directory)
                var original = try directory.nodes()
                for _ in 0..<(walk.taken - (wasPresent ? 1 : 0)) {
                    guard let earlier = try original.next() else { break }
                    rewriter.add(earlier)
                }
                writer = rewriter
            }
            if let node { writer!.add(node) }
        }
    }

    mutating func run(_ root: ScannedDirectory) async throws {
        var stack = [try Frame(root)]
        while !stack.isEmpty {
            guard let item = try stack[stack.count - 1].walk.next() else {
                let frame = stack.removeLast()
                // Planned entries under it that it no longer has.
                try await leftovers(while: { Self.isUnder($0, frame.directory.path.bytes) })
                let changed = frame.writer != nil || frame.entryChanged
                if let writer = frame.writer { writer.finish(frame.directory, removed: frame.stillRemoved) }
                if !stack.isEmpty { try stack[stack.count - 1].record(.directory(frame.directory), same: !changed, wasPresent: true) }
                continue
            }
            let folder = stack[stack.count - 1].directory
            let name: [UInt8]
            switch item {
            case .present(let node): name = node.name
            case .gone(let old): name = old.name
            }
            let path = folder.path.appending(name)
            // Planned entries before this one that the walk did not meet.
            try await leftovers(while: { Self.precedes($0, path.bytes) })
            var planned: Action?
            if let ahead, ahead.path == path.bytes {
                planned = ahead.action
                try advance()
            }
            switch item {
            case .gone(let old):
                if planned?.action == .removed {
                    stack[stack.count - 1].stillRemoved.append(old)
                    try stack[stack.count - 1].record(nil, same: true, wasPresent: false)
                } else {
                    // Its deletion waits: the snapshot keeps its last version.
                    if planned != nil { drift.vanished.append(path.description) } else { drift.deferred.append(path.description) }
                    try stack[stack.count - 1].record(.special(old), same: false, wasPresent: false)
                }
                try await leftovers(while: { Self.isUnder($0, path.bytes) })
            case .present(.directory(let inner)):
                var entryChanged = false
                if let change = inner.change {
                    if let planned, planned.action != .removed {
                        if let what = Self.drifted(planned, now: inner.entry) { drift.drifted.append((path.description, what)) }
                    } else if planned == nil, change.kind == .metadata {
                        // Its own attributes wait; what is under it is restricted as usual.
                        if var old = try await previousEntry(path), old.kind == .directory {
                            drift.deferred.append(path.description)
                            old.subtree = nil
                            old.carried = nil
                            inner.entry = old
                            inner.change = nil
                            entryChanged = true
                        } else {
                            drift.drifted.append((path.description, "its attributes changed since the plan (\(change.reason))"))
                        }
                    } else {
                        // New (or another type) since the plan, or planned as removed: left for
                        // the next plan, with everything under it.
                        drift.deferred.append(path.description)
                        try stack[stack.count - 1].record(try await lastVersion(path, planned: planned), same: false, wasPresent: true)
                        try await leftovers(while: { Self.isUnder($0, path.bytes) })
                        continue
                    }
                } else if let planned {
                    drift.drifted.append((path.description, Self.unchangedNow(planned)))
                }
                if inner.unchangedTree == nil {
                    var frame = try Frame(inner)
                    frame.entryChanged = entryChanged
                    stack.append(frame)
                } else {
                    try stack[stack.count - 1].record(.directory(inner), same: !entryChanged, wasPresent: true)
                    try await leftovers(while: { Self.isUnder($0, path.bytes) }, underUnchanged: true)
                }
            case .present(.file(var file)):
                var kept: ScannedNode? = .file(file)
                var same = true
                if file.change == .unchanged {
                    if let planned { drift.drifted.append((path.description, Self.unchangedNow(planned))) }
                } else if let planned, planned.action != .removed {
                    if let what = Self.drifted(planned, now: file.entry) { drift.drifted.append((path.description, what)) }
                } else {
                    // The change waits: the last version stays (none when it is new, or when
                    // the plan removes it).
                    drift.deferred.append(path.description)
                    same = false
                    kept = nil
                    if planned == nil, let previous = file.previous {
                        if previous.kind == .file {
                            file.entry = previous
                            file.change = .unchanged
                            file.previous = nil
                            kept = .file(file)
                        } else {
                            kept = .special(previous)
                        }
                    }
                }
                try stack[stack.count - 1].record(kept, same: same, wasPresent: true)
                try await leftovers(while: { Self.isUnder($0, path.bytes) })
            case .present(.special(let entry)):
                var kept: ScannedNode? = .special(entry)
                if folder.specialChanges[name] != nil {
                    if let planned, planned.action != .removed {
                        if let what = Self.drifted(planned, now: entry) { drift.drifted.append((path.description, what)) }
                    } else {
                        drift.deferred.append(path.description)
                        kept = try await lastVersion(path, planned: planned)
                        try stack[stack.count - 1].record(kept, same: false, wasPresent: true)
                        try await leftovers(while: { Self.isUnder($0, path.bytes) })
                        continue
                    }
                } else if let planned {
                    drift.drifted.append((path.description, Self.unchangedNow(planned)))
                }
                try stack[stack.count - 1].record(kept, same: true, wasPresent: true)
                try await leftovers(while: { Self.isUnder($0, path.bytes) })
            case .present(let node):
                // Kept from the last snapshot whatever the plan says (an optional source absent).
                if let planned, planned.action != .removed { drift.vanished.append(path.description) }
                try stack[stack.count - 1].record(node, same: true, wasPresent: true)
                try await leftovers(while: { Self.isUnder($0, path.bytes) })
            }
        }
        try await leftovers(while: { _ in true })
    }

    /// What the snapshot records for an entry whose change waits: its last version, or nothing
    /// when it is new (or its removal was planned).
    private mutating func lastVersion(_ path: FilePath, planned: Action?) async throws -> ScannedNode? {
        guard planned?.action != .removed, let old = try await previousEntry(path) else { return nil }
        return .special(old)
    }

    /// How a planned new or changed entry differs now from what the plan saw: another type, a
    /// link's other target, or its fingerprint (size, times, inode: a change of mode, owner or
    /// extended attributes changes its ctime); nil when it does not.
    static func drifted(_ planned: Action, now entry: TreeEntry) -> String? {
        let kind = BackupPlan.kindName(entry.kind)
        if planned.kind != kind { return "a \(planned.kind) in the plan, a \(kind) now" }
        if entry.kind == .symlink, let target = planned.target, target != FilePath.display(entry.symlinkTarget) {
            return "target \(target) -> \(FilePath.display(entry.symlinkTarget))"
        }
        guard let fingerprint = planned.fingerprint else { return "the plan has no fingerprint of it" }
        if entry.kind == .directory {
            // A folder's times change with what is added to it or taken from it (those wait,
            // or were planned): its mode, owner and inode say whether it changed itself.
            var old = entry
            old.mode = fingerprint.mode ?? entry.mode
            old.uid = fingerprint.uid ?? entry.uid
            old.gid = fingerprint.gid ?? entry.gid
            old.inode = fingerprint.inode
            if old.uid != entry.uid { old.user = "" }
            if old.gid != entry.gid { old.group = "" }
            let parts = EntryChange.metadataDifferences(old, entry)
            return parts.isEmpty ? nil : parts.joined(separator: ", ")
        }
        guard fingerprint != BackupPlan.Fingerprint(entry) else { return nil }
        return BackupPlan.differences(BackupJob.entry(from: fingerprint, like: entry), entry)
    }

    /// Why a planned entry that is as in the last snapshot now drifted.
    static func unchangedNow(_ planned: Action) -> String {
        planned.action == .removed ? "there again, as in the last snapshot" : "as in the last snapshot again"
    }

    /// Planned entries the walk did not meet, while `matches` says so of the next one. Under a
    /// folder whose contents are as in the last snapshot (`underUnchanged`), an entry that is
    /// there is as it was then (drifted), one that is not vanished. Elsewhere nothing is there
    /// for the scan: a planned removal is done (what was under a gone, excluded or retyped
    /// entry), anything else vanished.
    private mutating func leftovers(while matches: ([UInt8]) -> Bool, underUnchanged: Bool = false) async throws {
        while let (action, bytes) = ahead, matches(bytes) {
            try advance()
            var info = stat()
            if underUnchanged, FilePath(bytes).withCString({ lstat($0, &info) }) == 0 {
                drift.drifted.append((action.path, Self.unchangedNow(action)))
            } else if action.action != .removed {
                drift.vanished.append(action.path)
            }
        }
    }

    /// The previous snapshot's entry at `path`, read from its trees (the folder read last is
    /// kept: entries that wait are often side by side).
    private mutating func previousEntry(_ path: FilePath) async throws -> TreeEntry? {
        guard let previousRoot else { return nil }
        let folder = FilePath(Array(path.bytes[..<(path.bytes.lastIndex(of: UInt8(ascii: "/")).map { max($0, 1) } ?? 1)]))
        if let last = lastPreviousFolder, last.path == folder { return last.tree?.entry(named: path.name) }
        var current: Tree? = try await tree(previousRoot)
        for name in folder.components {
            guard let entry = current?.entry(named: name), entry.kind == .directory, let subtree = entry.subtree else {
                current = nil
                break
            }
            current = try await tree(subtree)
        }
        lastPreviousFolder = (folder, current)
        return current?.entry(named: path.name)
    }
}

extension BackupJob {
    static func entry(from fingerprint: BackupPlan.Fingerprint, like entry: TreeEntry) -> TreeEntry {
        var old = entry
        old.size = fingerprint.size
        old.mtime = fingerprint.mtime
        old.ctime = fingerprint.ctime
        old.inode = fingerprint.inode
        return old
    }
}
