import Foundation

/// Reads the answers of `cairn init`, typed at its questions or given as options: each is its
/// value, or the reason it is not one, so the wizard can say why and ask again.
public struct StarterAnswers: Sendable {
    public var currentDirectory: String
    public var environment: [String: String]

    public init(currentDirectory: String, environment: [String: String]) {
        self.currentDirectory = currentDirectory
        self.environment = environment
    }

    public init(_ run: RunEnvironment) {
        self.init(currentDirectory: run.currentDirectory, environment: run.variables)
    }

    public struct Invalid: Error, Equatable, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    /// `~`, `~/...` and `${VAR}` expanded, made absolute against the current folder and
    /// normalised, as the config reads paths.
    public func path(_ text: String) -> Result<String, Invalid> {
        guard !text.isEmpty else { return .failure(Invalid("give a path")) }
        let expanded: String
        do {
            expanded = try PathExpansion.expand(text, relativeTo: currentDirectory, environment: environment)
        } catch {
            return .failure(Invalid("\(text): \(error)"))
        }
        // The config would read what is left of "${" as a variable.
        guard !expanded.contains("${") else { return .failure(Invalid("\(text): a path with '${' cannot be written in the config")) }
        guard !expanded.contains(where: { $0.isNewline || $0 == "\0" }) else { return .failure(Invalid("\(text): a path with a line break cannot be written in the config")) }
        return .success(expanded)
    }

    /// A local folder or `s3://BUCKET/PREFIX`. A local folder that does not exist is
    /// `missing`: the caller refuses it, or offers to create it.
    public func destination(_ text: String) -> Result<(destination: StarterConfig.Destination, missing: Bool), Invalid> {
        if let colon = text.range(of: "://") {
            let scheme = text[..<colon.lowerBound].lowercased()
            guard scheme == "s3" else {
                return .failure(Invalid("\(text): a destination is a local folder or s3://BUCKET/PREFIX (\(scheme):// is not built yet)"))
            }
            switch S3Options.parse(text) {
            case .success: return .success((.s3(text), false))
            case .failure(let reason): return .failure(Invalid("\(text): \(reason)"))
            }
        }
        switch path(text) {
        case .failure(let reason): return .failure(reason)
        case .success(let folder):
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder) else { return .success((.folder(folder), true)) }
            guard isFolder.boolValue else { return .failure(Invalid("\(folder) is not a folder")) }
            return .success((.folder(folder), false))
        }
    }

    /// A file or folder to back up: it must exist, and be neither the destination, nor in it,
    /// nor one of `earlier` or in or around one of them.
    public func source(_ text: String, destination: StarterConfig.Destination?, earlier: [String]) -> Result<String, Invalid> {
        switch path(text) {
        case .failure(let reason): return .failure(reason)
        case .success(let source):
            var info = stat()
            guard lstat(source, &info) == 0 else { return .failure(Invalid("\(source) does not exist")) }
            if case .folder(let folder) = destination, Self.isUnder(source, folder) {
                let what = source == folder ? "is the destination" : "is in the destination \(folder)"
                return .failure(Invalid("\(source) \(what): a backup cannot store its own repository"))
            }
            if let outer = earlier.first(where: { Self.isUnder(source, $0) }) {
                return .failure(Invalid(outer == source ? "\(source) is a source already" : "\(source) is in \(outer), a source already"))
            }
            if let inner = earlier.first(where: { Self.isUnder($0, source) }) {
                return .failure(Invalid("\(source) holds \(inner), a source already: give \(source) instead of it"))
            }
            return .success(source)
        }
    }

    /// Whether `path` is `folder` or below it (both absolute and normalised).
    public static func isUnder(_ path: String, _ folder: String) -> Bool {
        path == folder || folder == "/" || path.hasPrefix(folder + "/")
    }

    public static func setName(_ text: String) -> Result<String, Invalid> {
        guard ConfigDecoder.isValidName(text) else {
            return .failure(Invalid("'\(text)' is not a name: use letters, digits, '.', '_' and '-', starting with a letter or digit (at most 64)"))
        }
        return .success(text)
    }

    /// The set's name when none is given: `home` for the home folder, else the first source's
    /// name when it makes a valid one (`Documents` gives `documents`).
    public func defaultSetName(for sources: [String]) -> String {
        guard let first = sources.first, first != environment["HOME"].map(PathExpansion.normalize) else { return StarterConfig.defaultSetName }
        let name = (first as NSString).lastPathComponent.lowercased()
        return ConfigDecoder.isValidName(name) ? name : StarterConfig.defaultSetName
    }

    static let scheduleWords = ["daily", "hourly", "none"]

    /// `daily` (at 01:00), `hourly`, `none`, or a time `HH:MM` (daily at it; also `daily 21:30`).
    public static func schedule(_ text: String) -> Result<SchedulePreset, Invalid> {
        let word = text.lowercased()
        switch word {
        case "daily": return .success(.daily(at: SchedulePreset.dailyTime))
        case "hourly": return .success(.hourly)
        case "none": return .success(.none)
        default: break
        }
        var time = Substring(word)
        if time.hasPrefix("daily ") { time = time.dropFirst(6).drop { $0 == " " } }
        if time.hasPrefix("at ") { time = time.dropFirst(3).drop { $0 == " " } }
        if let at = TimeOfDay(parsing: String(time)) { return .success(.daily(at: at)) }
        return .failure(
            Invalid(
                "'\(text)' is not a schedule: daily (at \(SchedulePreset.dailyTime)), hourly, a time HH:MM (daily at it) or none\(Suggestion.didYouMean(word, among: scheduleWords))"
            ))
    }

    static let retentionWords = ["standard", "tape-rotation", "30-days", "keep-all"]

    /// `standard`, `tape-rotation`, `N-days` (1 to 100000) or `keep-all`.
    public static func retention(_ text: String) -> Result<RetentionPreset, Invalid> {
        let word = text.lowercased()
        switch word {
        case "standard": return .success(.standard)
        case "tape-rotation": return .success(.tapeRotation)
        case "keep-all": return .success(.keepAll)
        default: break
        }
        for suffix in ["-days", " days", "-day", " day"] where word.hasSuffix(suffix) {
            let number = word.dropLast(suffix.count)
            if number.allSatisfy(\.isASCII), let count = Int(number), (1...100_000).contains(count) { return .success(.days(count)) }
        }
        return .failure(
            Invalid("'\(text)' is not a retention: standard, tape-rotation, N-days (1 to 100000, such as 30-days) or keep-all\(Suggestion.didYouMean(word, among: retentionWords))"))
    }

    public static func algorithm(_ text: String) -> Result<EncryptionProfile.Algorithm, Invalid> {
        if let algorithm = EncryptionProfile.Algorithm(rawValue: text.lowercased()) { return .success(algorithm) }
        let names = EncryptionProfile.Algorithm.allCases.map(\.rawValue)
        return .failure(Invalid("'\(text)' is not an encryption: \(names.joined(separator: ", "))\(Suggestion.didYouMean(text.lowercased(), among: names))"))
    }
}

