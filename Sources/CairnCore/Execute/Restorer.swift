import Foundation
internal import CCairnKernels
internal import CLinux

#if canImport(Glibc)
    import Glibc
#endif

/// Restores a snapshot, or part of it, into a target folder (`/` for the original place).
///
/// Each file is written without a name (or under a temporary name) and put under its name
/// once its content has been verified against its hash and its metadata set; an existing file that differs is never overwritten unless
/// `overwrite` says so, and an identical one is skipped without reading repository data.
public struct Restorer {
    public enum Overwrite: String, CaseIterable, Sendable {
        case never
        case ifChanged = "if-changed"
        case always
    }

    public struct Action: Sendable, Equatable {
        public enum Kind: String, Sendable {
            case write, identical, conflict
        }

        public var kind: Kind
        public var path: FilePath
        public var detail: String
    }

    public let repository: Repository
    /// Objects of the files ahead, read a run of neighbours at a time.
    let reads: JoinedReads
    /// Files written, whose pages are let go of as later ones are written.
    let dropBehind = DropBehind()
    public var target: FilePath
    public var paths: [FilePath]
    public var overwrite: Overwrite
    public var permissions: Bool
    public var dryRun: Bool
    /// The one chosen path is placed at the target itself, not under its full path: a
    /// folder's content goes into the target, anything else into it under its own name.
    public var strip = false
    /// Told of each file as it is written (and of those found identical): the progress line.
    public var progress: (any ProgressSink)?

    /// What was done to each entry, in walk order: every action, or with `keepsEveryAction`
    /// off only the conflicts (the others are counted in `counts`).
    public private(set) var actions: [Action] = []
    /// Whether `actions` keeps every action (a report lists them); off, a restore of a million
    /// files no longer holds about 130 bytes for each.
    public var keepsEveryAction = true
    /// Actions by kind, kept or not.
    public private(set) var counts: [Action.Kind: Int] = [:]
    public internal(set) var problems: [Problem] = []
    public internal(set) var bytesWritten: UInt64 = 0
    /// Temporary files an interrupted restore had left in the folders this one restored into.
    public internal(set) var leftoversRemoved = 0
    /// Trees whose files were announced with a folder above, by the times they were.
    var announcedAhead: [ObjectID: Int] = [:]
    var linksByInode: [Pair: (directory: SafeDirectory, name: [UInt8], identity: Identity)] = [:]
    /// The walk's open folders, deepest last (see `enter`).
    var openFolders: [WalkFolder] = []

    struct Pair: Hashable {
        var device: UInt64
        var inode: UInt64
    }

    public init(repository: Repository, target: FilePath, paths: [FilePath], overwrite: Overwrite, permissions: Bool, dryRun: Bool) {
        self.repository = repository
        reads = JoinedReads(repository: repository)
        self.target = target
        self.paths = paths
        self.overwrite = overwrite
        self.permissions = permissions
        self.dryRun = dryRun
    }

    public var conflicts: [Action] { actions.filter { $0.kind == .conflict } }

    private mutating func note(_ action: Action) {
        counts[action.kind, default: 0] += 1
        if keepsEveryAction || action.kind == .conflict { actions.append(action) }
    }

