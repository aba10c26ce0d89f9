import Testing

@testable import CairnCore

/// The user guide's filter rules and its five examples (section 5.7), on Linux paths.
@Suite("Sources, deselected paths and filters")
struct SelectionTests {
    func filter(
        _ name: String, top: String, applyTo: [Filter.Target] = [.files], match: Filter.Match, patterns: [String],
        mode: Filter.Mode, others: Filter.Others
    ) -> Filter {
        Filter(
            name: name, location: SourceLocation(file: "t", line: 1, column: 1), top: top, applyTo: applyTo, match: match,
            patterns: patterns, mode: mode, others: others)
    }

    func decide(_ selection: Selection, _ path: String, directory: Bool = false) -> Selection.Decision {
        selection.decide(FilePath(path), isDirectory: directory).0
    }

    @Test func example1OnlyOfficeDocuments() throws {
        let selection = try Selection(
            sources: [FilePath("/home/u/Documents")], excludes: [],
            filters: [filter("office", top: "/home/u/Documents", match: .endsWith, patterns: ["*.doc", "*.xls", "*.ppt"], mode: .include, others: .exclude)])
        #expect(decide(selection, "/home/u/Documents/report.doc") == .include)
        #expect(decide(selection, "/home/u/Documents/deep/budget.xls") == .include)
        #expect(decide(selection, "/home/u/Documents/photo.jpg") == .exclude)
        #expect(decide(selection, "/home/u/Documents/deep", directory: true) == .include, "folders are not subject to a files filter")
    }

    @Test func example2AllButBinaries() throws {
        let selection = try Selection(
            sources: [FilePath("/srv/applications")], excludes: [],
            filters: [filter("bin", top: "/srv/applications", match: .endsWith, patterns: ["*.exe", "*.dll", "*.tmp"], mode: .exclude, others: .include)])
        #expect(decide(selection, "/srv/applications/app.exe") == .exclude)
        #expect(decide(selection, "/srv/applications/lib/x.dll") == .exclude)
        #expect(decide(selection, "/srv/applications/readme.txt") == .include)
    }

    @Test func example3ImagesOutOfTheSelection() throws {
        let selection = try Selection(
            sources: [FilePath("/home")], excludes: [FilePath("/home/cache")],
            filters: [filter("images", top: "/", match: .endsWith, patterns: ["*.jpg", "*.gif"], mode: .exclude, others: .keep)])
        #expect(decide(selection, "/home/a.jpg") == .exclude)
        #expect(decide(selection, "/home/a.txt") == .include, "others keep: the selection decides")
        #expect(decide(selection, "/home/cache/a.txt") == .exclude, "deselected, and no filter includes it")
        #expect(decide(selection, "/etc/passwd") == .exclude, "not selected")
    }

    @Test func example4NoLogDirectories() throws {
        let selection = try Selection(
            sources: [FilePath("/srv/applications")], excludes: [],
            filters: [filter("logs", top: "/srv/applications", applyTo: [.directories], match: .regex, patterns: ["^log$"], mode: .exclude, others: .include)])
        #expect(decide(selection, "/srv/applications/app/log", directory: true) == .exclude)
        #expect(decide(selection, "/srv/applications/app/logs", directory: true) == .include, "the regex is anchored")
        #expect(decide(selection, "/srv/applications/app/x.log") == .include, "files are not subject to it")
    }

    @Test func example5BDocuments() throws {
        let selection = try Selection(
            sources: [FilePath("/home/u/Documents")], excludes: [],
            filters: [filter("b", top: "/home/u/Documents", match: .regex, patterns: [#"^B.*\.doc$"#], mode: .include, others: .exclude)])
        #expect(decide(selection, "/home/u/Documents/Budget.doc") == .include)
        #expect(decide(selection, "/home/u/Documents/budget.doc") == .exclude)
        #expect(decide(selection, "/home/u/Documents/Budget.docx") == .exclude)
    }

    @Test func filtersWinOverTheSelectionAndTheFirstDecidingFilterWins() throws {
        let selection = try Selection(
            sources: [FilePath("/home/u")], excludes: [FilePath("/home/u/tmp")],
            filters: [
                filter("keep-docs", top: "/home/u", match: .endsWith, patterns: ["*.doc"], mode: .include, others: .keep),
                filter("no-docs", top: "/home/u", match: .endsWith, patterns: ["*.doc"], mode: .exclude, others: .keep),
            ])
        #expect(decide(selection, "/home/u/tmp/a.doc") == .include, "an included *.doc under a deselected folder is backed up")
        #expect(decide(selection, "/home/u/tmp/a.txt") == .exclude)
        #expect(selection.mayIncludeBelow(FilePath("/home/u/tmp")), "so the walk enters the deselected folder")
        #expect(decide(selection, "/home/u/b.doc") == .include, "the first filter that decides wins")
    }

    @Test(arguments: [
        ("*.doc", "a.doc", true), ("*.doc", "a.docx", false), ("B*", "Budget", true), ("B*", "budget", false),
        ("*B*", "aBc", true), ("a*b*c", "aXbYc", true), ("a*b*c", "aXbY", false), ("*", "", true), ("", "", true), ("x", "", false),
    ])
    func wildcards(pattern: String, name: String, matches: Bool) {
        #expect(Wildcard.matches(Array(pattern.utf8), Array(name.utf8)) == matches)
    }

    /// A path's name is its last component, whatever slashes surround it (the name is found
    /// without splitting the path).
    @Test(arguments: [("/", ""), ("", ""), ("/a", "a"), ("/a/b", "b"), ("/a/b/", "b"), ("a", "a"), ("//x//", "x"), ("/a/\u{e9}t\u{e9}", "\u{e9}t\u{e9}")])
    func names(path: String, name: String) {
        #expect(FilePath(path).name == Array(name.utf8))
        #expect(FilePath(path).name == (FilePath(path).components.last ?? []))
    }
}

