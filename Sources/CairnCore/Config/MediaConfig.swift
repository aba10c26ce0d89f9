import Foundation

extension Config {
    /// A config of one set for reading a repository from media (`--from DIR`) when the config
    /// does not define the set, or there is no config: the repository is the folder itself,
    /// read with `algorithm` (what the repository's descriptor says) and `key`. Nothing in it
    /// is ever backed up.
    public static func media(
        set name: String, folder: String, algorithm: EncryptionProfile.Algorithm, key: SecretReference?, timeZone: TimeZone
    ) -> Config {
        let here = SourceLocation(file: "--from", line: 0, column: 0)
        let account = Account(name: "media", location: here, destination: .localFolder((folder as NSString).deletingLastPathComponent))
        let profile = EncryptionProfile(name: "media", location: here, algorithm: algorithm, key: key)
        let set = BackupSet(
            name: name, location: here, account: Located("media", at: here), repository: (folder as NSString).lastPathComponent, host: nil,
            sources: [], exclude: [], filters: [], schedules: [], retention: nil, encryption: Located("media", at: here),
            compression: .default, inFileDelta: .off, commands: Commands(), followSymlinks: false, permissions: true, localCopy: nil,
            notify: [])
        return Config(timeZone: timeZone, accounts: ["media": account], encryption: ["media": profile], backupSets: [name: set])
    }
}