/// Where `cairn init` writes when not told.
extension StarterAnswers {
    /// The first place cairn reads a config from that the user can write: the file or folder
    /// `CAIRN_CONFIG` names, else `./cairn.yaml` when the current folder is writable, else
    /// `cairn.yaml` in `$XDG_CONFIG_HOME/cairn/` (by default `~/.config/cairn/`).
    public func defaultOutput(loader: ConfigLoader) -> String {
        if let named = environment["CAIRN_CONFIG"], !named.isEmpty, case .success(let path) = path(named) {
            var isFolder: ObjCBool = false
            let folder = FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) && isFolder.boolValue
            return folder ? path + "/cairn.yaml" : path
        }
        if access(currentDirectory, W_OK) == 0 { return PathExpansion.normalize(currentDirectory + "/cairn.yaml") }
        let folders = loader.defaultPlaces.dropFirst().filter { $0.hasPrefix("/") }
        return (folders.first ?? currentDirectory) + "/cairn.yaml"
    }

    /// The key file beside the config: `cairn.key` in its folder.
    public static func defaultKeyFile(beside output: String) -> String {
        (output as NSString).deletingLastPathComponent + "/cairn.key"
    }

    /// The other `*.yaml` files of a folder cairn merges into one config (`CAIRN_CONFIG`'s
    /// folder, `~/.config/cairn/`, `/etc/cairn/`) that `output` would join.
    public func mergedNeighbours(of output: String, loader: ConfigLoader) -> [String] {
        let folder = (output as NSString).deletingLastPathComponent
        var merged = Array(loader.defaultPlaces.dropFirst())
        if let named = environment["CAIRN_CONFIG"], !named.isEmpty, case .success(let path) = path(named) { merged.append(path) }
        guard merged.map(PathExpansion.normalize).contains(folder) else { return [] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.filter { $0.hasSuffix(".yaml") && !$0.hasPrefix(".") && folder + "/" + $0 != output }.sorted().map { folder + "/" + $0 }
    }
}
