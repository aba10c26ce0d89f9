import Foundation

/// A plan's actions, in the order of the walk: a folder's entries by name (those still there and
/// those gone alike), each folder's contents right after its own line. The first few are held as
/// values; past `heldAtMost` they are encoded into a spill file as they are made (a plan of a
/// million new files held them as values: 436 MB), and read back one at a time.
///
/// A copy shares what is written (the spill file is only appended to) and goes its own way
/// after: appending to one never changes the other.
public struct PlanActions: Sendable, Equatable, Codable {
    public typealias Action = BackupPlan.Action

    static let heldAtMost = 512
    /// Actions are encoded into batches of about this many bytes, each one piece of the spill.
    static let batchSize = 64 << 10

    fileprivate final class Storage: @unchecked Sendable {
        let folder: String?
        var spill: SpillFile?
        var batches: [SpillFile.Place] = []
        var pending = BinaryWriter(capacity: 0)
        var held: [Action] = []
        var count = 0

        init(folder: String?) { self.folder = folder }

        func copy() -> Storage {
            let copy = Storage(folder: folder)
            copy.spill = spill
            copy.batches = batches
            copy.pending = pending
            copy.held = held
            copy.count = count
            return copy
        }
    }

    private var storage: Storage

    /// `spillFolder`: where the spill file is made once there are many ($TMPDIR); nil keeps
    /// them all as values.
    public init(spillFolder: String? = nil) {
        storage = Storage(folder: spillFolder)
    }

    public init(_ actions: [Action]) {
        storage = Storage(folder: nil)
        for action in actions { append(action) }
    }

    /// The spill file's descriptor, for tests that damage it; nil while they are held.
    var spillDescriptor: Int32? { storage.spill?.descriptor }

    public var count: Int { storage.count }
    public var isEmpty: Bool { storage.count == 0 }

    public mutating func append(_ action: Action) {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        let storage = self.storage
        storage.count += 1
        if storage.spill == nil {
            guard let folder = storage.folder, storage.held.count >= Self.heldAtMost else {
                storage.held.append(action)
                return
            }
            // Many: what is held goes to the spill file first, in order.
            storage.spill = SpillFile(in: folder, what: "the plan's spill file")
            let held = storage.held
            storage.held = []
            for earlier in held { Self.encode(earlier, into: &storage.pending) }
        }
        Self.encode(action, into: &storage.pending)
        if storage.pending.bytes.count >= Self.batchSize { flush(storage) }
    }

    private func flush(_ storage: Storage) {
        guard let spill = storage.spill, !storage.pending.bytes.isEmpty else { return }
        storage.batches.append(spill.append(storage.pending.bytes))
        storage.pending = BinaryWriter(capacity: Self.batchSize + 4096)
    }

    /// Reads the actions in order, a batch at a time.
    public struct Reader {
        private let storage: Storage
        private var held: IndexingIterator<[Action]>
        private var batch = 0
        private var reader: BinaryReader?

        fileprivate init(_ storage: Storage) {
            self.storage = storage
            held = storage.held.makeIterator()
        }

        /// The next action, or nil after the last. Throws when the spill file cannot be read
        /// back or is damaged (its checksums).
        public mutating func next() throws -> Action? {
            if let action = held.next() { return action }
            guard let spill = storage.spill else { return nil }
            while true {
                if var current = reader, !current.isAtEnd {
                    let action = try PlanActions.decode(&current)
                    reader = current
                    return action
                }
                if batch < storage.batches.count {
                    reader = BinaryReader(try spill.read(storage.batches[batch]), what: PlanActions.what)
                } else if batch == storage.batches.count {
                    reader = BinaryReader(storage.pending.bytes, what: PlanActions.what)
                } else {
                    return nil
                }
                batch += 1
            }
        }
    }

    public func reader() -> Reader { Reader(storage) }

    /// Visits the actions in order. Throws when the spill file cannot be read back or is
    /// damaged (its checksums), or what `body` throws.
    public func forEach(_ body: (Action) throws -> Void) throws {
        var reader = reader()
        while let action = try reader.next() { try body(action) }
    }

    /// All of them as values (for a few, or for tests).
    public func array() throws -> [Action] {
        var all: [Action] = []
        all.reserveCapacity(count)
        try forEach { all.append($0) }
        return all
    }

    /// The first action that matches, reading no further.
    public func first(where matches: (Action) -> Bool) throws -> Action? {
        var reader = reader()
        while let action = try reader.next() {
            if matches(action) { return action }
        }
        return nil
    }

