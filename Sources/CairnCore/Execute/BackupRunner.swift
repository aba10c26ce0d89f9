import Foundation

internal import CLinux
internal import CCairnKernels

#if canImport(Glibc)
    import Glibc
#endif

/// Carries out a backup plan: reads new and changed files, stores their content, builds the
/// trees bottom-up and commits the snapshot.
///
/// Work runs in parallel with bounded queues: a few files of a folder are read at once, and the
/// chunks of a file are hashed, compressed and sealed by several tasks while the file is read,
/// so both cores stay busy and memory stays within a few maximum chunks per file read.
public struct BackupRunner {
    public let repository: Repository
    let chunker: Chunker
    let compressor: Compressor
    public private(set) var statistics = Snapshot.Statistics()
    public private(set) var problems: [Problem] = []
    /// Content already stored in this run, by (device, inode): hard links are read once.
    private var linked: [Pair: (content: [Extent], hash: ObjectID?, size: UInt64, delta: DeltaInfo?)] = [:]
    private let followSymlinks: Bool
    /// The repository's, for entries encoded as its trees hold them.
    private let contentHashPrefix: [UInt8]
    /// Asks the run to stop: files being read are cancelled, no more are started, and what was
    /// read is stored as usual.
    private let stop: StopRequest
    /// Told about each file started and each piece read, for progress displays.
    public var progress: ProgressSink?
    /// Set once a stop was requested: files not read by then are left out of the snapshot.
    public private(set) var wasInterrupted = false
    /// In-file delta, for sets that use it.
    public var delta: DeltaContext?
    /// How each file with in-file delta was stored, and why (`full: delta 63% > 50%`).
    public private(set) var deltaOutcomes: [(path: FilePath, outcome: String)] = []

    /// Files read at once.
    static let filesInParallel = 3
    /// Chunks of one file stored at once while the next is cut: up to three, of at most a
    /// maximum chunk's bytes together (or one larger). With one, a large file kept one core
    /// busy compressing and the other waiting: a backup of /usr used 1.3 of 2 cores.
    static let storesPerFile = 3
    static let storedBytesPerFile = Chunker.maximumSize

    /// The window of a file's chunks being stored.
    static func storeWindow() -> WorkWindow<FileReader.ChunkResult> {
        WorkWindow(width: storesPerFile, weightBudget: storedBytesPerFile, finishesPieces: true)
    }

    struct Pair: Hashable {
        var device: UInt64
        var inode: UInt64
    }

    public init(
        repository: Repository, compression: Compression = .default, followSymlinks: Bool, stop: StopRequest = StopRequest()
    ) {
        self.repository = repository
        self.chunker = Chunker(key: repository.chunkerKey)
        self.compressor = Compressor(compression)
        self.followSymlinks = followSymlinks
        self.stop = stop
        contentHashPrefix = repository.contentHashPrefix
    }

    /// What reading one file gave, merged into the statistics by the task that started it.
    struct FileResult: Sendable {
        var entry: TreeEntry?
        var statistics = Snapshot.Statistics()
        var problems: [Problem] = []
        /// For a file with in-file delta: how it was stored, and why.
        var deltaOutcome: String?
        /// Neither stored nor a problem: a stop was requested while it was read.
        var wasStopped: Bool {
            // Not `entry == nil`, which copied the whole entry: twice for every file read.
            if case .some = entry { return false }
            return problems.isEmpty
        }
    }

