/// A config key that is accepted and checked, but whose feature this version of cairn does not
/// carry out yet. `validate` warns about each; a run that needs one fails with the same words,
/// so a setting is never silently ignored.
public struct UnbuiltFeature: Hashable, Sendable {
    public var key: String
    public var location: SourceLocation

    /// The unbuilt features a set uses, in the order of its keys.
    public static func used(by set: BackupSet) -> [UnbuiltFeature] {
        var features: [UnbuiltFeature] = []
        if let copy = set.localCopy {
            features.append(UnbuiltFeature(key: "local-copy", location: copy.location))
        }
        return features.sorted { $0.location < $1.location }
    }
}
