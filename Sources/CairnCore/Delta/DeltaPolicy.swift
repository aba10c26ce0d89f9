import Foundation

/// `cairn backup --delta-mode`: how changed large files are stored in one run, whatever the
/// set says.
public enum DeltaModeOverride: String, CaseIterable, Sendable, Codable {
    case full, incremental, differential
}

/// What a backup does with one new or changed file of a set with in-file delta, and why: the
/// plan shows it and the run carries it out. Whether a delta's new data stays under
/// `max-delta-ratio` is known only after reading the file: `fullIfOver` says a delta may still
/// become a full upload.
public struct DeltaDecision: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case full, delta
    }

    public var decision: Kind
    /// `delta on 2026-11-20 version`, `full: 101 deltas > max 100`, `full: forced on sunday`, ...
    public var reason: String
    /// A delta is uploaded in full instead when its new data is over this percentage of the file.
    public var fullIfOver: Double?
    /// What a delta is computed against (not part of a saved plan: a run decides again). Kept
    /// apart, so a plan's line for every file stays small.
    public var base: Base? {
        get { baseStorage?.base }
        set { baseStorage = newValue.map(BaseBox.init) }
    }
    private var baseStorage: BaseBox?

    public init(decision: Kind, reason: String, fullIfOver: Double? = nil, base: Base? = nil) {
        self.decision = decision
        self.reason = reason
        self.fullIfOver = fullIfOver
        baseStorage = base.map(BaseBox.init)
    }

    public static func == (left: DeltaDecision, right: DeltaDecision) -> Bool {
        left.decision == right.decision && left.reason == right.reason && left.fullIfOver == right.fullIfOver && left.base == right.base
    }

    private final class BaseBox: Sendable {
        let base: Base

        init(_ base: Base) {
            self.base = base
        }
    }

    public struct Base: Sendable, Equatable {
        public var mode: InFileDelta.Mode
        public var signature: ObjectID
        /// When the base version was stored.
        public var stored: Timestamp
        /// The last version's delta state, which the new version's follows from.
        public var previous: DeltaInfo
    }

    enum CodingKeys: String, CodingKey {
        case decision, reason, fullIfOver
    }

    /// The text after the size in a plan line.
    public var summary: String {
        if decision == .delta, let fullIfOver { return "\(reason), full if over \(Percentage(fullIfOver))" }
        return reason
    }
}

/// In-file delta decisions: a pure function of the settings, the file, its last version and the
/// time, shared by plan and backup.
public struct DeltaPolicy: Sendable {
    public let settings: InFileDelta
    public let override: DeltaModeOverride?
    public let now: Date
    public let timeZone: TimeZone

    public init(settings: InFileDelta, override: DeltaModeOverride?, now: Date, timeZone: TimeZone) {
        self.settings = settings
        self.override = override
        self.now = now
        self.timeZone = timeZone
    }

    /// The mode deltas are made in this run: the set's, or the override's.
    public var mode: InFileDelta.Mode {
        guard settings.mode != .off else { return .off }
        switch override {
        case .incremental: return .incremental
        case .differential: return .differential
        case .full, nil: return settings.mode
        }
    }

    /// Whether a file of this size is backed up with in-file delta (and so gets a signature).
    public func applies(toSize size: UInt64) -> Bool {
        settings.mode != .off && size >= settings.minSize.bytes
    }

    /// The block size of a new signature for a file of this size.
    public func blockSize(forFileSize size: UInt64) -> Int {
        switch settings.blockSize {
        case .auto: return BlockSignature.automaticBlockSize(forFileSize: size)
        case .fixed(let size): return Int(size.bytes)
        }
    }

    /// What to do with a new or changed file; nil when in-file delta does not apply to it.
    public func decide(size: UInt64, previous: TreeEntry?) -> DeltaDecision? {
        guard applies(toSize: size) else { return nil }
        func full(_ reason: String) -> DeltaDecision { DeltaDecision(decision: .full, reason: "full: \(reason)") }
        guard let previous, previous.kind == .file else { return full("new file") }
        guard let last = previous.delta else { return full("no signature of the last version") }
        if override == .full { return full("--delta-mode full") }
        if let day = forcedDay { return full("forced on \(day)") }
        let signature: ObjectID
        let stored: Timestamp
        switch mode {
        case .incremental:
            guard let own = last.signature else { return full("the last version, a differential delta, has no signature") }
            signature = own
            stored = last.stored
        case .differential, .off:
            signature = last.fullSignature
            stored = last.fullStored
        }
        if let maximum = settings.maxDeltas, last.deltas + 1 > maximum {
            return full("\(last.deltas + 1) deltas > max \(maximum)")
        }
        return DeltaDecision(
            decision: .delta, reason: "delta on \(day(of: stored)) version", fullIfOver: settings.maxDeltaRatio?.value,
            base: DeltaDecision.Base(mode: mode, signature: signature, stored: stored, previous: last))
    }

    /// The `full-on` day that is today, in words.
    var forcedDay: String? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let parts = calendar.dateComponents([.weekday, .day], from: now)
        for day in settings.fullOn {
            switch day {
            case .weekday(let weekday):
                // Calendar counts Sunday as 1.
                let number = (Weekday.allCases.firstIndex(of: weekday)! + 1) % 7 + 1
                if parts.weekday == number { return weekday.rawValue }
            case .dayOfMonth(let number):
                if parts.day == number { return "day \(number) of the month" }
            }
        }
        return nil
    }

    func day(of time: Timestamp) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = timeZone
        formatter.dateFormat = "yyyy-MM-dd"
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(time.seconds)))
    }
}