    /// Stores everything under `directory` and returns the id of its tree.
    ///
    /// New and changed files are read `filesInParallel` at a time wherever they are in the
    /// tree (a large file, bound by its reading and the device, leaves the cores to files of
    /// other folders). Each folder's tree is stored as soon as the walk has passed it and its
    /// files are read, children before their parent: what was read for a folder is held only
    /// until its tree is stored, not until the whole tree is read (behind a slow read, the
    /// folders passed meanwhile wait, and what was read for them with them). Problems and delta
    /// outcomes are put in tree order at the end. Hard-linked files are read by this task when
    /// their folder's tree is stored, one at a time, beside the reads of the group.
    ///
    /// A stop (`StopRequest`) cancels the files being read: a watcher in the group of reads
    /// wakes when it is requested and cancels the group; each cancelled read reports that it
    /// was stopped, and the trees are stored as usual from what was read.
    public mutating func store(_ directory: ScannedDirectory) async throws -> ObjectID {
        let reader = FileReader(
            repository: repository, chunker: chunker, compressor: compressor, followSymlinks: followSymlinks, progress: progress, delta: delta)
        let stop = self.stop
        return try await withThrowingTaskGroup(of: Completed?.self) { group in
            group.addTask {
                await stop.requested()
                return nil
            }
            var reads = Reads(group: group, reader: reader)
            var folders = Folders()
            let top = try await walk(directory, reads: &reads, folders: &folders)
            while reads.running > 0, let completed = try await reads.group.next() {
                take(completed, folders: &folders, reads: &reads)
                try await storeReady(&folders)
            }
            reads.group.cancelAll()  // the watcher, once every read is in
            try await storeReady(&folders)
            guard let root = folders.stored.removeValue(forKey: top) else {
                preconditionFailure("the walk stores every folder it passed once its reads are in")
            }
            // Problems and delta outcomes in tree order (a folder's own files come after its
            // subfolders' in the order trees are stored).
            problems = ordered.problems.enumerated().sorted { ($0.element.file, $0.offset) < ($1.element.file, $1.offset) }.map(\.element.problem)
            deltaOutcomes = ordered.outcomes.enumerated().sorted { ($0.element.file, $0.offset) < ($1.element.file, $1.offset) }.map {
                ($0.element.path, $0.element.outcome)
            }
            return root
        }
    }

    /// A file read in parallel: where it goes in its folder's tree.
    struct Completed: Sendable {
        /// Its folder's number in the walk (`Folders`).
        var directory: Int
        var index: Int
        /// Its number in tree order, for its problems.
        var file: Int
        var path: FilePath
        /// Its share of `readBufferBudget`.
        var weight: Int
        var result: FileResult
    }

    /// What the read of a file left for its folder's tree, once its statistics and problems
    /// are counted: its entry, encoded as the tree holds it in the folder's `Encoded` (about
    /// 100 bytes, where the entry as a value and the rest of the result took a kilobyte: a
    /// folder of 100,000 files held 136 MB of them until its last file was read), or none.
    enum Done: Sendable {
        case entry(Encoded.Place)
        /// Not stored: a stop came first, or reading it failed.
        case missing(stopped: Bool)
    }

    /// Tree entries encoded one after another in blocks of about 256 KiB (an array each took
    /// 200 bytes for 100: 22 MB for a folder of 100,000 files).
    struct Encoded {
        struct Place: Sendable {
            var block: Int32
            var start: Int32
            var end: Int32
        }

        private var blocks: [BinaryWriter] = []
        /// The bytes of every entry.
        private(set) var bytes = 0

        mutating func append(_ entry: TreeEntry, contentHashPrefix: [UInt8]) -> Place {
            if blocks.isEmpty || blocks[blocks.count - 1].bytes.count >= 1 << 18 { blocks.append(BinaryWriter(capacity: 1 << 16)) }
            let block = blocks.count - 1
            let start = blocks[block].bytes.count
            Tree.encode(entry, into: &blocks[block], contentHashPrefix: contentHashPrefix)
            bytes += blocks[block].bytes.count - start
            return Place(block: Int32(block), start: Int32(start), end: Int32(blocks[block].bytes.count))
        }

        subscript(place: Place) -> ArraySlice<UInt8> {
            blocks[Int(place.block)].bytes[Int(place.start)..<Int(place.end)]
        }
    }

    struct Reads {
        /// The reads, and the watcher of the stop request (which gives nil).
        var group: ThrowingTaskGroup<Completed?, Error>
        let reader: FileReader
        var running = 0
        /// The read buffers of the files being read, in MiB (see `weight`).
        var weight = 0
    }

    /// The folders the walk has entered whose trees are not stored yet.
    struct Folders {
        struct Open {
            let directory: ScannedDirectory
            /// Its subfolders as the walk read them, by their place in it (read again from the
            /// scan, a subfolder is a new value; its entries are read one at a time, twice:
            /// never all held).
            var subfolders: [Int: Int] = [:]
            /// Reads of its files that are done, by the file's place in the folder (16 bytes a
            /// place: a dictionary took 55).
            var results: [Done?] = []
            /// Their entries.
            var encoded = Encoded()

            mutating func record(_ done: Done, at index: Int) {
                if results.count <= index { results += repeatElement(nil, count: index + 1 - results.count) }
                results[index] = done
            }
            /// Reads of its files started and not done.
            var running = 0
            /// The number in tree order of its first file, and the next number after each
            /// subfolder's files (by the subfolder's place): problems are put in tree order.
            let firstFile: Int
            var afterSubfolder: [Int: Int] = [:]
        }

