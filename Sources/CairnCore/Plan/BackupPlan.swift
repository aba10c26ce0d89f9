import Foundation

/// What a backup run of one set will do: the value `cairn plan` prints and `cairn backup` and
/// `cairn apply` carry out. Planning reads and never writes.
public struct BackupPlan: Codable, Sendable, Equatable {
    public enum ActionKind: String, Codable, Sendable {
        /// `+`: a file that was not in the last snapshot.
        case new
        /// `~`: a file whose size, times or inode differ: read again.
        case changed
        /// `-`: gone since the last snapshot; its last version stays restorable.
        case removed
    }

    /// What a planned file looked like, so applying a saved plan can tell what drifted since.
    public struct Fingerprint: Codable, Sendable, Hashable {
        public var size: UInt64
        public var mtime: Timestamp
        public var ctime: Timestamp
        public var inode: UInt64
        /// A folder's mode and owner: its times change with what happens in it, so they are
        /// what says it changed (nil for other kinds).
        public var mode: UInt32?
        public var uid: UInt32?
        public var gid: UInt32?

        public init(size: UInt64, mtime: Timestamp, ctime: Timestamp, inode: UInt64, mode: UInt32? = nil, uid: UInt32? = nil, gid: UInt32? = nil) {
            self.size = size
            self.mtime = mtime
            self.ctime = ctime
            self.inode = inode
            self.mode = mode
            self.uid = uid
            self.gid = gid
        }

        init(_ entry: TreeEntry) {
            size = entry.size
            mtime = entry.mtime
            ctime = entry.ctime
            inode = entry.inode
            if entry.kind == .directory {
                mode = entry.mode
                uid = entry.uid
                gid = entry.gid
            }
        }
    }

    public struct Action: Codable, Sendable, Equatable {
        public var action: ActionKind
        /// The path for people: bytes that are not UTF-8, and control characters, escaped.
        public var path: String
        /// The exact path bytes in base64, present when `path` is not exactly them.
        public var pathBase64: String?
        /// file, directory, symlink, fifo, socket, character device, block device.
        public var kind: String
        public var size: UInt64
        /// Why: `not in the last snapshot`, `size 10 B → 12 B`, `deleted`, `excluded now`, ...
        public var reason: String
        /// What the entry looked like when planned (every kind; before this version, files only).
        public var fingerprint: Fingerprint?
        /// Files with in-file delta: stored in full or as a delta, and why.
        public var delta: DeltaDecision?
        /// For `changed`: what changed. `content` (a file read again), `metadata` (mode, owner,
        /// times, xattrs, links, inode only), `type` (`file -> directory`), `target` (a symbolic
        /// link pointing elsewhere).
        public var change: EntryChange.Kind?
        /// A symbolic link's target as recorded (new and changed links), escaped like `path`.
        public var target: String?

        public var pathBytes: [UInt8] {
            if let pathBase64, let data = Data(base64Encoded: pathBase64) { return Array(data) }
            return Array(path.utf8)
        }
    }

    public struct Summary: Codable, Sendable, Equatable {
        public var newFiles = 0
        public var changedFiles = 0
        /// Every entry the run records as new or changed: files, folders, links, fifos,
        /// sockets and devices.
        public var newEntries = 0
        public var changedEntries = 0
        public var removed = 0
        public var unchangedFiles = 0
        /// Bytes of new and changed files: what will be read.
        public var bytesToRead: UInt64 = 0
        /// The range of bytes the run will store: nothing when everything deduplicates, at most
        /// the bytes read plus the format's overhead.
        public var uploadMinimum: UInt64 = 0
        public var uploadMaximum: UInt64 = 0
        /// What the run will probably store (`UploadEstimator`): compression sampled,
        /// in-file deltas' new data sampled, metadata-only changes and trees counted. Nil when
        /// the run did not estimate (a backup whose plan is not shown: reading samples of the
        /// files to compare would cost it ~10% of its time on small files).
        public var uploadEstimate: UInt64?

        public init() {}

        enum CodingKeys: String, CodingKey {
            case newFiles, changedFiles, newEntries, changedEntries, removed, unchangedFiles, bytesToRead, uploadMinimum, uploadMaximum
            case uploadEstimate, deltaFiles, deltaBytes
        }

