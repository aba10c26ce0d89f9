/// The plan as text: `+ path (size)`, `~ path (size)`, `- path`, folded per directory when long.
extension BackupPlan {
    /// The lines of the plan. Unless `verbose`, long lists fold per directory with counts so
    /// the plan stays within about `budget` lines.
    public func lines(verbose: Bool = false, budget: Int = 40, colour: Bool = false, times: TimeText = .utc) throws -> [String] {
        var lines: [String] = []
        try writeLines(verbose: verbose, budget: budget, colour: colour, times: times) { lines.append($0) }
        return lines
    }

    /// The same lines, each handed to `emit` as it is made: a plan of a million files is never
    /// held as text (its actions are read from their spill file, twice when folded).
    public func writeLines(verbose: Bool = false, budget: Int = 40, colour: Bool = false, times: TimeText = .utc, _ output: (String) throws -> Void) throws {
        // Reasons keep times as the plan document does (RFC 3339 UTC); people read them in
        // the style of every other time.
        func emit(_ line: String) throws { try output(times.restyle(line)) }
        if createsRepository {
            var line = "+ set \(set): new repository at \(repository)"
            if !unusedRepositories.isEmpty {
                line += " (the destination also holds \(unusedRepositories.joined(separator: ", ")), which no set uses: a renamed set keeps its data with 'repository: \(unusedRepositories[0])')"
            }
            try emit(paint(line, "+", colour))
        }
        for change in setChanges { try emit(paint("~ \(change)", "~", colour)) }
        if verbose || actions.count <= budget {
            try actions.forEach { try emit(paint(Self.line(for: $0), Self.symbol($0.action), colour)) }
        } else {
            let (shown, decided) = try folded(budget: budget)
            for line in shown { try emit(paint(line, String(line.first ?? " "), colour)) }
            // In-file delta decisions are shown whatever is folded.
            let seen = Set(shown)
            for line in decided where !seen.contains(line) { try emit(paint(line, String(line.first ?? " "), colour)) }
        }
        for expiration in expirations {
            let line = "- snapshot \(expiration.snapshot.prefix(8)) of \(times(expiration.time)): \(expiration.reason)"
            try emit(paint(line, "-", colour))
        }
        if let localCopy { try emit(paint("~ \(localCopy)", "~", colour)) }
        for warning in warnings { try emit("warning: \(warning)") }
        if let refusal { try emit("error: the run stops here: \(refusal)") }
        try emit(summaryLine)
    }

    static func symbol(_ kind: ActionKind) -> String {
        switch kind {
        case .new: return "+"
        case .changed: return "~"
        case .removed: return "-"
        }
    }

    static func line(for action: Action) -> String {
        switch action.action {
        case .new:
            switch action.kind {
            case "file": return "+ \(action.path) (\(ByteCountText.format(action.size))\(decision(action)))"
            case "directory": return "+ \(action.path)/"
            case "symlink": return "+ \(action.path) -> \(action.target ?? "")"
            default: return "+ \(action.path) (\(action.kind))"
            }
        case .changed:
            switch action.change {
            case .content?, nil: return "~ \(action.path) (\(ByteCountText.format(action.size))\(decision(action)))"
            case .type?:
                let size = action.kind == "file" ? " (\(ByteCountText.format(action.size))\(decision(action)))" : ""
                return "~ \(action.path): \(action.reason)\(size)"
            case .target?, .metadata?, .new?: return "~ \(action.path): \(action.reason)"
            }
        case .removed: return action.reason == "deleted" ? "- \(action.path)" : "- \(action.path) (\(action.reason))"
        }
    }

    static func decision(_ action: Action) -> String {
        action.delta.map { "; \($0.summary)" } ?? ""
    }

    private func paint(_ line: String, _ symbol: String, _ colour: Bool) -> String {
        guard colour else { return line }
        switch symbol {
        case "+": return ANSI.wrap(line, ANSI.green)
        case "~": return ANSI.wrap(line, ANSI.yellow)
        case "-": return ANSI.wrap(line, ANSI.red)
        default: return line
        }
    }