    /// Restores the tree `root` (a snapshot's tree of `/`). PATH arguments that match nothing
    /// in it fail the restore before anything is written, naming them and `snapshot`.
    public mutating func restore(root: ObjectID, snapshot: String = "the snapshot") async throws {
        try await PathSelection(paths).requireMatches(
            in: repository, roots: [root], snapshot: snapshot, consequence: dryRun ? nil : "nothing was restored")
        // Where the walk starts: the snapshot's `/`, or with `strip` the chosen folder (its
        // content into the target) or the folder that holds the chosen entry.
        var start = (tree: root, location: Location(.root), all: paths.isEmpty)
        if strip {
            guard paths.count == 1, let chosen = paths.first, !PathSelection.isGlob(chosen) else {
                throw RepositoryError.unsupported("--strip places one path at the target: name exactly one, without a glob")
            }
            var tree = root
            var parent = FilePath.root
            for (number, name) in chosen.components.enumerated() {
                guard let entry = try await repository.tree(tree).entry(named: name) else { break }
                let last = number == chosen.components.count - 1
                if last, entry.kind == .directory, let subtree = entry.subtree {
                    start = (subtree, Location(chosen), true)
                } else if last {
                    start = (tree, Location(parent), false)
                } else if let subtree = entry.subtree {
                    tree = subtree
                    parent = parent.appending(name)
                }
            }
        }
        let directory = dryRun ? (try? SafeDirectory.openTarget(target, create: false)) : try SafeDirectory.openTarget(target, create: true)
        // After the flush below, which has written their pages.
        defer { dropBehind.finish() }
        let top = directory.map(WalkFolder.init)
        openFolders = top.map { [$0] } ?? []
        // A tree that cannot be read stops the walk; the files already started are finished.
        var failure: Error?
        await withTaskGroup(of: (UInt64, [Problem]).self) { group in
            var writes = Writes(group: group)
            do {
                try await restoreTree(start.tree, at: start.location, in: top, fresh: false, all: start.all, writes: &writes)
            } catch {
                failure = error
            }
            await finish(&writes)
        }
        openFolders = []
        if let failure { throw failure }
        // One flush at the end, of the target's file system only.
        if !dryRun {
            if let directory, cairn_syncfs(directory.descriptor) == 0 {} else { sync() }
        }
    }

    /// Whether `path` is selected by the PATH arguments, and whether something below it is.
    func selection(of path: FilePath) -> (selected: Bool, below: Bool) { PathSelection(paths).selection(of: path) }

    /// The first name restored (or found identical) of a hard-linked file, which its other
    /// names become links to.
    mutating func rememberLink(_ entry: TreeEntry, directory: SafeDirectory, identity: Identity) {
        let pair = Pair(device: entry.device, inode: entry.inode)
        if linksByInode[pair] == nil { linksByInode[pair] = (directory, entry.name, identity) }
    }

    /// Plain files written at once, wherever they are in the tree: a large file waiting for
    /// the device leaves the cores to small files of other folders. (Into a freshly made ext4,
    /// the workload's 12,000 small files restored in 1.15 s with 4, 1.18 s with 2, 1.36 s with
    /// 3 and 1.34 s with 6.)
    static let filesInParallel = 4
    /// Objects announced at once for a folder and the subfolders below it, at most.
    static let lookahead = 20_000
    /// Objects of a folder's files announced to the joined reads at once, about.
    static let announceBatch = 10_000
    /// Folders whose metadata waits for the files being written into them, at most.
    static let foldersWaiting = 128

    /// The file writes under way, and the folders whose metadata is set once they are done
    /// (deepest first: setting a folder's times before its files are written would be undone,
    /// and a read-only mode would stop them). Each folder is opened again then, and only
    /// the folder the restore made or entered gets its metadata.
    struct Writes {
        var group: TaskGroup<(UInt64, [Problem])>
        var running = 0
        var folders: [(parent: SafeDirectory, entry: TreeEntry, identity: Identity, location: Location)] = []
    }