        /// Folders are known by their number in the walk: a folder read from the scan is a new
        /// value, freed once walked (its address, and so its `ObjectIdentifier`, can come back).
        var walked = 0
        var open: [Int: Open] = [:]
        /// Files walked so far, in tree order.
        var files = 0
        /// Folders the walk has passed, children before their parent: stored in this order.
        var passed: [Int] = []
        var nextPassed = 0
        /// Trees stored whose parent is not stored yet (and the root's, at the end).
        var stored: [Int: ObjectID] = [:]
    }

    /// Files are read at once up to this many MiB of read buffers (a file's buffer is its size
    /// up to a maximum chunk): a large file and a medium one, or three medium ones. (Without
    /// it, the benchmark's 1 GiB file and two medium files read together peaked at 105-107 MB.)
    static let readBufferBudget = 10

    static func weight(of file: ScannedFile) -> Int {
        Int((min(file.entry.size, UInt64(Chunker.maximumSize)) + (1 << 20) - 1) >> 20)
    }

    /// Starts reading the new and changed files under `directory`, storing the trees of the
    /// folders that are ready meanwhile; unchanged files, hard links and whatever comes after a
    /// stop are handled when their folder's tree is stored.
    /// Returns the folder's number in the walk, by which its tree is found once stored.
    @discardableResult
    private mutating func walk(_ directory: ScannedDirectory, reads: inout Reads, folders: inout Folders) async throws -> Int {
        let folder = folders.walked
        folders.walked += 1
        if let tree = directory.unchangedTree {
            // Its tree is the previous snapshot's: recorded again, nothing under it visited.
            let totals = directory.totals
            statistics.files += totals.files
            statistics.bytes += totals.bytes
            statistics.unchangedFiles += totals.files
            statistics.directories += totals.directories
            statistics.otherEntries += totals.others
            folders.files += totals.files
            folders.stored[folder] = tree
            return folder
        }
        folders.open[folder] = Folders.Open(directory: directory, firstFile: folders.files)
        var nodes = try directory.nodes()
        var index = -1
        while let node = try nodes.next() {
            index += 1
            switch node {
            case .directory(let inner):
                let key = try await walk(inner, reads: &reads, folders: &folders)
                folders.open[folder]!.afterSubfolder[index] = folders.files
                folders.open[folder]!.subfolders[index] = key
            case .file(let file):
                folders.files += 1
                guard file.change != .unchanged, file.entry.links <= 1, !wasInterrupted, !stop.isRequested else { continue }
                let weight = Self.weight(of: file)
                while reads.running >= Self.filesInParallel || (reads.running > 0 && reads.weight + weight > Self.readBufferBudget),
                    let completed = try await reads.group.next()
                {
                    take(completed, folders: &folders, reads: &reads)
                    try await storeReady(&folders)
                }
                let reader = reads.reader
                let number = folders.files - 1
                let place = index
                reads.group.addTask {
                    Completed(directory: folder, index: place, file: number, path: file.path, weight: weight, result: try await reader.read(file))
                }
                reads.running += 1
                reads.weight += weight
                folders.open[folder]!.running += 1
            case .special, .carried:
                continue
            }
        }
        folders.passed.append(folder)
        try await storeReady(&folders)
        return folder
    }

    private mutating func take(_ completed: Completed?, folders: inout Folders, reads: inout Reads) {
        guard let completed else {
            // The stop was requested: the reads running are cancelled and none is started. The
            // snapshot is partial only if a file is then not reached (a read that was already
            // done is kept).
            reads.group.cancelAll()
            return
        }
        reads.running -= 1
        reads.weight -= completed.weight
        // Every 32 MiB read, the heap gives back the pages that freed chunks left.
        let bytes = completed.result.statistics.bytesRead
        if (bytesSinceTrim + bytes) >> 25 != 0 {
            cairn_trim_heap()
            bytesSinceTrim = 0
        } else {
            bytesSinceTrim += bytes
        }
        // Seen here too, not only when merged: no further file is started.
        if completed.result.wasStopped { wasInterrupted = true }
        merge(completed.result, path: completed.path, file: completed.file)
        let done: Done
        if let entry = completed.result.entry {
            done = .entry(folders.open[completed.directory]!.encoded.append(entry, contentHashPrefix: contentHashPrefix))
        } else {
            done = .missing(stopped: completed.result.wasStopped)
        }
        folders.open[completed.directory]!.record(done, at: completed.index)
        folders.open[completed.directory]!.running -= 1
    }