        /// Counts a plan saved by an earlier version did not have read as zero.
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            newFiles = try c.decodeIfPresent(Int.self, forKey: .newFiles) ?? 0
            changedFiles = try c.decodeIfPresent(Int.self, forKey: .changedFiles) ?? 0
            newEntries = try c.decodeIfPresent(Int.self, forKey: .newEntries) ?? 0
            changedEntries = try c.decodeIfPresent(Int.self, forKey: .changedEntries) ?? 0
            removed = try c.decodeIfPresent(Int.self, forKey: .removed) ?? 0
            unchangedFiles = try c.decodeIfPresent(Int.self, forKey: .unchangedFiles) ?? 0
            bytesToRead = try c.decodeIfPresent(UInt64.self, forKey: .bytesToRead) ?? 0
            uploadMinimum = try c.decodeIfPresent(UInt64.self, forKey: .uploadMinimum) ?? 0
            uploadMaximum = try c.decodeIfPresent(UInt64.self, forKey: .uploadMaximum) ?? 0
            uploadEstimate = try c.decodeIfPresent(UInt64.self, forKey: .uploadEstimate)
            deltaFiles = try c.decodeIfPresent(Int.self, forKey: .deltaFiles) ?? 0
            deltaBytes = try c.decodeIfPresent(UInt64.self, forKey: .deltaBytes) ?? 0
        }
        /// Changed files planned as in-file deltas, and their size: how much of them is new is
        /// known after apply.
        public var deltaFiles = 0
        public var deltaBytes: UInt64 = 0
    }

    public var set: String
    public var repository: String
    /// True when the set has never been backed up: its repository will be created.
    public var createsRepository: Bool
    /// The set's latest snapshot this plan compares with (nil for a first backup).
    public var previousSnapshot: String?
    /// For a new repository: other repositories in the destination that no set uses, as a set
    /// that was renamed would leave behind.
    public var unusedRepositories: [String]
    /// In the order of the walk (`PlanActions`); past a few hundred, in a spill file.
    public var actions: PlanActions
    public var summary: Summary
    /// Snapshots the set's retention policy expires once this run's snapshot exists.
    public var expirations: [Expiration] = []
    /// Changes of the set itself against its latest snapshot: `sources: + /srv/b, - /srv/a`,
    /// `host: old → new`.
    public var setChanges: [String] = []
    /// What the user should know before the run: absent optional sources, two writers.
    public var warnings: [String] = []
    /// Why the run would stop before saving anything (max-removed); nil when it would not.
    public var refusal: String?
    /// What the run does to the set's local copy after the backup (a line for people); nil
    /// without one.
    public var localCopy: String?

    public typealias Expiration = PlannedExpiration

    /// Whether the run changes anything: a new repository, an entry, the set's sources, or a
    /// snapshot to expire. (A run without changes still records a snapshot: the job ran.)
    public var hasChanges: Bool { createsRepository || !actions.isEmpty || unlisted > 0 || !setChanges.isEmpty || !expirations.isEmpty }

    enum CodingKeys: String, CodingKey {
        case set, repository, createsRepository, previousSnapshot, unusedRepositories, actions, summary, expirations, setChanges
        case warnings, refusal, localCopy
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        set = try c.decode(String.self, forKey: .set)
        repository = try c.decode(String.self, forKey: .repository)
        createsRepository = try c.decode(Bool.self, forKey: .createsRepository)
        previousSnapshot = try c.decodeIfPresent(String.self, forKey: .previousSnapshot)
        unusedRepositories = try c.decode([String].self, forKey: .unusedRepositories)
        actions = try c.decode(PlanActions.self, forKey: .actions)
        summary = try c.decode(Summary.self, forKey: .summary)
        expirations = try c.decodeIfPresent([Expiration].self, forKey: .expirations) ?? []
        setChanges = try c.decodeIfPresent([String].self, forKey: .setChanges) ?? []
        warnings = try c.decodeIfPresent([String].self, forKey: .warnings) ?? []
        refusal = try c.decodeIfPresent(String.self, forKey: .refusal)
        localCopy = try c.decodeIfPresent(String.self, forKey: .localCopy)
    }

    /// Notes a change of the set's sources or host against its latest snapshot, and warns when
    /// the set's recent snapshots alternate between writers (two configs, or two hosts, sharing
    /// one repository).
    mutating func noteWriters(_ group: SnapshotGroup, records: [SnapshotRecord], previous: Snapshot) {
        let before = SnapshotGroup(previous)
        if before.sources != group.sources {
            let added = group.sources.filter { !before.sources.contains($0) }.map { "+ \($0)" }
            let removed = before.sources.filter { !group.sources.contains($0) }.map { "- \($0)" }
            setChanges.append("sources: " + (added + removed).joined(separator: ", "))
        }
        if before.host != group.host { setChanges.append("host: \(before.host) → \(group.host)") }
        let recent = records.suffix(10).map { SnapshotGroup($0.snapshot) }
        var switches = 0
        for (a, b) in zip(recent, recent.dropFirst()) where a != b { switches += 1 }
        let distinct = Set(recent)
        // Another writer wrote after this config's last snapshot, or the writers keep taking turns.
        let overtaken = recent.contains(group) && recent.last != group
        if distinct.count >= 2, switches >= 2 || overtaken {
            warnings.append(
                "the set's last \(recent.count) snapshots come from "
                    + distinct.map { $0.text }.sorted().joined(separator: " and ")
                    + ": two configs or hosts seem to write to this repository; give each its own 'repository:' (retention keeps the newest complete snapshot of each)")
        }
    }

    /// The plan for a scan against the previous snapshot. `tree` loads the previous snapshot's
    /// trees, to list what was under a folder that is gone; `spillFolder` is where the actions
    /// go once there are many ($TMPDIR).
    public init(
        set: String, repository: String, createsRepository: Bool, previousSnapshot: ObjectID?, scan root: ScannedDirectory,
        delta: DeltaPolicy? = nil, unusedRepositories: [String] = [], spillFolder: String? = nil, collecting: Collecting = .actions,
        tree: ((ObjectID) async throws -> Tree)? = nil
    ) async throws {
        self.set = set
        self.repository = repository
        self.createsRepository = createsRepository
        self.previousSnapshot = previousSnapshot?.hex
        self.unusedRepositories = unusedRepositories
        self.actions = PlanActions(spillFolder: spillFolder)
        self.summary = Summary()
        self.listsActions = collecting == .actions
        summary.uploadMaximum = 4096
        if collecting != .nothing { try await collect(root, delta: delta, tree: tree) }
    }

    /// What making a plan walks the scan for.
    public enum Collecting: Sendable {
        /// Every action, and the counts (a plan to show, save or compare).
        case actions
        /// The counts alone (`summary`): for a job report, when no one sees the plan.
        case counts
        /// Neither: the plan's other parts (the counts are made beside the backup). Such a
        /// plan's `hasChanges`, counts and text say nothing of the files: it is for a run that
        /// looks at none of them before it is over.
        case nothing
    }

    /// Whether `add` keeps the actions, or only counts them.
    private var listsActions = true
    /// Actions counted and not kept.
    private var unlisted = 0

    /// A plan of these actions alone, for tests of how a plan is shown.
    init(set: String, actions: PlanActions) {
        self.set = set
        repository = "/repository"
        createsRepository = false
        unusedRepositories = []
        self.actions = actions
        summary = Summary()
    }

    /// Records an action, and adds to `uploadMaximum`, an upper bound of what storing these
    /// files takes: content (incompressible at worst), each object's seal and index entry, and
    /// the trees that change with them.
    private mutating func add(_ action: Action) {
        if action.action != .removed {
            let objects = action.size / UInt64(Chunker.minimumSize) + 1
            summary.uploadMaximum += action.size + objects * 160 + UInt64(action.pathBytes.count) * 2 + 512
        }
        if listsActions { actions.append(action) } else { unlisted += 1 }
    }

    public static func kindName(_ kind: TreeEntry.Kind) -> String {
        switch kind {
        case .file: return "file"
        case .directory: return "directory"
        case .symlink: return "symlink"
        case .fifo: return "fifo"
        case .socket: return "socket"
        case .characterDevice: return "character device"
        case .blockDevice: return "block device"
        }
    }

    static func action(_ kind: ActionKind, path: FilePath, entry: TreeEntry, reason: String) -> Action {
        let shown = path.description
        return Action(
            action: kind, path: shown, pathBase64: shown == String(decoding: path.bytes, as: UTF8.self) ? nil : Data(path.bytes).base64EncodedString(),
            kind: kindName(entry.kind), size: entry.size, reason: reason,
            fingerprint: Fingerprint(entry))
    }

    /// Walks the scanned folders depth first with a stack of positions rather than by
    /// recursion (a tree thousands of levels deep overflowed the thread's stack): a folder's
    /// entries in name order, gone ones among them, each subfolder's contents right after it,
    /// and what was under a gone folder right after its line (its trees are read). Each
    /// folder's entries are read one at a time from the scan's spill file: a folder of 100,000
    /// files is never held as values (62 MB).
    private mutating func collect(_ root: ScannedDirectory, delta: DeltaPolicy?, tree: ((ObjectID) async throws -> Tree)?) async throws {
        var stack = [try ScannedDirectory.Walk(root)]
        while !stack.isEmpty {
            guard let item = try stack[stack.count - 1].next() else {
                stack.removeLast()
                // Counting beside a backup that failed or was stopped is cancelled.
                try Task.checkCancellation()
                continue
            }
            let directory = stack[stack.count - 1].directory
            switch item {
            case .gone(let old):
                let path = directory.path.appending(old.name)
                var info = stat()
                let stillThere = path.withCString { lstat($0, &info) } == 0
                let reason = stillThere ? "excluded from the set now" : "deleted"
                add(Self.action(.removed, path: path, entry: old, reason: reason))
                summary.removed += 1
                if old.kind == .directory, let subtree = old.subtree { try await listGone(path, subtree, reason: reason, tree: tree) }
            case .present(.directory(let inner)):
                if let change = inner.change { try await note(change, path: inner.path, entry: inner.entry, tree: tree) }
                // Nothing in or under it changed: not visited.
                if inner.unchangedTree != nil {
                    summary.unchangedFiles += inner.totals.files
                    continue
                }
                stack.append(try ScannedDirectory.Walk(inner))
            case .present(let node):
                try await collect(node, in: directory, delta: delta, tree: tree)
            }
        }
    }

    /// Lists, as removed, everything that was under a folder that is gone or became something
    /// else: each entry the run no longer records is in the plan.
    private mutating func listGone(_ path: FilePath, _ subtree: ObjectID, reason: String, tree: ((ObjectID) async throws -> Tree)?) async throws {
        guard let tree else { return }
        var stack: [(path: FilePath, entries: [TreeEntry], next: Int)] = []
        var pending: (path: FilePath, subtree: ObjectID)? = (path, subtree)
        repeat {
            if let (path, subtree) = pending {
                pending = nil
                // A tree that cannot be read is damage for verify and repair: what is under it
                // is not listed, and the run goes on (it never reads that tree).
                do {
                    stack.append((path, try await tree(subtree).entries, 0))
                } catch let error as StorageError where !error.isDamage {
                    throw error
                } catch {
                    DamageWarnings.tell(["what was under \(path) cannot be listed as removed (\(Repository.reason(error))); 'cairn verify' says what else it affects"])
                }
            }
            guard let (folder, entries, next) = stack.last else { break }
            guard next < entries.count else {
                stack.removeLast()
                continue
            }
            stack[stack.count - 1].next += 1
            let entry = entries[next]
            let child = folder.appending(entry.name)
            add(Self.action(.removed, path: child, entry: entry, reason: reason))
            summary.removed += 1
            if entry.kind == .directory, let inner = entry.subtree { pending = (child, inner) }
        } while !stack.isEmpty || pending != nil
    }

    /// An entry other than a file's content: a new, retyped, retargeted or re-described entry.
    private mutating func note(_ change: EntryChange, path: FilePath, entry: TreeEntry, tree: ((ObjectID) async throws -> Tree)?) async throws {
        var action = Self.action(change.kind == .new ? .new : .changed, path: path, entry: entry, reason: change.reason)
        if change.kind != .new { action.change = change.kind }
        if entry.kind == .symlink { action.target = FilePath.display(entry.symlinkTarget) }
        add(action)
        if change.kind == .new { summary.newEntries += 1 } else { summary.changedEntries += 1 }
        if let subtree = change.previousSubtree { try await listGone(path, subtree, reason: "replaced by a \(Self.kindName(entry.kind))", tree: tree) }
    }

    private mutating func collect(_ node: ScannedNode, in directory: ScannedDirectory, delta: DeltaPolicy?, tree: ((ObjectID) async throws -> Tree)?) async throws {
        switch node {
        case .file(let file):
            switch file.change {
            case .unchanged:
                summary.unchangedFiles += 1
            case .new:
                // New here, or a type change (something else had this name).
                let retyped = file.previous.flatMap { EntryChange.between($0, file.entry) }
                var action = Self.action(retyped == nil ? .new : .changed, path: file.path, entry: file.entry, reason: retyped?.reason ?? "not in the last snapshot")
                action.change = retyped?.kind
                action.delta = delta?.decide(size: file.entry.size, previous: nil)
                add(action)
                summary.newFiles += 1
                summary.bytesToRead += file.entry.size
                if let retyped {
                    summary.changedEntries += 1
                    if let subtree = retyped.previousSubtree { try await listGone(file.path, subtree, reason: "replaced by a file", tree: tree) }
                } else {
                    summary.newEntries += 1
                }
            case .changed:
                let contentSame = file.onlyStatusChanged
                let metadata = file.previous.map { EntryChange.metadataDifferences($0, file.entry) } ?? []
                var action = Self.action(
                    .changed, path: file.path, entry: file.entry, reason: contentSame ? metadata.joined(separator: ", ") : Self.differences(file.previous, file.entry))
                action.change = contentSame ? .metadata : .content
                action.delta = delta?.decide(size: file.entry.size, previous: file.previous)
                if action.delta?.decision == .delta {
                    summary.deltaFiles += 1
                    summary.deltaBytes += file.entry.size
                }
                add(action)
                summary.changedFiles += 1
                summary.changedEntries += 1
                summary.bytesToRead += file.entry.size
            }
        case .special(let entry):
            if let change = directory.specialChanges[entry.name] { try await note(change, path: directory.path.appending(entry.name), entry: entry, tree: tree) }
        case .directory, .carried:
            break
        }
    }

    /// What differs between a file's last version and now, in words.
    static func differences(_ old: TreeEntry?, _ new: TreeEntry) -> String {
        guard let old else { return "changed" }
        if old.kind != new.kind { return "was a \(kindName(old.kind))" }
        var parts: [String] = []
        if old.size != new.size { parts.append("size \(ByteCountText.format(old.size)) → \(ByteCountText.format(new.size))") }
        if old.mtime != new.mtime { parts.append("modified \(new.mtime)") }
        if old.ctime != new.ctime && parts.isEmpty { parts.append("status changed \(new.ctime)") }
        if old.inode != new.inode { parts.append("replaced (new inode)") }
        return parts.isEmpty ? "changed" : parts.joined(separator: ", ")
    }

    /// Whether the plan says what `other` says (line for line, verbose), reading the actions of
    /// both side by side.
    public func showsTheSame(as other: BackupPlan) throws -> Bool {
        guard set == other.set, repository == other.repository, createsRepository == other.createsRepository,
            unusedRepositories == other.unusedRepositories, setChanges == other.setChanges, expirations == other.expirations,
            localCopy == other.localCopy, warnings == other.warnings, refusal == other.refusal, summaryLine == other.summaryLine,
            actions.count == other.actions.count
        else { return false }
        var mine = actions.reader(), theirs = other.actions.reader()
        while let action = try mine.next() {
            guard let that = try theirs.next(), Self.line(for: action) == Self.line(for: that) else { return false }
        }
        return true
    }

    /// The summary line: `Plan: 2 new, 1 changed, 1 removed; about 3.4 MB to upload.`
    public var summaryLine: String {
        guard hasChanges else { return "No changes." }
        var counts = "Plan: \(summary.newEntries) new, \(summary.changedEntries) changed, \(summary.removed) removed"
        if !expirations.isEmpty { counts += ", \(expirations.count) snapshot\(expirations.count == 1 ? "" : "s") to expire" }
        guard let estimate = summary.uploadEstimate else { return "\(counts); \(ByteCountText.format(summary.bytesToRead)) to read." }
        return "\(counts); about \(ByteCountText.format(estimate)) to upload (\(ByteCountText.format(summary.bytesToRead)) to read)."
    }
}

extension ScannedFile {
    /// A changed file whose size, modification time and inode are as before: only its status
    /// changed (mode, owner, links), and its content is not read again (`change: metadata`).
    var onlyStatusChanged: Bool {
        guard change == .changed, let previous else { return false }
        return previous.size == entry.size && previous.mtime == entry.mtime && previous.inode == entry.inode
    }
}