    /// `fresh`: this restore made `folder`, so nothing is in it yet to compare with.
    ///
    /// The tree is read entry by entry, twice (once ahead for the objects its files need, once
    /// to restore them): a folder of 100,000 files is held as its tree's bytes, not as values
    /// (with their places, 130 MB), and its objects are announced a batch at a time.
    private mutating func restoreTree(_ id: ObjectID, at location: Location, in folder: WalkFolder?, fresh: Bool, all: Bool, writes: inout Writes) async throws {
        let tree = try await entries(of: id)
        if !fresh, !dryRun, let directory = folder?.directory { leftoversRemoved += directory.removeLeftovers() }
        // Whether an entry is restored (`selected`) or leads to what is (`below`).
        func chosen(_ entry: TreeEntry) -> (location: Location, selected: Bool, below: Bool) {
            let childLocation = location.appending(entry.name)
            let (selected, below) = all ? (true, true) : selection(of: childLocation.path)
            return (childLocation, selected, below)
        }
        // The folder's files are written next, in this order: their objects are read in runs
        // of neighbours. On an object store (where trees are cached on this machine), into a
        // folder this restore made (where every file is written, none is found identical),
        // the files of the subfolders too, in the order the walk writes them: a pack holds the
        // files of many folders, read in a few runs (the objects of a run given up wait in a
        // scratch file) instead of one request per folder. Announced a batch of about
        // `announceBatch` objects at a time, the next once the walk reaches the last one's
        // first entry: one batch is always ahead of the walk, and no more.
        var announcer: (pass: TreeEntries, read: Int, lastBatchStart: Int, bounded: Bool)?
        if let ahead = announcedAhead[id] {
            // Announced with a folder above.
            announcedAhead[id] = ahead > 1 ? ahead - 1 : nil
        } else if !dryRun {
            announcer = (tree, 0, 0, false)
        }
        let ahead = repository.cache != nil && fresh
        func announceBatch() async throws {
            guard var state = announcer else { return }
            var objects: [ObjectID] = []
            var trees: [ObjectID] = []
            state.lastBatchStart = state.read
            while objects.count < Self.announceBatch, let entry = try state.pass.next() {
                state.read += 1
                guard chosen(entry).selected, SafeDirectory.isSafeName(entry.name) else { continue }
                if entry.kind == .file {
                    objects += entry.content.map(\.object)
                } else if ahead, !state.bounded, entry.kind == .directory, let subtree = entry.subtree {
                    state.bounded = await !collect(subtree, objects: &objects, trees: &trees)
                }
            }
            announcer = objects.isEmpty && trees.isEmpty ? nil : state
            await reads.announce(objects)
            for tree in trees { announcedAhead[tree, default: 0] += 1 }
        }
        try await announceBatch()
        var walk = tree
        var walked = 0
        while let entry = try walk.next() {
            if let state = announcer, walked >= state.lastBatchStart { try await announceBatch() }
            walked += 1
            if folder?.lost == true { break }
            guard SafeDirectory.isSafeName(entry.name) else {
                let shown = location.path.appending(Array(entry.name.prefix(64)).map { $0 == 0x2F ? 0x5F : $0 })
                problems.append(Problem(path: shown, message: "an entry with an unsafe name ('\(FilePath.display(entry.name))') was not restored"))
                continue
            }
            let (childLocation, selected, below) = chosen(entry)
            guard selected || below else { continue }
            if entry.kind == .directory {
                try await restoreDirectory(entry, at: childLocation, in: folder, fresh: fresh, all: all || selected, writes: &writes)
            } else if selected {
                // Open: the walk opens a folder again when it comes back to it from a child.
                let directory = folder?.directory
                if await restoreEntry(entry, at: childLocation.path, in: directory, fresh: fresh), let directory {
                    await startWrite(entry, at: childLocation.path, in: directory, writes: &writes)
                }
            }
        }
    }

    /// A tree's entries in name order, one at a time: read from its bytes, or for a tree stored
    /// out of order or with a name twice (cairn never writes one; a hostile repository may), from
    /// its entries sorted in memory, as every tree was read before.
    struct TreeEntries {
        var cursor: Tree.Cursor?
        var sorted: IndexingIterator<[TreeEntry]>?

        mutating func next() throws -> TreeEntry? {
            if cursor != nil { return try cursor!.next() }
            return sorted?.next()
        }
    }

    /// The entries of tree `id`, checked once through.
    private func entries(of id: ObjectID) async throws -> TreeEntries {
        let cursor = try await repository.treeCursor(id)
        var check = cursor
        do {
            while try check.next() != nil {}
            return TreeEntries(cursor: cursor)
        } catch {
            guard let tree = try? await repository.tree(id) else { throw error }
            return TreeEntries(sorted: tree.entries.makeIterator())
        }
    }

