import Foundation
import Yams

/// Finds, reads, merges and checks a config.
///
/// Loading never throws for a bad config: it returns every problem found, with its place, and a
/// `Config` only when there are no errors. Time, environment and host are passed in, so the
/// checks that depend on them (a `once` schedule in the past, `${VAR}`, sources on this host)
/// are repeatable in tests.
public struct ConfigLoader: Sendable {
    public var environment: [String: String]
    public var now: Date
    public var hostName: String
    public var currentDirectory: String
    /// The zone of a config that names none.
    public var timeZone: TimeZone

    public init(environment: [String: String], now: Date, hostName: String, currentDirectory: String, timeZone: TimeZone) {
        self.environment = environment
        self.now = now
        self.hostName = hostName
        self.currentDirectory = currentDirectory
        self.timeZone = timeZone
    }

    /// A loader that sees what `run` sees.
    public init(_ run: RunEnvironment) {
        self.init(environment: run.variables, now: run.now, hostName: run.hostName, currentDirectory: run.currentDirectory, timeZone: run.timeZone)
    }

    public struct Result: Sendable {
        /// The merged config; nil when there were errors.
        public var config: Config?
        public var diagnostics: Diagnostics
        /// Each file's text by the name used in diagnostics, to show the offending line.
        public var sources: [String: String]
    }

    /// Where the config is: `-c PATH`, else `CAIRN_CONFIG`, else the first of `defaultPlaces`
    /// that holds one, else `cairn.yaml` (which then fails, naming every place looked at).
    public func configPath(explicit: String?) -> String {
        if let explicit { return explicit }
        if let fromEnvironment = environment["CAIRN_CONFIG"], !fromEnvironment.isEmpty { return fromEnvironment }
        return defaultPlaces.first(where: holdsConfig) ?? "cairn.yaml"
    }

    /// The places a config is looked for when neither `-c` nor `CAIRN_CONFIG` names one:
    /// `./cairn.yaml`, then the folders `$XDG_CONFIG_HOME/cairn/` (by default
    /// `~/.config/cairn/`) and `/etc/cairn/`, whose `*.yaml` files are merged.
    public var defaultPlaces: [String] {
        var places = ["cairn.yaml"]
        if let folder = environment["XDG_CONFIG_HOME"], folder.hasPrefix("/") {
            places.append(PathExpansion.normalize(folder) + "/cairn")
        } else if let home = environment["HOME"], home.hasPrefix("/") {
            places.append(PathExpansion.normalize(home) + "/.config/cairn")
        }
        places.append(environment["CAIRN_SYSTEM_CONFIG"].flatMap { $0.hasPrefix("/") ? $0 : nil } ?? "/etc/cairn")
        return places
    }

    /// Whether a config is named (`-c`, `CAIRN_CONFIG`) or found in one of `defaultPlaces`.
    public func findsConfig(explicit: String?) -> Bool {
        explicit != nil || environment["CAIRN_CONFIG"].map { !$0.isEmpty } == true || defaultPlaces.contains(where: holdsConfig)
    }

    /// A file, or a folder with at least one `*.yaml` file.
    private func holdsConfig(_ place: String) -> Bool {
        let absolute = place.hasPrefix("/") ? place : currentDirectory + "/" + place
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: absolute, isDirectory: &isDirectory) else { return false }
        guard isDirectory.boolValue else { return true }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: absolute)) ?? []
        return names.contains { $0.hasSuffix(".yaml") && !$0.hasPrefix(".") }
    }

    public func load(explicitPath: String?) -> Result {
        let path = configPath(explicit: explicitPath)
        if explicitPath == nil, environment["CAIRN_CONFIG"].map({ $0.isEmpty }) ?? true, !holdsConfig(path) {
            var diagnostics = Diagnostics()
            let places = defaultPlaces.enumerated().map { $0.offset == 0 ? "./\($0.element)" : "\($0.element)/*.yaml" }
            diagnostics.error(
                "no config found (looked for \(places.joined(separator: ", "))): pass -c PATH or set CAIRN_CONFIG",
                at: nil)
            return Result(config: nil, diagnostics: diagnostics, sources: [:])
        }
        return load(path: path)
    }

    /// Loads a file, or every `*.yaml` file of a directory merged in name order.
    public func load(path: String) -> Result {
        var diagnostics = Diagnostics()
        var sources: [String: String] = [:]
        let absolute = PathExpansion.normalize(path.hasPrefix("/") ? path : currentDirectory + "/" + path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: absolute, isDirectory: &isDirectory) else {
            diagnostics.error("no config at '\(path)': no such file or folder", at: nil)
            return Result(config: nil, diagnostics: diagnostics, sources: sources)
        }
        var files: [(shown: String, absolute: String)] = []
        if isDirectory.boolValue {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: absolute)) ?? []
            let shownDirectory = path.hasSuffix("/") ? String(path.dropLast()) : path
            files = names.filter { $0.hasSuffix(".yaml") && !$0.hasPrefix(".") }
                .sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
                .map { (shownDirectory + "/" + $0, absolute + "/" + $0) }
            if files.isEmpty {
                diagnostics.error("the config directory '\(path)' has no *.yaml files", at: nil)
            }
            for name in names where name.hasSuffix(".yml") {
                diagnostics.warning("'\(shownDirectory)/\(name)' is ignored: only files ending in .yaml are read", at: nil)
            }
        } else {
            files = [(path, absolute)]
        }

        var fragments: [ConfigFragment] = []
        for file in files {
            guard let data = FileManager.default.contents(atPath: file.absolute) else {
                diagnostics.error("cannot read '\(file.shown)': permission denied or not a regular file", at: nil)
                continue
            }
            guard let text = String(data: data, encoding: .utf8) else {
                diagnostics.error("'\(file.shown)' is not valid UTF-8 text", at: SourceLocation(file: file.shown, line: 1, column: 1))
                continue
            }
            sources[file.shown] = text
            let decoder = ConfigDecoder(
                file: file.shown, baseDirectory: (file.absolute as NSString).deletingLastPathComponent, environment: environment)
            if let root = YAMLReading.root(of: text, file: file.shown, diagnostics: &decoder.diagnostics) {
                fragments.append(decoder.fragment(root))
            }
            diagnostics.append(contentsOf: decoder.diagnostics)
        }

        var merger = ConfigMerger(fragments: fragments, diagnostics: diagnostics, defaultTimeZone: timeZone)
        let merged = merger.merge()
        var validator = ConfigValidator(config: merged, diagnostics: merger.diagnostics, loader: self)
        validator.validate()
        let config = validator.diagnostics.hasErrors || files.isEmpty ? nil : validator.config
        return Result(config: config, diagnostics: validator.diagnostics, sources: sources)
    }
}

extension Diagnostics {
    mutating func append(contentsOf other: Diagnostics) {
        for diagnostic in other.all {
            switch diagnostic.severity {
            case .error: error(diagnostic.message, at: diagnostic.location)
            case .warning: warning(diagnostic.message, at: diagnostic.location)
            }
        }
    }
}