    /// Stores the trees of the folders passed whose files are all read, in the order passed.
    private mutating func storeReady(_ folders: inout Folders) async throws {
        while folders.nextPassed < folders.passed.count {
            let folder = folders.passed[folders.nextPassed]
            guard let open = folders.open[folder], open.running == 0 else { break }
            folders.open[folder] = nil
            folders.nextPassed += 1
            let id = try await storeTree(open, subtrees: &folders.stored)
            folders.stored[folder] = id
        }
        if folders.nextPassed > 1024 || folders.nextPassed == folders.passed.count {
            folders.passed.removeFirst(folders.nextPassed)
            folders.nextPassed = 0
        }
    }

    /// Stores the tree of `directory`, whose subfolders' trees are stored, with the files read
    /// in parallel, the statistics in tree order.
    private mutating func storeTree(_ open: Folders.Open, subtrees: inout [Int: ObjectID]) async throws -> ObjectID {
        var file = open.firstFile
        // Room for the entries read, and for as many again: the rest come one by one.
        var entries = Tree.Builder(contentHashPrefix: contentHashPrefix, capacity: 2 * open.encoded.bytes + 4096)
        var nodes = try open.directory.nodes()
        var index = -1
        while let node = try nodes.next() {
            index += 1
            switch node {
            case .directory(let inner):
                file = open.afterSubfolder[index]!
                var entry = inner.entry
                entry.subtree = open.subfolders[index].flatMap { subtrees.removeValue(forKey: $0) }
                precondition(entry.subtree != nil, "a folder's tree is stored after its subfolders'")
                statistics.directories += 1
                entries.append(entry)
            case .file(let scanned):
                defer { file += 1 }
                switch index < open.results.count ? open.results[index] : nil {
                case .entry(let place):
                    entries.append(encoded: open.encoded[place], name: scanned.entry.name)
                case .missing(let stopped):
                    if let kept = try await keepPrevious(of: scanned, stopped: stopped) { entries.append(kept) }
                case nil:
                    if let entry = try await storeInOrder(scanned, file: file) { entries.append(entry) }
                }
            case .special(let entry):
                statistics.otherEntries += 1
                entries.append(entry)
            case .carried(let entry):
                try await countCarried(entry)
                entries.append(entry)
            }
        }
        let stored = try await repository.store(consume entries)
        count(stored)
        return stored.id
    }

    /// A file the run did not store keeps its previous version, marked: not reached when a stop
    /// came first, read failed when reading it failed (a problem of the job). A file that is new
    /// since the last snapshot has no previous version and is left out.
    private mutating func keepPrevious(of file: ScannedFile, stopped: Bool) async throws -> TreeEntry? {
        guard var previous = file.previous else { return nil }
        previous.carried = stopped ? .notReached : .readFailed
        try await countCarried(previous)
        return previous
    }

    /// Counts a carried-over entry (and, for a folder, the files under it) in the statistics, so
    /// a snapshot's counts describe its whole tree.
    private mutating func countCarried(_ entry: TreeEntry) async throws {
        statistics.carriedOver += 1
        var pending: [ObjectID] = []
        count(entry, below: &pending)
        while let id = pending.popLast() {
            // Statistics only: a tree that cannot be read is not counted, never a failure.
            guard let tree = try? await repository.tree(id) else { continue }
            for child in tree.entries { count(child, below: &pending) }
        }
    }

    /// Counts one entry of a carried-over tree; a folder's subtree is counted next.
    private mutating func count(_ entry: TreeEntry, below pending: inout [ObjectID]) {
        switch entry.kind {
        case .file:
            statistics.files += 1
            statistics.bytes += entry.size
        case .directory:
            statistics.directories += 1
            if let subtree = entry.subtree { pending.append(subtree) }
        default:
            statistics.otherEntries += 1
        }
    }

    /// Problems and delta outcomes with the number of their file in tree order, sorted once
    /// the trees are stored.
    private var ordered = (problems: [(file: Int, problem: Problem)](), outcomes: [(file: Int, path: FilePath, outcome: String)]())

