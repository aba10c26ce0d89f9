import Testing

@testable import CairnCore

@Suite("A config directory: files merged in name order")
struct ConfigMergeTests {
    let accounts = """
        version: 1
        timezone: UTC
        accounts:
          nas: {destination: /srv/backup}
        encryption:
          default: {algorithm: aes-256-gcm, key: {env: CAIRN_KEY}}
        """

    @Test func mergesDefinitionsAcrossFiles() throws {
        let result = try ConfigFixture().loadDirectory([
            "00-accounts.yaml": accounts,
            "10-sets.yaml": "version: 1\nbackup-sets:\n  docs: {account: nas, sources: [/srv/docs]}\n",
            "notes.txt": "not a config",
        ])
        #expect(result.errorMessages == [])
        let config = try #require(result.config)
        #expect(config.files == ["config/00-accounts.yaml", "config/10-sets.yaml"])
        #expect(config.backupSets["docs"]?.account.value == "nas")
        #expect(config.timeZoneName == "UTC")
        #expect(config.timeZone.secondsFromGMT() == 0)
    }

    @Test func aNameDefinedTwiceNamesBothPlaces() throws {
        let result = try ConfigFixture().loadDirectory([
            "a.yaml": accounts,
            "b.yaml": "version: 1\naccounts:\n  nas: {destination: /elsewhere}\n",
        ])
        #expect(result.located == ["3:3 account 'nas' is defined twice: here and at config/a.yaml:4:3"])
        #expect(result.diagnostics.errors.first?.location?.file == "config/b.yaml")
    }

    @Test func versionsMustAgreeAndTheTimeZoneAppearsOnce() throws {
        let result = try ConfigFixture().loadDirectory([
            "a.yaml": accounts,
            "b.yaml": "version: 2\ntimezone: Europe/Berlin\n",
        ])
        #expect(result.errorMessages.contains("this cairn reads config version 1, found version 2"))
        #expect(result.errorMessages.contains {
            $0.hasPrefix("version 2 disagrees with version 1 at config/a.yaml:1:10")
        })
        #expect(result.errorMessages.contains("timezone is already set at config/a.yaml:2:11; it may appear in one file only"))
    }

    @Test func referencesReachAcrossFilesAndTypesStaySeparate() throws {
        let result = try ConfigFixture().loadDirectory([
            "a.yaml": accounts,
            "b.yaml": """
                version: 1
                schedules:
                  nas: {type: daily, at: "01:00"}
                backup-sets:
                  docs: {account: nas, sources: [/srv], schedules: [nas], filters: [nas]}
                """,
        ])
        #expect(result.located == ["5:69 backup set 'docs' refers to filter 'nas', which is not defined"])
    }

    @Test func anEmptyDirectoryAndIgnoredFilesAreReported() throws {
        let fixture = try ConfigFixture()
        try fixture.directory.write("config/cairn.yml", accounts)
        let result = fixture.loader.load(path: "config")
        #expect(result.errorMessages == ["the config directory 'config' has no *.yaml files"])
        #expect(result.warningMessages == ["'config/cairn.yml' is ignored: only files ending in .yaml are read"])
    }

    @Test func twoSetsCannotShareARepository() throws {
        let result = try ConfigFixture().loadDirectory([
            "a.yaml": accounts,
            "b.yaml": "version: 1\nbackup-sets:\n  docs: {account: nas, sources: [/a]}\n",
            "c.yaml": "version: 1\nbackup-sets:\n  other: {account: nas, sources: [/b], repository: docs}\n",
        ])
        #expect(result.located == [
            "3:3 backup set 'other' would share the repository /srv/backup/docs with backup set 'docs' (config/b.yaml:3:3); give one a different 'repository:'"
        ])
    }
}
