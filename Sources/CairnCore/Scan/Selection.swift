import Foundation

/// Which entries a backup set holds: its sources, deselected paths and filters (user guide 5.7).
///
/// Filters are checked in the order the set lists them, and the first that decides an entry
/// wins; a filter's decision takes precedence over the source selection, so an included `*.doc`
/// under a deselected folder is backed up. Excluding a directory by a filter excludes
/// everything under it; including one by a filter includes what is under it unless a filter
/// says otherwise.
public struct Selection: Sendable {
    public enum Decision: Equatable, Sendable {
        case include
        case exclude
    }

    /// Why an entry is in or out: a filter's decision is final for what is under a directory.
    public enum Reason: Equatable, Sendable {
        case filter(String)
        case inherited
        case sources
    }

    struct CompiledFilter: @unchecked Sendable {
        var filter: Filter
        var top: FilePath
        var regexes: [NSRegularExpression]

        func matches(_ name: [UInt8]) -> Bool {
            switch filter.match {
            case .regex:
                let text = String(decoding: name, as: UTF8.self)
                let range = NSRange(text.startIndex..., in: text)
                return regexes.contains { $0.firstMatch(in: text, range: range) != nil }
            case .startsWith:
                return filter.patterns.contains { Wildcard.matches(Array($0.utf8) + [0x2A], name) }
            case .contains:
                return filter.patterns.contains { Wildcard.matches([0x2A] + Array($0.utf8) + [0x2A], name) }
            case .endsWith:
                return filter.patterns.contains { Wildcard.matches([0x2A] + Array($0.utf8), name) }
            }
        }

        func applies(toDirectory isDirectory: Bool) -> Bool {
            filter.applyTo.contains(isDirectory ? .directories : .files)
        }

        /// Whether the filter could include something: include mode, or others: include.
        var canInclude: Bool { filter.mode == .include || filter.others == .include }
    }

    public let sources: [FilePath]
    public let excludes: [FilePath]
    let filters: [CompiledFilter]

    public init(sources: [FilePath], excludes: [FilePath], filters: [Filter]) throws {
        self.sources = sources
        self.excludes = excludes
        self.filters = try filters.map { filter in
            CompiledFilter(
                filter: filter, top: FilePath(filter.top),
                regexes: filter.match == .regex ? try filter.patterns.map { try NSRegularExpression(pattern: $0) } : [])
        }
    }

    /// The decision for the entry at `path`; `inherited` is what a filter decided for the
    /// nearest directory above it, if any.
    public func decide(_ path: FilePath, isDirectory: Bool, inherited: Decision? = nil) -> (Decision, Reason) {
        lazy var name = path.name
        for compiled in filters where path.isInside(compiled.top) && path != compiled.top && compiled.applies(toDirectory: isDirectory) {
            if compiled.matches(name) {
                return (compiled.filter.mode == .include ? .include : .exclude, .filter(compiled.filter.name))
            }
            switch compiled.filter.others {
            case .include: return (.include, .filter(compiled.filter.name))
            case .exclude: return (.exclude, .filter(compiled.filter.name))
            case .keep: continue
            }
        }
        if let inherited { return (inherited, .inherited) }
        return (isSelected(path) ? .include : .exclude, .sources)
    }

    /// Whether `path` is under a source and under no deselected path.
    public func isSelected(_ path: FilePath) -> Bool {
        sources.contains { path.isInside($0) } && !excludes.contains { path.isInside($0) }
    }

    /// Whether a directory that is not itself included may hold entries a filter includes, so
    /// the walk must still enter it.
    public func mayIncludeBelow(_ directory: FilePath) -> Bool {
        filters.contains { $0.canInclude && ($0.top.isInside(directory) || directory.isInside($0.top)) }
    }
}

/// `*` matches any run of bytes (also none); everything else matches itself.
enum Wildcard {
    static func matches(_ pattern: [UInt8], _ name: [UInt8]) -> Bool {
        var p = 0, n = 0
        var star = -1, mark = 0
        while n < name.count {
            if p < pattern.count, pattern[p] == 0x2A {
                star = p
                mark = n
                p += 1
            } else if p < pattern.count, pattern[p] == name[n] {
                p += 1
                n += 1
            } else if star >= 0 {
                p = star + 1
                mark += 1
                n = mark
            } else {
                return false
            }
        }
        while p < pattern.count, pattern[p] == 0x2A { p += 1 }
        return p == pattern.count
    }
}