    private mutating func merge(_ result: FileResult, path: FilePath, file: Int) {
        if let outcome = result.deltaOutcome {
            ordered.outcomes.append((file, path, outcome))
            if result.entry?.delta?.isFull == false { statistics.deltaFiles += 1 } else { statistics.fullUploads += 1 }
        }
        let s = result.statistics
        statistics.files += s.files
        statistics.bytes += s.bytes
        statistics.newFiles += s.newFiles
        statistics.changedFiles += s.changedFiles
        statistics.bytesRead += s.bytesRead
        statistics.bytesStored += s.bytesStored
        statistics.bytesDeduplicated += s.bytesDeduplicated
        statistics.newObjects += s.newObjects
        statistics.problems += s.problems
        ordered.problems += result.problems.map { (file, $0) }
        if result.wasStopped { wasInterrupted = true }
    }

    /// Bytes read by files read in parallel since the heap last gave back its free pages.
    private var bytesSinceTrim: UInt64 = 0

    private mutating func count(_ stored: Repository.Stored) {
        if stored.isNew {
            statistics.newObjects += 1
            statistics.bytesStored += UInt64(stored.storedSize)
        }
    }

    /// Files handled one at a time: unchanged ones, hard links (read once per inode), and what
    /// comes after a stop was requested.
    private mutating func storeInOrder(_ file: ScannedFile, file number: Int) async throws -> TreeEntry? {
        if file.change == .unchanged {
            statistics.files += 1
            statistics.bytes += file.entry.size
            statistics.unchangedFiles += 1
            return file.entry
        }
        // Another link to an inode this run stored takes its content, also after a stop: the
        // links of one file never end up half new, half old.
        let pair = Pair(device: file.entry.device, inode: file.entry.inode)
        if let known = linked[pair] {
            var entry = file.entry
            entry.content = known.content
            entry.contentHash = known.hash
            entry.size = known.size
            entry.delta = known.delta
            statistics.files += 1
            statistics.bytes += entry.size
            if file.change == .new { statistics.newFiles += 1 } else { statistics.changedFiles += 1 }
            return entry
        }
        if wasInterrupted || stop.isRequested {
            wasInterrupted = true
            return try await keepPrevious(of: file, stopped: true)
        }
        let reader = FileReader(
            repository: repository, chunker: chunker, compressor: compressor, followSymlinks: followSymlinks, progress: progress, delta: delta)
        let result = try await reader.read(file)
        merge(result, path: file.path, file: number)
        guard let entry = result.entry else { return try await keepPrevious(of: file, stopped: result.wasStopped) }
        linked[pair] = (entry.content, entry.contentHash, entry.size, entry.delta)
        return entry
    }
}

/// Reads one file in content-defined chunks and stores them.
struct FileReader: Sendable {
    let repository: Repository
    let chunker: Chunker
    let compressor: Compressor
    let followSymlinks: Bool
    let progress: ProgressSink?
    var delta: DeltaContext?