    /// Appends the objects of the files under tree `id` in the order the walk writes them, and
    /// the trees walked; false (and nothing appended) when that would pass `lookahead` objects
    /// or a tree cannot be read: the walk announces the rest when it gets there.
    private func collect(_ id: ObjectID, objects: inout [ObjectID], trees: inout [ObjectID]) async -> Bool {
        let (objectsBefore, treesBefore) = (objects.count, trees.count)
        var complete = false
        if var tree = try? await repository.treeCursor(id) {
            complete = true
            while complete {
                let next: TreeEntry?
                do {
                    next = try tree.next()
                } catch {
                    complete = false
                    break
                }
                guard let entry = next else { break }
                guard SafeDirectory.isSafeName(entry.name) else { continue }
                if entry.kind == .file {
                    objects += entry.content.map(\.object)
                } else if entry.kind == .directory, let subtree = entry.subtree {
                    complete = await collect(subtree, objects: &objects, trees: &trees)
                }
                complete = complete && objects.count <= Self.lookahead
            }
        }
        guard complete else {
            objects.removeSubrange(objectsBefore...)
            trees.removeSubrange(treesBefore...)
            return false
        }
        trees.append(id)
        return true
    }

    /// Starts writing a plain file, once fewer than `filesInParallel` are being written.
    private mutating func startWrite(_ entry: TreeEntry, at path: FilePath, in directory: SafeDirectory, writes: inout Writes) async {
        while writes.running >= Self.filesInParallel, let result = await writes.group.next() {
            writes.running -= 1
            record(result)
        }
        let reads = self.reads, permissions = self.permissions, progress = self.progress, dropBehind = self.dropBehind
        writes.group.addTask {
            progress?.start(path, size: entry.size)
            let result = await Self.writePlainFile(entry, at: path, in: directory, reads: reads, permissions: permissions, dropBehind: dropBehind)
            progress?.read(result.0)
            progress?.finish(path)
            return result
        }
        writes.running += 1
    }

    /// Waits for the files being written, then sets the metadata of the folders that waited.
    private mutating func finish(_ writes: inout Writes) async {
        while let result = await writes.group.next() { record(result) }
        writes.running = 0
        for (parent, entry, identity, location) in writes.folders {
            do {
                let folder = try parent.open(entry.name, expecting: identity)
                for failure in SafeDirectory.applyMetadata(entry, toFile: folder.descriptor, permissions: permissions) {
                    problems.append(Problem(path: location.path, message: failure))
                }
            } catch {
                problems.append(Problem(path: location.path, message: "\(error)"))
            }
        }
        writes.folders = []
    }

    private mutating func record(_ result: (UInt64, [Problem])) {
        bytesWritten += result.0
        problems += result.1
    }