    public static func == (left: PlanActions, right: PlanActions) -> Bool {
        guard left.count == right.count else { return false }
        if left.storage === right.storage { return true }
        var a = left.reader(), b = right.reader()
        do {
            while let one = try a.next() {
                guard try b.next() == one else { return false }
            }
            return true
        } catch {
            return false
        }
    }

    /// An array of actions, or the marker `SavedPlan.read` left where it cut them out.
    public init(from decoder: Decoder) throws {
        if let source = decoder.userInfo[.actionSource] as? SavedPlan.ActionSource,
            let marker = try? decoder.singleValueContainer().decode(String.self)
        {
            guard let actions = source.actions(for: marker) else {
                throw DecodingError.dataCorrupted(DecodingError.Context(codingPath: decoder.codingPath, debugDescription: "actions are a list, not a text"))
            }
            self = actions
            return
        }
        self.init(try [Action](from: decoder))
    }

    public func encode(to encoder: Encoder) throws {
        if let splice = encoder.userInfo[.actionSplice] as? SavedPlan.ActionSplice {
            var container = encoder.singleValueContainer()
            try container.encode(splice.register(self))
            return
        }
        var container = encoder.unkeyedContainer()
        try forEach { try container.encode($0) }
    }

    // MARK: The encoding in the spill file (never stored elsewhere: it can change freely)

    fileprivate static let what = "the plan's spill file"

    static func encode(_ action: Action, into writer: inout BinaryWriter) {
        writer.byte(action.action == .new ? 0 : action.action == .changed ? 1 : 2)
        writer.string(action.path)
        optional(action.pathBase64, into: &writer)
        writer.string(action.kind)
        writer.varint(action.size)
        writer.string(action.reason)
        if let print = action.fingerprint {
            writer.byte(1)
            writer.varint(print.size)
            writer.timestamp(print.mtime)
            writer.timestamp(print.ctime)
            writer.varint(print.inode)
            if let mode = print.mode, let uid = print.uid, let gid = print.gid {
                writer.byte(1)
                writer.varint(UInt64(mode))
                writer.varint(UInt64(uid))
                writer.varint(UInt64(gid))
            } else {
                writer.byte(0)
            }
        } else {
            writer.byte(0)
        }
        if let delta = action.delta {
            writer.byte(1)
            writer.byte(delta.decision == .full ? 0 : 1)
            writer.string(delta.reason)
            if let over = delta.fullIfOver {
                writer.byte(1)
                writer.varint(over.bitPattern)
            } else {
                writer.byte(0)
            }
        } else {
            writer.byte(0)
        }
        optional(action.change?.rawValue, into: &writer)
        optional(action.target, into: &writer)
    }

    private static func optional(_ text: String?, into writer: inout BinaryWriter) {
        if let text {
            writer.byte(1)
            writer.string(text)
        } else {
            writer.byte(0)
        }
    }

    private static func optional(_ reader: inout BinaryReader) throws -> String? {
        try reader.byte() == 0 ? nil : try reader.string()
    }

    static func decode(_ reader: inout BinaryReader) throws -> Action {
        let action: BackupPlan.ActionKind =
            switch try reader.byte() {
            case 0: .new
            case 1: .changed
            case 2: .removed
            default: throw FormatError.malformed(what, "unknown action")
            }
        let path = try reader.string()
        let pathBase64 = try optional(&reader)
        let kind = try reader.string()
        let size = try reader.varint()
        let reason = try reader.string()
        var fingerprint: BackupPlan.Fingerprint?
        if try reader.byte() != 0 {
            fingerprint = BackupPlan.Fingerprint(size: try reader.varint(), mtime: try reader.timestamp(), ctime: try reader.timestamp(), inode: try reader.varint())
            if try reader.byte() != 0 {
                fingerprint?.mode = UInt32(truncatingIfNeeded: try reader.varint())
                fingerprint?.uid = UInt32(truncatingIfNeeded: try reader.varint())
                fingerprint?.gid = UInt32(truncatingIfNeeded: try reader.varint())
            }
        }
        var delta: DeltaDecision?
        if try reader.byte() != 0 {
            let decision: DeltaDecision.Kind = try reader.byte() == 0 ? .full : .delta
            let reason = try reader.string()
            let over = try reader.byte() == 0 ? nil : Double(bitPattern: try reader.varint())
            delta = DeltaDecision(decision: decision, reason: reason, fullIfOver: over)
        }
        let change = try optional(&reader).map { raw in
            guard let kind = EntryChange.Kind(rawValue: raw) else { throw FormatError.malformed(what, "unknown change") }
            return kind
        }
        let target = try optional(&reader)
        return Action(
            action: action, path: path, pathBase64: pathBase64, kind: kind, size: size, reason: reason, fingerprint: fingerprint,
            delta: delta, change: change, target: target)
    }
}