    /// Reads and stores a file. When the task is cancelled (a stop), the file is left as not
    /// read: no entry and no problem.
    func read(_ file: ScannedFile) async throws -> BackupRunner.FileResult {
        var result = BackupRunner.FileResult()
        var entry = file.entry
        if Task.isCancelled { return result }
        // A file that is not read is a problem; its previous version, if any, is kept.
        func notRead(_ message: String) -> BackupRunner.FileResult {
            result.problems.append(Problem(path: file.path, message: message + (file.previous == nil ? "" : "; its previous version is kept")))
            result.statistics.problems += 1
            return result
        }
        let descriptor: Int32, opened: stat
        switch Self.openToRead(file.path, followSymlinks: followSymlinks) {
        case .file(let file, let status): (descriptor, opened) = (file, status)
        case .notRegular: return notRead("is no longer a regular file")
        case .failed(ENOENT): return notRead("vanished before it could be read")
        case .failed(let code): return notRead("cannot be read: \(String(cString: strerror(code)))")
        }
        defer { close(descriptor) }
        progress?.start(file.path, size: entry.size)
        defer { progress?.finish(file.path) }
        do {
            let content: [Extent], hash: ObjectID, size: UInt64
            if let delta, file.change != .unchanged, let decision = delta.policy.decide(size: entry.size, previous: file.previous) {
                let stored = try await readWithDelta(
                    descriptor, path: file.path, expected: entry.size, size: Int(opened.st_size), decision: decision, delta: delta,
                    statistics: &result.statistics)
                (content, hash, size) = (stored.content, stored.hash, stored.size)
                entry.delta = stored.info
                result.deltaOutcome = stored.outcome
            } else {
                (content, hash, size) = try await readContent(descriptor, path: file.path, size: Int(opened.st_size), statistics: &result.statistics)
                entry.delta = nil
            }
            entry.content = content
            entry.contentHash = hash
            var after = stat()
            if fstat(descriptor, &after) == 0,
                UInt64(after.st_size) != entry.size || Timestamp(after.st_mtim) != entry.mtime || size != entry.size
            {
                result.statistics.problems += 1
                if file.previous != nil {
                    // What was read may mix two versions: the last good one is kept instead.
                    result.problems.append(Problem(path: file.path, message: "changed while it was read; its previous version is kept, and it is read again next time"))
                    return result
                }
                result.problems.append(Problem(path: file.path, message: "changed while it was read; stored as read (it had no earlier version), and read again next time"))
                entry.size = size
            }
            result.statistics.files = 1
            result.statistics.bytes = entry.size
            if file.change == .new { result.statistics.newFiles = 1 } else { result.statistics.changedFiles = 1 }
            FaultInjection.reach("file-stored")
            result.entry = entry
            return result
        } catch is CancellationError {
            // Stopped while it was read: what was stored of it is unused until a prune.
            return BackupRunner.FileResult(statistics: result.statistics)
        } catch let failure as FileMetadata.Failure {
            let kept = file.previous == nil ? "" : "; its previous version is kept"
            result.problems.append(Problem(path: file.path, message: "cannot be read: \(String(cString: strerror(failure.code)))\(kept)"))
            result.statistics.problems += 1
            return result
        }
    }

    enum Opened {
        /// Open for reading, with its status.
        case file(Int32, stat)
        /// Something else is there now: not opened, or opened and closed again.
        case notRegular
        case failed(Int32)
    }

    /// Opens a file the scan found, to read it: only a regular file, and never as a controlling
    /// terminal.
    ///
    /// Without following links, the name is opened without blocking (no device can be there
    /// that the scan did not see: making one needs root, and a link is refused), so a fifo put
    /// in the file's place is not waited on; a lease on the file (a file server's delegation,
    /// which refuses a non-blocking open) is waited for by opening it again the usual way.
    /// Following links, the name could lead anywhere, to a device whose opening does something
    /// (a watchdog starts, a tape rewinds): it is resolved first (`O_PATH`), checked to be a
    /// regular file, and that very file opened through its /proc/self/fd link.
    static func openToRead(_ path: FilePath, followSymlinks: Bool) -> Opened {
        let flags = O_RDONLY | O_CLOEXEC | O_NOCTTY
        // Without updating the access time where the file is this user's (O_NOATIME needs that).
        func open(_ name: UnsafePointer<CChar>, _ flags: Int32) -> Int32 {
            let descriptor = Glibc.open(name, flags | cairn_o_noatime())
            return descriptor < 0 && errno == EPERM ? Glibc.open(name, flags) : descriptor
        }
        var descriptor: Int32
        if followSymlinks {
            let node = path.withCString { Glibc.open($0, cairn_o_path() | O_CLOEXEC) }
            guard node >= 0 else { return .failed(errno) }
            defer { close(node) }
            var info = stat()
            guard fstat(node, &info) == 0 else { return .failed(errno) }
            guard info.st_mode & S_IFMT == S_IFREG else { return .notRegular }
            descriptor = "/proc/self/fd/\(node)".withCString { open($0, flags) }
            // Without /proc: the name again, not blocking (checked below).
            if descriptor < 0 && errno == ENOENT { descriptor = path.withCString { open($0, flags | O_NONBLOCK) } }
        } else {
            descriptor = path.withCString { open($0, flags | O_NOFOLLOW | O_NONBLOCK) }
            if descriptor < 0 && errno == EWOULDBLOCK { descriptor = path.withCString { open($0, flags | O_NOFOLLOW) } }
        }
        guard descriptor >= 0 else { return .failed(errno) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            let code = errno
            close(descriptor)
            return .failed(code)
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            close(descriptor)
            return .notRegular
        }
        return .file(descriptor, info)
    }

    struct ChunkResult: Sendable {
        var extent: Extent
        var stored: Repository.Stored
    }

