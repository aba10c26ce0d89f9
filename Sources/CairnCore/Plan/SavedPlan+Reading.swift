import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Reading a saved plan back in bounded memory: a plan of a million files is a 450 MB
/// document, and decoding it whole held it as text, as Foundation's parse of it and as a
/// million values. The file is read in pieces; each plan's `actions` array is cut out as it
/// passes and decoded a batch of elements at a time into `PlanActions` (which spill past a few
/// hundred); the rest of the document, with a marker in place of each array, is small and is
/// decoded as before. Foundation's decoder still checks every byte: the cutting only follows
/// strings, brackets and keys.
extension SavedPlan {
    /// Reads the plan at `path`; `spillFolder` is where its actions go once there are many.
    public static func read(_ path: String, spillFolder: String? = nil) throws -> SavedPlan {
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw Failure.unreadable(path, "it cannot be read (\(String(cString: strerror(errno))))") }
        defer { close(descriptor) }
        var cutter = ActionsCutter(spillFolder: spillFolder)
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        do {
            while true {
                let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
                if count < 0 {
                    if errno == EINTR { continue }
                    throw Failure.unreadable(path, "it cannot be read (\(String(cString: strerror(errno))))")
                }
                if count == 0 { break }
                try chunk.withUnsafeBufferPointer { try cutter.take(UnsafeBufferPointer(rebasing: $0[..<count])) }
            }
            try cutter.finish()
        } catch let failure as Failure {
            throw failure
        } catch let failure as CutFailure {
            throw Failure.unreadable(path, failure.why)
        } catch {
            throw Failure.unreadable(path, "\(error)")
        }
        let rest = Data(cutter.skeleton)
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        struct Probe: Decodable {
            var format: String?
            var version: Int?
        }
        guard let probe = try? decoder.decode(Probe.self, from: rest), probe.format == formatName else {
            throw Failure.unreadable(path, "it has no \"format\": \"cairn-plan\"")
        }
        guard let version = probe.version, readableVersions.contains(version) else { throw Failure.unsupported(path, probe.version ?? 0) }
        let source = ActionSource(marker: cutter.marker, cut: cutter.cut)
        decoder.userInfo[.actionSource] = source
        let plan: SavedPlan
        do {
            plan = try decoder.decode(SavedPlan.self, from: rest)
        } catch {
            throw Failure.unreadable(path, "\(error)")
        }
        guard source.taken == cutter.cut.count else { throw Failure.unreadable(path, "a plan's actions are not where a plan is") }
        return plan
    }

    struct CutFailure: Error {
        var why: String
    }

    /// The actions cut out of a document, handed to the plans decoded from the rest by marker.
    final class ActionSource: @unchecked Sendable {
        let marker: String
        let cut: [PlanActions]
        var taken = 0

        init(marker: String, cut: [PlanActions]) {
            self.marker = marker
            self.cut = cut
        }

        /// The actions a marker stands for; nil for any other text.
        func actions(for text: String) -> PlanActions? {
            guard text.hasPrefix(marker), let number = Int(text.dropFirst(marker.count)), cut.indices.contains(number) else { return nil }
            taken += 1
            return cut[number]
        }
    }

    /// Follows a JSON document byte by byte (strings, escapes, brackets, the keys of objects)
    /// and cuts out the arrays at `plans[].actions`: their elements are decoded in batches,
    /// the rest of the document is kept (`skeleton`) with a marker string in their place.
    /// A document laid out otherwise (an `actions` key spelt with escapes) keeps its arrays in
    /// the skeleton, and is decoded whole.
    struct ActionsCutter {
        /// About this many bytes of elements are decoded at once.
        static let batchBytes = 1 << 20
        /// Past this, what surrounds the actions is not a plan's (a plan has a few lines there).
        static let skeletonLimit = 64 << 20

        private enum Frame {
            case array
            /// An object, with the last key read in it and whether a key comes next.
            case object(key: [UInt8], keyNext: Bool)
        }

        let spillFolder: String?
        let marker = "cairn-actions-\(UInt64.random(in: 0...UInt64.max))-"
        private(set) var skeleton: [UInt8] = []
        private(set) var cut: [PlanActions] = []
        private var frames: [Frame] = []
        private var inString = false
        private var escaped = false
        /// The bytes of a key being read (up to a few: only short keys matter).
        private var key: [UInt8] = []
        private var readingKey = false
        /// While inside a plan's actions: the depth of its array, and the actions so far.
        private var cutting: (depth: Int, actions: PlanActions)?
        /// The elements of the batch being cut: `[` then elements and commas.
        private var batch: [UInt8] = []
        /// Whether anything but white space came since the array opened or its last comma, and
        /// whether a comma came at all (an empty element, or a comma before `]`, is no JSON).
        private var elementSinceComma = false
        private var afterComma = false
        private let decoder: JSONDecoder

        init(spillFolder: String?) {
            self.spillFolder = spillFolder
            decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
        }

        private static let plansKey = Array("plans".utf8), actionsKey = Array("actions".utf8)

        /// Whether an array opened now is a plan's actions: the value of `actions` in an
        /// element of the top object's `plans`.
        private var opensActions: Bool {
            guard frames.count == 3, case .object(let top, _) = frames[0], top == Self.plansKey, case .array = frames[1],
                case .object(let key, false) = frames[2], key == Self.actionsKey
            else { return false }
            return true
        }

        mutating func take(_ bytes: UnsafeBufferPointer<UInt8>) throws {
            // The run of bytes since `start` goes to the batch while cutting, else to the skeleton.
            var start = 0
            func keep(_ end: Int) {
                guard end > start else { return }
                if cutting != nil { batch.append(contentsOf: bytes[start..<end]) } else { skeleton.append(contentsOf: bytes[start..<end]) }
            }
            var index = 0
            while index < bytes.count {
                let byte = bytes[index]
                if inString {
                    if escaped {
                        escaped = false
                    } else if byte == UInt8(ascii: "\\") {
                        escaped = true
                        if readingKey { key.append(byte) }
                    } else if byte == UInt8(ascii: "\"") {
                        inString = false
                        if readingKey {
                            readingKey = false
                            if case .object = frames.last { frames[frames.count - 1] = .object(key: key, keyNext: false) }
                        }
                    } else if readingKey, key.count < 16 {
                        key.append(byte)
                    }
                    index += 1
                    continue
                }
                if cutting != nil, byte != UInt8(ascii: ","), byte != UInt8(ascii: "]"), byte > 0x20 || frames.count > cutting!.depth {
                    elementSinceComma = true
                }
                switch byte {
                case UInt8(ascii: "\""):
                    inString = true
                    if cutting == nil, case .object(_, true) = frames.last {
                        readingKey = true
                        key.removeAll(keepingCapacity: true)
                    }
                case UInt8(ascii: "{"):
                    frames.append(.object(key: [], keyNext: true))
                case UInt8(ascii: "["):
                    if cutting == nil, opensActions {
                        keep(index)
                        skeleton.append(contentsOf: Array("\"\(marker)\(cut.count)\"".utf8))
                        frames.append(.array)
                        cutting = (frames.count, PlanActions(spillFolder: spillFolder))
                        batch = [UInt8(ascii: "[")]
                        elementSinceComma = false
                        afterComma = false
                        start = index + 1
                    } else {
                        frames.append(.array)
                    }
                case UInt8(ascii: "]"), UInt8(ascii: "}"):
                    let closesArray = byte == UInt8(ascii: "]")
                    switch frames.last {
                    case .array? where closesArray, .object? where !closesArray: break
                    default: throw CutFailure(why: "a \(Character(UnicodeScalar(byte))) closes \(frames.isEmpty ? "nothing" : "what it did not open")")
                    }
                    if let depth = cutting?.depth, depth == frames.count {
                        // A comma with no element after it (the batch before it was decoded).
                        guard elementSinceComma || !afterComma else { throw CutFailure(why: "an action list ends with a comma") }
                        keep(index)
                        start = index + 1
                        try decodeBatch(last: true)
                        cut.append(cutting!.actions)
                        cutting = nil
                    }
                    frames.removeLast()
                case UInt8(ascii: ","):
                    if case .object(let key, _) = frames.last { frames[frames.count - 1] = .object(key: key, keyNext: true) }
                    if cutting?.depth == frames.count {
                        guard elementSinceComma else { throw CutFailure(why: "an action list has an empty element") }
                        elementSinceComma = false
                        afterComma = true
                        keep(index + 1)
                        start = index + 1
                        if batch.count >= Self.batchBytes { try decodeBatch(last: false) }
                    }
                default:
                    break
                }
                index += 1
            }
            keep(bytes.count)
            if skeleton.count > Self.skeletonLimit { throw CutFailure(why: "more than \(Self.skeletonLimit >> 20) MiB outside its actions") }
        }

        /// Decodes the batch: its elements end with a comma (replaced by `]`), or, for the last
        /// batch, with the last element.
        private mutating func decodeBatch(last: Bool) throws {
            if last { batch.append(UInt8(ascii: "]")) } else { batch[batch.count - 1] = UInt8(ascii: "]") }
            let actions = try decoder.decode([BackupPlan.Action].self, from: Data(batch))
            for action in actions { cutting!.actions.append(action) }
            batch.removeAll(keepingCapacity: true)
            batch.append(UInt8(ascii: "["))
        }

        func finish() throws {
            guard frames.isEmpty, !inString else { throw CutFailure(why: "it ends before its last bracket") }
        }
    }
}

extension CodingUserInfoKey {
    /// A `SavedPlan.ActionSource`: actions cut out of a document, a marker in their place.
    static let actionSource = CodingUserInfoKey(rawValue: "cairn.action-source")!
}