    /// A folder with planned entries under it, for folding: what is under it counted, its
    /// subfolders with planned entries under them by name, and how many of its entries are
    /// planned with nothing under them (leaves: a line each when it is unfolded). A folder
    /// with more than `budget` of those is never unfolded: what is under it is not kept.
    final class Folder {
        var children: [[UInt8]: Folder] = [:]
        var leaves = 0
        /// Whether the folder itself is planned (its own line, when it is unfolded).
        var planned = false
        var new = 0, changed = 0, removed = 0
        var bytes: UInt64 = 0
        var wide = false
        var count: Int { new + changed + removed }
        /// Lines when unfolded: its own, its subfolders and its leaves.
        var width: Int { children.count + leaves + (planned ? 1 : 0) }

        /// Too many lines to unfold, ever: what is under it is no longer kept.
        func becomeWide() {
            wide = true
            children = [:]
        }

        func count(_ action: BackupPlan.Action) {
            switch action.action {
            case .new: new += 1
            case .changed: changed += 1
            case .removed: removed += 1
            }
            if action.action != .removed { bytes += action.size }
        }
    }

    /// The folders above each action (a path's components, without the last), built from the
    /// actions in their walk order: a folder's own action comes right before what is under it.
    struct FolderTree {
        let root = Folder()
        let budget: Int
        /// The last action's folder and the folders above it, reused while actions stay in it.
        private var lastParent: [UInt8] = [0]
        private var lastChain: [Folder] = []
        /// The last action, when it was counted as a leaf of its folder (it may turn out to be
        /// a folder with entries under it).
        private var lastLeaf: (folder: Folder, name: [UInt8], action: BackupPlan.Action)?

        init(budget: Int) { self.budget = budget }

        static let slash = UInt8(ascii: "/")

        /// The folders from `/` down to `parent`, as far as they are kept; made when
        /// `creating`.
        mutating func chain(to parent: ArraySlice<UInt8>, creating: Bool) -> [Folder] {
            if parent.elementsEqual(lastParent) { return lastChain }
            var chain = [root]
            var folder = root
            for name in parent.split(separator: Self.slash) {
                guard !folder.wide else { break }
                let key = Array(name)
                if let next = folder.children[key] {
                    folder = next
                    chain.append(next)
                    continue
                }
                guard creating else { break }
                let next = Folder()
                // The last action was this folder's own: its line, not a leaf.
                if let leaf = lastLeaf, leaf.folder === folder, leaf.name == key {
                    folder.leaves -= 1
                    next.planned = true
                    next.count(leaf.action)
                    lastLeaf = nil
                }
                folder.children[key] = next
                if folder.width > budget {
                    folder.becomeWide()
                    break
                }
                folder = next
                chain.append(next)
            }
            lastParent = Array(parent)
            lastChain = chain
            return chain
        }

        /// Where a path is: the folders above it as far as kept, and whether that is all of
        /// them (the last one holds it).
        mutating func place(of path: [UInt8], creating: Bool) -> (chain: [Folder], complete: Bool, name: [UInt8]) {
            let cut = path.lastIndex(of: Self.slash) ?? -1
            let parent = path[..<max(cut, 0)]
            let chain = chain(to: parent, creating: creating)
            let depth = parent.split(separator: Self.slash).count
            return (chain, chain.count - 1 == depth && !chain[chain.count - 1].wide, Array(path[(cut + 1)...]))
        }

        mutating func add(_ action: BackupPlan.Action) {
            let (chain, complete, name) = place(of: action.pathBytes, creating: true)
            // Counted in every folder above it.
            for folder in chain { folder.count(action) }
            lastLeaf = nil
            guard complete, let holder = chain.last else { return }
            if let itself = holder.children[name] {
                // A folder met before its own line (not in walk order): its line all the same.
                itself.planned = true
                itself.count(action)
                return
            }
            holder.leaves += 1
            lastLeaf = (holder, name, action)
            if holder.width > budget { holder.becomeWide() }
        }
    }