    /// Stores one chunk: its id first, so a chunk already stored is neither compressed nor sealed.
    /// Stores a chunk handed over by the reader; its buffers go back to the pool.
    static func store(_ handoff: ChunkHandoff, repository: Repository, compressor: Compressor) async throws -> ChunkResult {
        let chunk = handoff.take()
        let id = repository.contentID(of: chunk)
        let extent = Extent(object: id, offset: 0, length: chunk.count)
        if await repository.contains(id) {
            BufferPool.shared.recycle(consume chunk)
            return ChunkResult(extent: extent, stored: Repository.Stored(id: id, isNew: false, storedSize: 0))
        }
        let box = try repository.seal(.blob, id: id, plaintext: chunk, compressor: compressor)
        BufferPool.shared.recycle(consume chunk)
        let stored = try await repository.commit(.blob, id: id, box: box)
        BufferPool.shared.recycle(consume box)
        return ChunkResult(extent: extent, stored: stored)
    }

    /// Reads until the buffer is full or the file ends; true at the end of the file.
    ///
    /// `end`, where the file ends as its status said when it was opened (counted from the
    /// buffer's first byte), when known: a read that stops short there is the file's end,
    /// without the read of nothing that would say so (a call less for every small file). A
    /// file that grew since then has more to read; one that grew or was written while it was
    /// read is found by the status taken after reading (`read(_:)`).
    static func fill(_ descriptor: Int32, _ buffer: UnsafeMutableBufferPointer<UInt8>, filled: inout Int, end: Int? = nil, path: FilePath) throws -> Bool {
        while filled < buffer.count {
            let asked = buffer.count - filled
            let got = Glibc.read(descriptor, buffer.baseAddress! + filled, asked)
            if got < 0 {
                if errno == EINTR { continue }
                // Opened without blocking, on a file system that takes it for reads too.
                if errno == EAGAIN {
                    let flags = fcntl(descriptor, F_GETFL)
                    if flags >= 0, flags & O_NONBLOCK != 0, fcntl(descriptor, F_SETFL, flags & ~O_NONBLOCK) == 0 { continue }
                }
                throw FileMetadata.Failure(path: path, operation: "read", code: errno)
            }
            if got == 0 { return true }
            filled += got
            if got < asked && filled == end { return true }
        }
        return false
    }

    /// Counts a stored chunk: a new object, or bytes found stored already.
    static func count(_ result: ChunkResult, in statistics: inout Snapshot.Statistics) {
        if result.stored.isNew {
            statistics.newObjects += 1
            statistics.bytesStored += UInt64(result.stored.storedSize)
        } else {
            statistics.bytesDeduplicated += UInt64(result.extent.length)
        }
    }

    /// Files smaller than this are one chunk (the chunker never cuts before its minimum) and are
    /// read whole by `readWhole` when they still are.
    static let wholeFileSize = Chunker.minimumSize

    /// A small file read straight into the array that is stored: no read buffer (a fresh
    /// allocation of 64 KiB and more for every small file) and no copy out of it. nil when it
    /// holds more than `expected` bytes now (it grew since it was opened), with what was read
    /// in `started`: it is then read on by chunks like any other (without seeking back: some
    /// files cannot seek).
    func readWhole(_ descriptor: Int32, path: FilePath, expected: Int, started: inout [UInt8]) throws -> [UInt8]? {
        var whole = false
        // One byte more than expected: a read that fills it says the file grew.
        let chunk = try BufferPool.shared.make(count: expected + 1) { buffer in
            var filled = 0
            // Not at a multiple of 4 KiB, where virtual files that say less than they hold stop.
            whole = try Self.fill(descriptor, buffer, filled: &filled, end: expected % 4096 == 0 ? nil : expected, path: path)
            return filled
        }
        guard whole else {
            started = chunk
            return nil
        }
        return chunk
    }

    /// Reads a file in content-defined chunks; several chunks are stored at once while reading
    /// goes on. Memory stays within one buffer of a maximum chunk and the chunks in flight.
    /// `size`: the file's size when it was opened (it is read from its start).
    func readContent(_ descriptor: Int32, path: FilePath, size: Int, statistics: inout Snapshot.Statistics) async throws -> ([Extent], ObjectID, UInt64) {
        try await readContent(descriptor, path: path, size: size, statistics: &statistics, signature: nil)
    }

