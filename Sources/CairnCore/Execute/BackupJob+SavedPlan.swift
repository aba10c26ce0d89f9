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

        public var description: String {
            switch self {
            case .baseChanged(let text): return text
            case .strict(let paths):
                return "\(paths.count) planned file\(paths.count == 1 ? "" : "s") changed since the plan was made (--strict): \(paths.prefix(10).joined(separator: ", "))\(paths.count > 10 ? ", ..." : ""); plan again"
            }
        }
    }

    /// Restricts this job to `saved`: refuses when the set's latest snapshot is not the one the
    /// plan was made against; returns what drifted. With `strict`, any drifted file refuses.
    public mutating func restrict(to saved: BackupPlan, strict: Bool) throws -> Drift {
        let now = previous?.id.hex
        guard now == saved.previousSnapshot else {
            let what =
                saved.previousSnapshot == nil
                ? "the plan was made for a set never backed up, but it now has snapshot \(now.map { String($0.prefix(8)) } ?? "?")"
                : "the set's latest snapshot is now \(now.map { String($0.prefix(8)) } ?? "none"), but the plan was made against \(saved.previousSnapshot!.prefix(8))"
            throw SavedPlanFailure.baseChanged("\(what): someone backed up since (or cairn tag gave it a new id); make a new plan")
        }
        var planned: [[UInt8]: BackupPlan.Action] = [:]
        var plannedRemovals: Set<[UInt8]> = []
        try saved.actions.forEach { action in
            if action.action == .removed { plannedRemovals.insert(action.pathBytes) } else { planned[action.pathBytes] = action }
        }
        var drift = Drift()
        var seen: Set<[UInt8]> = []
        try Self.restrict(scan, planned: planned, removals: plannedRemovals, seen: &seen, drift: &drift)
        for (path, action) in planned where !seen.contains(path) {
            drift.vanished.append(action.path)
        }
        drift.vanished.sort()
        if strict, !drift.drifted.isEmpty { throw SavedPlanFailure.strict(drift.drifted.map(\.path)) }
        return drift
    }

    private static func restrict(
        _ directory: ScannedDirectory, planned: [[UInt8]: BackupPlan.Action], removals: Set<[UInt8]>, seen: inout Set<[UInt8]>,
        drift: inout Drift
    ) throws {
        var contents = try directory.contents()
        // Entries deleted after planning stay as they were in the last snapshot.
        for old in contents.removed where !removals.contains(directory.path.appending(old.name).bytes) {
            contents.children.append(.special(old))
            let path = directory.path.appending(old.name)
            if planned[path.bytes] == nil { drift.deferred.append(path.description) }
        }
        contents.removed.removeAll { !removals.contains(directory.path.appending($0.name).bytes) }
        var kept: [ScannedNode] = []
        for node in contents.children {
            switch node {
            case .directory(let inner):
                // Nothing in or under it changed since the scan.
                if inner.unchangedTree == nil { try restrict(inner, planned: planned, removals: removals, seen: &seen, drift: &drift) }
                kept.append(node)
            case .file(var file):
                guard file.change != .unchanged else {
                    kept.append(node)
                    continue
                }
                if let action = planned[file.path.bytes] {
                    seen.insert(file.path.bytes)
                    if let fingerprint = action.fingerprint, fingerprint != BackupPlan.Fingerprint(file.entry) {
                        drift.drifted.append((file.path.description, BackupPlan.differences(Self.entry(from: fingerprint, like: file.entry), file.entry)))
                    }
                    kept.append(.file(file))
                } else {
                    drift.deferred.append(file.path.description)
                    if let previous = file.previous, previous.kind == .file {
                        file.entry = previous
                        file.change = .unchanged
                        kept.append(.file(file))
                    } else if let previous = file.previous {
                        kept.append(.special(previous))
                    }
                }
            case .special, .carried:
                kept.append(node)
            }
        }
        contents.children = kept
        directory.replace(contents)
    }

    private static func entry(from fingerprint: BackupPlan.Fingerprint, like entry: TreeEntry) -> TreeEntry {
        var old = entry
        old.size = fingerprint.size
        old.mtime = fingerprint.mtime
        old.ctime = fingerprint.ctime
        old.inode = fingerprint.inode
        return old
    }
}
