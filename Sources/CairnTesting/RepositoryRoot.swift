import Foundation

/// Paths inside this source tree, for tests that read examples and fixtures.
public enum SourceTree {
    /// The package's root folder.
    public static let root: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    public static func path(_ relative: String) -> String {
        (root as NSString).appendingPathComponent(relative)
    }

    /// Files under `folder` (relative to the root) whose names end in `suffix`, sorted, recursively.
    public static func files(under folder: String, endingWith suffix: String) -> [String] {
        let base = path(folder)
        let names = (FileManager.default.enumerator(atPath: base)?.allObjects as? [String]) ?? []
        return names.filter { $0.hasSuffix(suffix) }.sorted().map { (base as NSString).appendingPathComponent($0) }
    }
}
