import CairnTesting
import Foundation
import Testing

/// `cairn key add|remove|change` act on every repository of an encryption profile: the key
/// belongs to the profile, and every set of the profile opens its repository with it.
@Suite("Keys shared by the sets of an encryption profile")
struct SharedKeyTests {
    /// Sets `files` and `photos` with repositories of their own, `docs` sharing `files`'
    /// repository through another name of the destination folder, `music` never backed up, and
    /// `lone` of another profile. `photos` is on `photosDestination`.
    static func makeWorkspace(photosDestination: String = "./destination") throws -> Workspace {
        var workspace = try Workspace()
        try FileManager.default.createDirectory(atPath: workspace.source, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: workspace.source + "/x"))
        try FileManager.default.createSymbolicLink(atPath: workspace.directory.subpath("alias"), withDestinationPath: "destination")
        try workspace.directory.write("cairn.yaml", """
            version: 1
            accounts:
              local: {destination: ./destination}
              alias: {destination: ./alias}
              pictures: {destination: \(photosDestination)}
            encryption:
              default: {algorithm: aes-256-gcm, key: {env: CAIRN_KEY}}
              other: {algorithm: chacha20-poly1305, key: {env: OTHER_KEY}}
            backup-sets:
              files: {account: local, sources: [./source]}
              docs: {account: alias, repository: files, sources: [./source]}
              photos: {account: pictures, sources: [./source]}
              music: {account: local, sources: [./source]}
              lone: {account: local, sources: [./source], encryption: other}
            """)
        workspace.environment["OTHER_KEY"] = "the other profile's key"
        workspace.environment["NEW"] = "the new key"
        return workspace
    }

    /// Whether `key` opens the repository of `set`.
    static func opens(_ workspace: Workspace, _ set: String, with key: String) throws -> Bool {
        var trying = workspace
        trying.environment["CAIRN_KEY"] = key
        return try trying.run(["snapshots", set]).status == 0
    }

    static let old = "correct horse battery staple"

    @Test func changeReplacesTheKeyInEveryRepositoryOfTheProfile() throws {
        let workspace = try Self.makeWorkspace()
        let backup = try workspace.run(["backup", "-q", "files", "photos", "lone"])
        #expect(backup.status == 0, "\(backup.all)")

        let change = try workspace.run(["key", "change", "files", "--new-key-env", "NEW"])
        #expect(change.status == 0, "\(change.all)")
        #expect(change.standardOutput.contains("set 'files' uses encryption profile 'default'"))
        #expect(change.standardOutput.contains("skipped set 'music': never backed up"))
        let added = change.standardOutput.split(separator: "\n").filter { $0.hasPrefix("added key ") }
        #expect(added.count == 2, "once per repository, files and docs sharing one: \(change.standardOutput)")
        #expect(added.contains { $0.hasSuffix("(sets docs, files)") })
        #expect(added.contains { $0.contains("/photos (set photos)") })
        #expect(change.standardOutput.split(separator: "\n").filter { $0.hasPrefix("removed key ") }.count == 2)
        #expect(change.standardOutput.contains("Point the profile's key reference ({env: CAIRN_KEY}) to the new key"))

        for set in ["files", "docs", "photos"] {
            #expect(try Self.opens(workspace, set, with: "the new key"), "\(set) opens with the new key")
            #expect(try !Self.opens(workspace, set, with: Self.old), "\(set) no longer opens with the old key")
        }
        #expect(try workspace.run(["snapshots", "lone"]).status == 0, "another profile's repository is left alone")
        #expect(try Self.opens(workspace, "lone", with: "the new key"), "its key is OTHER_KEY, whatever CAIRN_KEY says")
        #expect(try !FileManager.default.fileExists(atPath: workspace.destination + "/music"), "nothing is created for a set never backed up")

        var changed = workspace
        changed.environment["CAIRN_KEY"] = "the new key"
        let list = try changed.run(["key", "list", "photos"])
        #expect(list.standardOutput.split(separator: "\n").count == 2, "only the new key: \(list.all)")
    }

    @Test func addAndRemoveActOnEveryRepositoryWithOneID() throws {
        var workspace = try Self.makeWorkspace()
        #expect(try workspace.run(["backup", "-q", "files", "photos"]).status == 0)
        workspace.environment["RECOVERY"] = "offline recovery key"
        let add = try workspace.run(["key", "add", "--profile", "default", "--new-key-env", "RECOVERY", "--label", "recovery"])
        #expect(add.status == 0, "\(add.all)")
        #expect(add.standardOutput.contains("encryption profile 'default': acting on the repository of every set of the profile"))
        #expect(add.standardOutput.contains("to 2 repositories of encryption profile 'default'"))
        for set in ["files", "photos"] {
            #expect(try Self.opens(workspace, set, with: "offline recovery key"))
        }
        let list = try workspace.run(["key", "list", "photos"])
        let line = try #require(list.standardOutput.split(separator: "\n").first { $0.contains("recovery") })
        let id = String(line.prefix(8))
        #expect(try workspace.run(["key", "list", "files"]).standardOutput.contains(id), "the same id in every repository")

        // The key in use cannot go: nothing is removed anywhere.
        let inUse = String(try #require(list.standardOutput.split(separator: "\n").first { $0.contains("(in use)") }).prefix(8))
        let refused = try workspace.run(["key", "remove", "photos", inUse])
        #expect(refused.status == 1)
        #expect(refused.standardError.contains("no key was removed"))
        #expect(refused.standardError.contains("is the one in use"))
        #expect(try workspace.run(["key", "list", "photos"]).standardOutput.contains(inUse))

        let remove = try workspace.run(["key", "remove", "--profile", "default", id])
        #expect(remove.status == 0, "\(remove.all)")
        #expect(remove.standardOutput.split(separator: "\n").filter { $0.hasPrefix("removed key \(id)") }.count == 2)
        for set in ["files", "photos"] {
            #expect(try !Self.opens(workspace, set, with: "offline recovery key"))
        }
        let again = try workspace.run(["key", "remove", "files", id])
        #expect(again.status == 1)
        #expect(again.standardError.contains("no repository of encryption profile 'default' has a key \(id)"))
        #expect(try workspace.run(["key", "add", "files", "--profile", "default", "--new-key-env", "RECOVERY"]).status == 64)
    }

    @Test func aRepositoryTheKeyDoesNotOpenStopsTheChangeBeforeAnythingIsWritten() throws {
        var workspace = try Self.makeWorkspace()
        #expect(try workspace.run(["backup", "-q", "files"]).status == 0)
        var elsewhere = workspace
        elsewhere.environment["CAIRN_KEY"] = "a key from before"
        #expect(try elsewhere.run(["backup", "-q", "photos"]).status == 0)

        let change = try workspace.run(["key", "change", "files", "--new-key-env", "NEW"])
        #expect(change.status == 1)
        #expect(change.standardError.contains("the current key of encryption profile 'default' must open every repository"))
        #expect(change.standardError.contains("nothing was written"))
        #expect(change.standardError.contains(workspace.destination + "/photos (set photos)"))
        #expect(!change.standardError.contains("/files ("), "only the repository it does not open is named")
        #expect(try workspace.run(["key", "list", "files"]).standardOutput.split(separator: "\n").count == 2, "no key was added")
        #expect(try Self.opens(workspace, "files", with: Self.old))
        workspace.environment["CAIRN_KEY"] = "a key from before"
        #expect(try workspace.run(["key", "list", "photos"]).standardOutput.split(separator: "\n").count == 2)
    }

    /// Killed between adding the new key everywhere and removing the old one, every repository
    /// opens with either key, and running the command again finishes it; killed after the old
    /// key went from one, every repository opens with the new key.
    @Test(arguments: ["keys-added:1", "old-key-removed:1"])
    func anInterruptedChangeLeavesEveryRepositoryOpenable(point: String) throws {
        let workspace = try Self.makeWorkspace()
        #expect(try workspace.run(["backup", "-q", "files", "photos"]).status == 0)
        var killed = workspace
        killed.environment["CAIRN_FAULT_INJECTION"] = point
        let crash = try killed.run(["key", "change", "files", "--new-key-env", "NEW"])
        #expect(crash.status != 0 && crash.status != 1, "the process was killed: \(crash.all)")

        for set in ["files", "docs", "photos"] {
            #expect(try Self.opens(workspace, set, with: "the new key"), "\(set) opens with the new key")
        }
        if point == "keys-added:1" {
            for set in ["files", "docs", "photos"] {
                #expect(try Self.opens(workspace, set, with: Self.old), "\(set) still opens with the old key")
            }
            let again = try workspace.run(["key", "change", "files", "--new-key-env", "NEW"])
            #expect(again.status == 0, "\(again.all)")
            for set in ["files", "photos"] {
                #expect(try Self.opens(workspace, set, with: "the new key"))
                #expect(try !Self.opens(workspace, set, with: Self.old))
            }
        } else {
            #expect(try Self.opens(workspace, "photos", with: Self.old), "the old key was removed only from the first repository")
            #expect(try !Self.opens(workspace, "files", with: Self.old))
        }
    }

    /// An add that fails in one repository (a destination mounted read-only) removes the old
    /// key nowhere: every repository still opens with it. Needs root to mount.
    @Test(.enabled(if: DestinationFailureTests.canMount)) func aFailedAddRemovesTheOldKeyNowhere() throws {
        let mounts = DestinationFailureTests()
        let workspace = try Self.makeWorkspace(photosDestination: "./removable")
        let removable = workspace.directory.subpath("removable")
        try FileManager.default.createDirectory(atPath: removable, withIntermediateDirectories: true)
        try #require(mounts.mountSmall(removable, size: "8m"), "a tmpfs of 8 MB could not be mounted")
        defer { mounts.unmount(removable) }
        #expect(try workspace.run(["backup", "-q", "files", "photos"]).status == 0)
        #expect(mounts.remountReadOnly(removable))

        let change = try workspace.run(["key", "change", "files", "--new-key-env", "NEW"])
        #expect(change.status == 1, "\(change.all)")
        #expect(change.standardError.contains("could not be added to every repository of encryption profile 'default'"))
        #expect(change.standardError.contains(removable + "/photos (set photos)"))
        #expect(change.standardError.contains("the old key was removed from none of them"))
        #expect(!change.standardOutput.contains("removed key"))
        #expect(try Self.opens(workspace, "photos", with: Self.old))
        #expect(try Self.opens(workspace, "files", with: Self.old))
        #expect(try Self.opens(workspace, "files", with: "the new key"), "the add that succeeded stays: either key opens it")
    }
}