    private mutating func restoreDirectory(_ entry: TreeEntry, at location: Location, in parent: WalkFolder?, fresh: Bool, all: Bool, writes: inout Writes) async throws {
        guard let subtree = entry.subtree else { return }
        var child: WalkFolder?
        var created = false
        if let parentDirectory = parent?.directory {
            do {
                if !fresh, let existing = try parentDirectory.status(of: entry.name), (existing.st_mode & S_IFMT) != S_IFDIR {
                    note(Action(kind: .conflict, path: location.path, detail: "exists and is not a directory"))
                    return
                }
                if dryRun {
                    child = (try? parentDirectory.open(entry.name)).map(WalkFolder.init)
                } else {
                    let (directory, made) = try parentDirectory.subdirectory(entry.name, create: true, defaultMode: !permissions)
                    created = made
                    child = WalkFolder(directory)
                    if made { FaultInjection.reach("restore-folder-created") }
                }
            } catch {
                problems.append(Problem(path: location.path, message: "\(error)"))
                return
            }
        }
        if let child { enter(child) }
        try await restoreTree(subtree, at: location, in: child, fresh: created, all: all, writes: &writes)
        guard let child else { return }
        leave(child, to: parent)
        // A folder made here, or one restored whole, gets the snapshot's metadata (a folder
        // that was already there only leading to the chosen paths keeps its own).
        if !dryRun, created || all, let parentDirectory = parent?.directory {
            writes.folders.append((parentDirectory, entry, child.identity, location))
            // Each waiting folder keeps its parent open: now and then, all of them are done.
            if writes.folders.count >= Self.foldersWaiting { await finish(&writes) }
        }
    }
    /// Decides what to do with one entry and does it; returns true for a plain file the caller
    /// is to write (several are written at once).
    private mutating func restoreEntry(_ entry: TreeEntry, at path: FilePath, in directory: SafeDirectory?, fresh: Bool) async -> Bool {
        var writing = false
        do {
            if !fresh, let directory, let existing = try directory.status(of: entry.name) {
                if overwrite != .always, try identical(entry, existing: existing, in: directory, path: path) {
                    note(Action(kind: .identical, path: path, detail: "already there"))
                    if entry.kind == .file { progress?.finish(path) }
                    await reads.forget(entry.content.map(\.object))
                    return false
                }
                if overwrite == .never {
                    note(Action(kind: .conflict, path: path, detail: "exists and differs"))
                    await reads.forget(entry.content.map(\.object))
                    return false
                }
                if (existing.st_mode & S_IFMT) == S_IFDIR {
                    note(Action(kind: .conflict, path: path, detail: "exists as a directory"))
                    await reads.forget(entry.content.map(\.object))
                    return false
                }
            }
            note(Action(kind: .write, path: path, detail: ""))
            guard !dryRun else { return false }
            guard let directory else {
                await reads.forget(entry.content.map(\.object))
                return false
            }
            if entry.kind == .file && entry.links <= 1 { return true }
            writing = true
            try await write(entry, at: path, in: directory)
        } catch {
            problems.append(Problem(path: path, message: "\(error)"))
            // What was announced for it and will not be written (a write forgets its own).
            if !writing, !dryRun { await reads.forget(entry.content.map(\.object)) }
        }
        return false
    }
}

/// The walk's handle on a folder: open while it is among the deepest `openFoldersLimit`
/// folders of the walk, closed above them, and opened again through its child's `..` when
/// the walk comes back to it, checked to be the same folder (`lost` when it is not: someone
/// moved a folder during the restore, and the rest of this one is not restored).
final class WalkFolder {
    var directory: SafeDirectory?
    let identity: Identity
    let location: Location
    var lost = false

    init(_ directory: SafeDirectory) {
        self.directory = directory
        identity = directory.identity
        location = directory.location
    }
}

extension Restorer {
    /// Folders the walk keeps open at most, whatever the depth of the tree (besides those of
    /// the files being written and of the folders waiting for their metadata).
    static let openFoldersLimit = 32

    mutating func enter(_ folder: WalkFolder) {
        openFolders.append(folder)
        if openFolders.count > Self.openFoldersLimit { openFolders.removeFirst().directory = nil }
    }

    /// Closes `child`, whose tree is done, and opens `parent` again when it was closed.
    mutating func leave(_ child: WalkFolder, to parent: WalkFolder?) {
        if openFolders.last === child { openFolders.removeLast() }
        defer { child.directory = nil }
        guard let parent, parent.directory == nil, !parent.lost else { return }
        do {
            guard let directory = child.directory else { throw Replaced(path: parent.location.path, what: "the folder it was restoring into") }
            parent.directory = try directory.parent(expecting: parent.identity, location: parent.location)
            openFolders.append(parent)
        } catch {
            parent.lost = true
            problems.append(Problem(path: parent.location.path, message: "\(error); the rest of it was not restored"))
        }
    }
}
