import ArgumentParser
import CairnCore
import Foundation

extension Cairn {
    struct SeedLoad: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "seed-load",
            abstract: "Run a set's backup into archive volumes on a removable disk, to carry to the destination.",
            discussion: """
                For a first backup of hundreds of GB, move a disk instead of the bytes: the \
                set's backup (the same sealed packs, index, keys and snapshot the destination \
                would get) is written as pax tar volumes of at most --volume-size (4 GiB less a \
                byte by default, so FAT32 and exFAT disks work) under DIR, with a manifest \
                (cairn-seed.json) authenticated with the repository's key. Each seed-load \
                into DIR is a session whose volumes together are one archive: cat \
                DIR/SET-s01.tar.* | bsdtar -tf - lists it (a pack as its pieces of about a \
                megabyte, KEY.part000 and on, written as it is made). A second seed-load of the set into \
                the same DIR adds only what the first did not hold. When the set's \
                repository already exists and the destination is reachable, the seed \
                continues it (same keys); otherwise it starts it. Retention and the local \
                copy wait for the first backup after the import. The plan (--dry-run) shows \
                what goes in, about how many bytes and volumes, and the run refuses up front \
                when DIR's disk has too little free space. An interrupted seed-load (a full \
                disk, a kill) is run again: the unfinished session is written afresh.

                Then, where the destination is reachable: cairn seed-import DIR. Restore \
                straight from the disk with cairn restore SET --from DIR.

                Examples:
                  cairn seed-load documents --to /media/usb/seed --dry-run
                                                        what goes in, and whether it fits
                  cairn seed-load documents --to /media/usb/seed
                                                        write it, or add what is new
                  cairn seed-load documents --to /media/usb/seed --volume-size 700MB
                                                        volumes of at most 700 MB

                \(ExitStatus.withUnreadFiles)
                """
        )

        @OptionGroup var options: ConfigOptions

        @Argument(help: "The backup set.")
        var set: String

        @Option(help: ArgumentHelp("The folder on the removable disk (made if missing; its parent must exist).", valueName: "dir"))
        var to: String

        @Option(help: ArgumentHelp("The largest volume, such as 700MB or 4GiB (default 4 GiB less a byte).", valueName: "size"))
        var volumeSize: String?

        @Flag(help: "Print the plan, the bytes and volumes, and write nothing.")
        var dryRun = false

        @Flag(name: .shortAndLong, help: "Print nothing but errors and problems: no plan, no progress, no final line.")
        var quiet = false

        @Flag(help: "Start a new repository in the seed although the set has one that cannot be reached now (it can then be imported only into an empty destination).")
        var newRepository = false

        func validate() throws { _ = try size() }

        func size() throws -> Int {
            guard let volumeSize else { return 4 << 30 - 1 }
            guard let size = ByteSize(parsing: volumeSize), size.bytes >= 1 << 20, size.bytes <= 1 << 40 else {
                throw ValidationError("--volume-size takes a size from 1MiB to 1TiB, such as 700MB or 4GiB, found '\(volumeSize)'")
            }
            return Int(size.bytes)
        }

        func run() async throws {
            let config = try CommandSupport.loadConfig(options)
            let run = CommandSupport.run
            var context: SetContext
            do {
                context = try SetContext(config: config, setName: set, run: run)
            } catch {
                CommandSupport.fail("\(error)")
            }
            let folder = CommandSupport.absolute(to)
            let parent = (folder as NSString).deletingLastPathComponent
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory), isDirectory.boolValue else {
                CommandSupport.fail("the folder \(parent) does not exist (is the removable disk mounted?)")
            }
            if !dryRun { try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false) }
            let seed: SeedFolder
            do {
                seed = try SeedFolder(folder: folder, set: set, volumeSize: try size(), readOnly: dryRun)
            } catch {
                CommandSupport.fail("\(error)")
            }
            if let manifest = await seed.manifest, manifest.set != set {
                CommandSupport.fail("\(folder) holds a seed of backup set '\(manifest.set)', not '\(set)': use another folder")
            }
            // The seed continues the set's repository when it exists and can be reached, and
            // starts a new one when the set has none; a repository that cannot be reached now
            // is not taken for none.
            if await seed.manifest == nil {
                var existing: Repository?
                do {
                    existing = try await context.openRepository()
                } catch SetContext.Failure.destination(let why) {
                    if let known = context.knownRepository(), !newRepository {
                        CommandSupport.fail(
                            "backup set '\(set)' has a repository (\(known)) that cannot be reached now (\(why)); a seed continues it only when it can be read. Run where the destination is reachable, or start a new repository with --new-repository (it can then be imported only into an empty destination)")
                    }
                } catch {
                    CommandSupport.fail("backup set '\(set)': its repository cannot be opened: \(error)")
                }
                if let existing {
                    print("the seed continues the repository \(existing.descriptor.id.prefix(8)) at \(context.repositoryPath)")
                    if !dryRun {
                        do {
                            for key in [RepositoryDescriptor.fileName] + (try await existing.storage.list(prefix: "keys/", after: nil, limit: 10_000)).map(\.key) {
                                try await seed.put(key, try await existing.storage.get(key))
                            }
                        } catch {
                            CommandSupport.fail("the seed could not take the repository's keys: \(error)")
                        }
                    }
                } else {
                    print("the seed starts a new repository for backup set '\(set)'")
                }
            }
            context.seed = seed
            context.newRepository = true
            // What goes in, and whether it fits.
            let volumeSize = try size()
            let spaceFolder = FileManager.default.fileExists(atPath: folder) ? folder : parent
            // What goes in, whether it fits: said of the plan the run carries out (asked with
            // it before anything is stored), or of a plan alone with --dry-run.
            @Sendable func check(_ plan: BackupPlan) -> Bool {
                let estimate = (plan.summary.uploadEstimate ?? plan.summary.bytesToRead) + UInt64(plan.summary.newFiles + plan.summary.changedFiles + 64) * 1536 + (1 << 20)
                let volumes = max(1, Int((estimate + UInt64(volumeSize) - 1) / UInt64(volumeSize)))
                if !quiet || dryRun { print("seed-load into \(folder): about \(ByteCountText.format(estimate)) in \(volumes) volume\(volumes == 1 ? "" : "s") of at most \(ByteCountText.format(UInt64(volumeSize)))") }
                var space = statvfs()
                if statvfs(spaceFolder, &space) == 0 {
                    let free = UInt64(space.f_bavail) * UInt64(space.f_frsize)
                    if free < estimate {
                        Terminal.standardError(
                            "cairn: error: \(folder) has \(ByteCountText.format(free)) free, and the seed needs about \(ByteCountText.format(estimate)): use a larger disk or free some space")
                        return false
                    }
                }
                return true
            }
            if dryRun {
                do {
                    let plan = try await BackupJob.plan(context).plan
                    try plan.writeLines(times: self.options.times(config)) { print($0) }
                    if !check(plan) { throw ExitCode(ExitStatus.error) }
                } catch let exit as ExitCode {
                    throw exit
                } catch {
                    CommandSupport.fail("backup set '\(set)': \(error)")
                }
                return
            }

            var options = BackupJob.RunOptions(command: "seed-load")
            options.showPlan = !quiet
            options.colour = false
            options.times = self.options.times(config)
            options.confirm = { plan in plan.map(check) ?? true }
            if !quiet, isatty(2) == 1 {
                options.progress = { plan in
                    ProgressDisplay(
                        files: plan.summary.newFiles + plan.summary.changedFiles, bytes: plan.summary.bytesToRead, terminal: true,
                        clock: run.clock, columns: Int(run.variables["COLUMNS"] ?? "") ?? 100
                    ) { FileHandle.standardError.write(Data($0.utf8)) }
                }
            }
            Interruption.shared.install()
            let outcome = await BackupJob.run(context, options: options) { print($0) }
            CommandSupport.printProblems(outcome.problems)
            if !quiet { outcome.report.summaryLines().forEach { print($0) } }
            if outcome.cancelled { throw ExitCode(ExitStatus.error) }
            if let failure = outcome.failure, outcome.result == nil {
                CommandSupport.fail("seed-load of backup set '\(set)': \(failure); run it again to write the seed afresh")
            }
            do {
                // The job's own (opening it again would derive the key again: 64 MiB of scrypt).
                let repository: Repository
                if let opened = outcome.repository { repository = opened } else { repository = try await Repository.open(storage: seed, passphrase: try context.passphrase(), run: run) }
                try await seed.finish(
                    repository: repository.descriptor.id, encryption: repository.descriptor.encryption, snapshot: outcome.report.snapshot,
                    key: repository.keys.seedManifestKey, created: TimeArgument.rfc3339(run.now, in: config.timeZone))
            } catch {
                CommandSupport.fail("seed-load of backup set '\(set)': the seed could not be finished: \(error); run it again to write the session afresh")
            }
            let manifest = await seed.manifest
            let session = manifest?.sessions.last
            let bytes = session?.volumes.reduce(0) { $0 + $1.size } ?? 0
            let written = "\(session?.volumes.count ?? 0) volume\(session?.volumes.count == 1 ? "" : "s") (\(ByteCountText.format(UInt64(bytes)))) in \(folder)"
            if outcome.report.status == "partial" {
                // Not done: said even with -q.
                Terminal.standardError("seed-load: \(written), a partial snapshot: run seed-load again to complete the seed (it adds only what is missing)")
            } else if !quiet {
                print("seed-load: \(written); carry the disk to the destination and run 'cairn seed-import \(folder)' there")
            }
            if let failure = outcome.failure { Terminal.standardError("cairn: warning: \(failure)") }
            try CommandSupport.finish(outcome.jobOutcome.status == .failed ? JobOutcome(.failed) : outcome.jobOutcome)
        }
    }

    struct SeedImport: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "seed-import",
            abstract: "Load a seed-load folder into its set's repository at the destination.",
            discussion: """
                Run where the set's destination is reachable. Checks the manifest (with the \
                set's key), every volume (its size and SHA-256) and every object, then copies \
                into the set's repository what it lacks: the descriptor, keys, packs and \
                index first, snapshots last. Run again after an interruption, it finishes \
                without duplicates. A seed of another set or of another repository is \
                refused. The set is the one the seed was made for (its manifest names it), \
                which the config must define; the copy runs under the repository's \
                exclusive lock (a backup started meanwhile waits). --dry-run checks the \
                seed the same way and says how many files and bytes it would load. \
                Afterwards 'cairn backup SET' uploads only what changed since the seed.

                Examples:
                  cairn seed-import /media/usb/seed --dry-run  check it, load nothing
                  cairn seed-import /media/usb/seed            load what is missing

                \(ExitStatus.text)
                """
        )

        @OptionGroup var options: ConfigOptions

        @Argument(help: "The seed-load folder.")
        var folder: String

        @Flag(help: "Check the seed and say what would be loaded; load nothing.")
        var dryRun = false

        func run() async throws {
            let config = try CommandSupport.loadConfig(options)
            let run = CommandSupport.run
            let path = CommandSupport.absolute(folder)
            guard SeedFolder.isSeed(path) else { CommandSupport.fail("\(path) has no \(SeedManifest.fileName): it is not a seed-load folder") }
            let manifest: SeedManifest
            do {
                manifest = try SeedManifest.decode(FileManager.default.contents(atPath: path + "/" + SeedManifest.fileName) ?? Data(), at: path + "/" + SeedManifest.fileName)
            } catch {
                CommandSupport.fail("\(error)")
            }
            guard config.backupSets[manifest.set] != nil else {
                CommandSupport.fail("the seed at \(path) holds backup set '\(manifest.set)', which the config does not define")
            }
            let outcome = await CommandSupport.job(config, set: manifest.set, command: "seed-import") { runner in
                do {
                    let seed = try SeedFolder(folder: path, set: manifest.set, readOnly: true)
                    // The manifest first (a seed made with another key is told at once), then
                    // every volume's SHA-256, then every object.
                    let seeded = try await Repository.open(storage: seed, passphrase: try runner.context.passphrase(), run: run)
                    try await seed.authenticate(seeded, set: manifest.set)
                    print("checking \(manifest.sessions.reduce(0) { $0 + $1.volumes.count }) volumes of the seed at \(path)")
                    try await seed.checkVolumes()
                    let checking = CommandSupport.LateProgress(noun: "packs checked")
                    let report = try await Verifier(repository: seeded).run(readData: 1, progress: checking.make)
                    checking.clear()
                    guard report.damages.isEmpty else {
                        for damage in report.damages { print("damaged: \(damage.message)") }
                        throw SeedFailure("the seed at \(path) is damaged (\(report.damages.count) damaged or missing); nothing was loaded")
                    }
                    print("the seed holds \(report.snapshots) snapshot\(report.snapshots == 1 ? "" : "s") and \(report.packsRead) packs, all intact")
                    let destination = try runner.context.storage()
                    let existing = try await runner.context.openRepository()
                    if let existing, existing.descriptor.id != seeded.descriptor.id {
                        throw SeedFailure(
                            "the destination's repository \(existing.descriptor.id.prefix(8)) is not the seed's (\(seeded.descriptor.id.prefix(8))): the seed was made for another repository of set '\(manifest.set)'")
                    }
                    if dryRun {
                        let (missing, _) = try await LocalCopy.difference(from: seed, to: destination)
                        let bytes = UInt64(missing.reduce(0) { $0 + $1.size })
                        print("would load \(missing.count) file\(missing.count == 1 ? "" : "s") (\(ByteCountText.format(bytes))) into \(runner.context.repositoryPath)")
                        return .success
                    }
                    // An empty destination gets the key files and the descriptor first: the
                    // repository then exists, and the rest is copied under its exclusive lease
                    // (a backup started meanwhile waits; it never makes a repository of its own).
                    var head = LocalCopy.Result()
                    if existing == nil {
                        let keys = try await seed.list(prefix: "keys/", after: nil, limit: 100_000)
                        head = try await LocalCopy.copy(keys + [StorageItem(key: RepositoryDescriptor.fileName, size: 0)], from: seed, to: destination)
                    }
                    guard let target = try await runner.context.openRepository() else { throw SeedFailure("the repository could not be made at \(runner.context.repositoryPath)") }
                    var result = try await target.withLease(.exclusive, command: "cairn seed-import \(manifest.set)") {
                        let (missing, _) = try await LocalCopy.difference(from: seed, to: destination)
                        let progress =
                            isatty(2) == 1
                            ? CommandSupport.progress(items: missing.count, bytes: UInt64(missing.reduce(0) { $0 + $1.size }), noun: "files loaded", quiet: false)
                            : nil
                        defer { progress?.clear() }
                        return try await LocalCopy.copy(missing, from: seed, to: destination, progress: progress)
                    }
                    result.copied += head.copied
                    result.bytes += head.bytes
                    if let loaded = try await runner.context.openRepository() { runner.context.remember(loaded) }
                    print(
                        "loaded \(result.copied) file\(result.copied == 1 ? "" : "s") (\(ByteCountText.format(result.bytes))) into \(runner.context.repositoryPath); 'cairn backup \(manifest.set)' now uploads only what changed since the seed"
                    )
                    return .success
                } catch {
                    return runner.failed(error)
                }
            }
            try CommandSupport.finish(outcome)
        }
    }
}