    /// Folds actions into directory groups, unfolding the smallest groups first while the
    /// result stays within `budget` lines; and the lines of in-file delta decisions. Reads the
    /// actions twice: once to count them by folder, once for the lines shown.
    func folded(budget: Int) throws -> (shown: [String], decided: [String]) {
        var tree = FolderTree(budget: budget)
        try actions.forEach { tree.add($0) }
        // Start at the deepest folder that holds everything.
        var top = tree.root
        var topPath = FilePath.root
        while !top.planned, top.leaves == 0, !top.wide, top.children.count == 1, let (name, child) = top.children.first {
            top = child
            topPath = topPath.appending(name)
        }
        enum FoldItem {
            case folder(FilePath, Folder)
            /// An unfolded folder's own line.
            case own(Folder)
            /// An unfolded folder's leaves, a line each.
            case leaves(Folder)

            var lines: Int {
                if case .leaves(let folder) = self { return folder.leaves }
                return 1
            }
        }
        // Unfold groups smallest first, a whole tier of equal size at a time (so folders alike
        // are shown alike), while the plan stays within the budget.
        var items: [FoldItem] = [.folder(topPath, top)]
        while true {
            let groups = items.compactMap { item -> Folder? in
                if case .folder(_, let folder) = item, folder.count > 1 { return folder }
                return nil
            }
            guard let smallest = groups.map(\.count).min() else { break }
            let tier = groups.filter { $0.count == smallest }
            let cost = tier.reduce(0) { $0 + ($1.wide ? budget + 1 : $1.width - 1) }
            guard items.reduce(0, { $0 + $1.lines }) + cost <= budget else { break }
            let unfold = Set(tier.map(ObjectIdentifier.init))
            var next: [FoldItem] = []
            for item in items {
                guard case .folder(let path, let folder) = item, unfold.contains(ObjectIdentifier(folder)) else {
                    next.append(item)
                    continue
                }
                if folder.planned { next.append(.own(folder)) }
                if folder.leaves > 0 { next.append(.leaves(folder)) }
                next += folder.children.map { .folder(path.appending($0.key), $0.value) }
            }
            items = next
        }
        // What the second reading fills in: the lines of single actions, by where they belong.
        var ownOf: Set<ObjectIdentifier> = []
        var leavesOf: Set<ObjectIdentifier> = []
        var single: [ObjectIdentifier: FilePath] = [:]
        var shown: [(path: FilePath, isGroup: Bool, line: String)] = []
        for item in items {
            switch item {
            case .own(let folder): ownOf.insert(ObjectIdentifier(folder))
            case .leaves(let folder): leavesOf.insert(ObjectIdentifier(folder))
            case .folder(let path, let folder) where folder.count == 1: single[ObjectIdentifier(folder)] = path
            case .folder(let path, let folder):
                let text = path.description + "/"
                let line =
                    folder.new == folder.count ? "+ \(text) (\(folder.new) new, \(ByteCountText.format(folder.bytes)))"
                    : folder.removed == folder.count ? "- \(text) (\(folder.removed) removed)"
                    : folder.changed == folder.count ? "~ \(text) (\(folder.changed) changed, \(ByteCountText.format(folder.bytes)))"
                    : "~ \(text) (\(folder.new) new, \(folder.changed) changed, \(folder.removed) removed; \(ByteCountText.format(folder.bytes)))"
                shown.append((path, true, line))
            }
        }
        var decided: [String] = []
        try actions.forEach { action in
            let path = action.pathBytes
            if action.delta != nil { decided.append(Self.line(for: action)) }
            let (chain, complete, name) = tree.place(of: path, creating: false)
            // A folder holding only this action: shown as it, where the folder is.
            if let group = chain.lazy.compactMap({ single[ObjectIdentifier($0)] }).first {
                shown.append((group, false, Self.line(for: action)))
                return
            }
            guard complete, let holder = chain.last else { return }
            if let itself = holder.children[name], itself.planned {
                if ownOf.contains(ObjectIdentifier(itself)) { shown.append((FilePath(path), false, Self.line(for: action))) }
            } else if leavesOf.contains(ObjectIdentifier(holder)) {
                // A leaf (or a folder whose line came apart from its contents: counted as one).
                shown.append((FilePath(path), false, Self.line(for: action)))
            }
        }
        // A folder's own line first, then what is under it.
        shown.sort { ($0.path, $0.isGroup ? 1 : 0) < ($1.path, $1.isGroup ? 1 : 0) }
        return (shown.map(\.line), decided)
    }
}