    /// The same, making the file's block signature (`signature`) on the way.
    func readContent(
        _ descriptor: Int32, path: FilePath, size expected: Int, statistics: inout Snapshot.Statistics, signature: SignatureStream?
    ) async throws -> ([Extent], ObjectID, UInt64) {
        var started: [UInt8] = []
        if signature == nil, expected < Self.wholeFileSize, let chunk = try readWhole(descriptor, path: path, expected: expected, started: &started) {
            let length = chunk.count
            var extents: [Extent] = []
            if length > 0 {
                let stored = try await Self.store(ChunkHandoff(consume chunk), repository: repository, compressor: compressor)
                Self.count(stored, in: &statistics)
                extents.append(stored.extent)
                progress?.read(UInt64(length))
            }
            statistics.bytesRead += UInt64(length)
            return (extents, ContentHasher.hash(ofChunks: extents.map(\.object), keys: repository.keys), UInt64(length))
        }
        var extents: [Extent] = []
        let stores = BackupRunner.storeWindow()
        // A small file needs a small buffer: memory stays low while several are read at once.
        var capacity = max(64 << 10, min(Chunker.maximumSize, expected + (64 << 10)))
        // A kept buffer may be larger than asked for (never more than a maximum chunk).
        var buffer = ReadBuffers.shared.take(capacity: capacity)
        capacity = buffer.count
        defer { ReadBuffers.shared.give(buffer) }
        // What `readWhole` read of a file that grew: the start of the buffer.
        precondition(started.count <= capacity, "a read buffer holds what was read whole")
        started.withUnsafeBufferPointer { _ = UnsafeMutableBufferPointer(rebasing: buffer[0..<$0.count]).initialize(fromContentsOf: $0) }
        var filled = started.count
        started = []
        var total: UInt64 = 0
        var atEnd = false

        func collect(_ result: ChunkResult?) {
            guard let result else { return }
            extents.append(result.extent)
            Self.count(result, in: &statistics)
        }

        do {
            while !atEnd || filled > 0 {
                try Task.checkCancellation()
                // Not at a multiple of 4 KiB, where virtual files that say less than they hold
                // stop (a page at a time).
                let end = expected % 4096 == 0 ? nil : expected - Int(total)
                if !atEnd { atEnd = try Self.fill(descriptor, buffer, filled: &filled, end: end, path: path) }
                if !atEnd && filled == capacity && capacity < Chunker.maximumSize {
                    // The file is longer than it was: read on in a buffer of the full size.
                    let larger = ReadBuffers.shared.take(capacity: Chunker.maximumSize)
                    larger.baseAddress!.update(from: buffer.baseAddress!, count: filled)
                    ReadBuffers.shared.give(buffer)
                    buffer = larger
                    capacity = Chunker.maximumSize
                    continue
                }
                var start = 0
                let data = UnsafeBufferPointer(rebasing: buffer[0..<filled])
                while start < filled {
                    // A cut before the end of what was read is where a cut over more data would
                    // be too; one at the end counts only with a maximum chunk there, or at the
                    // end of the file: otherwise the rest moves to the front and reading goes on.
                    let length = chunker.cut(data, from: start)
                    guard length < filled - start || filled - start >= Chunker.maximumSize || atEnd else { break }
                    let chunk = BufferPool.shared.copy(UnsafeBufferPointer(rebasing: data[start..<start + length]))
                    try await signature?.feed(chunk)
                    let repository = self.repository, compressor = self.compressor, handoff = ChunkHandoff(consume chunk)
                    if atEnd && start == 0 && length == filled && stores.isEmpty {
                        // The whole file in one chunk (most files): stored by this task, as
                        // nothing is read meanwhile; one task less a file.
                        collect(try await Self.store(handoff, repository: repository, compressor: compressor))
                    } else {
                        for stored in try await stores.start(weight: length, { try await Self.store(handoff, repository: repository, compressor: compressor) }) {
                            collect(stored)
                        }
                    }
                    progress?.read(UInt64(length))
                    // Within a large file too, every 32 MiB.
                    if (total + UInt64(length)) >> 25 != total >> 25 { cairn_trim_heap() }
                    total += UInt64(length)
                    start += length
                }
                if start > 0 {
                    buffer.baseAddress!.update(from: buffer.baseAddress! + start, count: filled - start)
                    filled -= start
                }
            }
            while !stores.isEmpty { collect(try await stores.next()) }
        } catch {
            await stores.drain()
            await signature?.abandon()
            throw error
        }
        statistics.bytesRead += total
        return (extents, ContentHasher.hash(ofChunks: extents.map(\.object), keys: repository.keys), total)
    }
}
