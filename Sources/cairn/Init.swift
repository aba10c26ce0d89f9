import ArgumentParser
import CairnCore
import Foundation

extension Cairn {
    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a first config and a new key, from answers on a terminal or from options.",
            discussion: """
                The first-run wizard, for people who do not write YAML yet. On a terminal, \
                init asks where backups go, what to back up, the backup set's name, when to \
                back up, how long older versions stay and how to encrypt: each question shows \
                its default in brackets (Enter takes it) and is asked again, with the reason, \
                when the answer is not valid; options given are not asked. It then shows what \
                it will write and asks before writing. Without a terminal, or with --yes, it \
                asks nothing: --destination and at least one --source are required, and the \
                other options have defaults.

                It writes a commented config (cairn.yaml(5)) that cairn validate accepts, and \
                a key file holding a new random key (160 bits from OpenSSL's generator) with \
                mode 0600, which the config's encryption profile reads ({file: PATH}). Without \
                the key nothing can be restored: store a copy away from the computer, in a \
                password manager or on paper. The key is never printed unless --show-key asks. \
                A file that exists is never overwritten: when the config or the key file \
                exists already, init writes neither. Both are written under a temporary name \
                and linked into place, so a crash leaves the whole file or none; if the second \
                cannot be written, the first is removed.

                The config goes to the first place cairn reads one from that can be written: \
                the file (or folder) CAIRN_CONFIG names, else ./cairn.yaml, else \
                $XDG_CONFIG_HOME/cairn/cairn.yaml (~/.config/cairn/). The key file goes beside \
                it as cairn.key. A local destination must exist (on a terminal, init offers to \
                create it); when it lies under a source, the set leaves it out.

                Schedules: daily (at 01:00), hourly, a time HH:MM (daily at it), or none (you \
                run cairn backup; cairn schedule install has cron run the others). Retention: \
                standard (the files as they were on each of the last 7 days, the last 4 \
                Saturdays and the 1st of the last 12 months), tape-rotation (the user guide's: \
                7 days, 4 Saturdays, 3 months, 4 quarters, 7 years, overlap removed), N-days \
                (every snapshot of the last N days, such as 30-days) or keep-all (nothing \
                expires).

                Examples:
                  cairn init                      asks every question
                  cairn init --destination /media/backup --source ~/Documents
                                                  asks the other questions
                  cairn init --destination s3://bucket/laptop --source ~ --yes
                                                  asks nothing: defaults for the rest
                  cairn init --source /etc --destination /mnt/nas --schedule 21:30
                                                  backs up /etc daily at 21:30

                \(ExitStatus.text)
                """
        )

        @Option(help: ArgumentHelp("Where backups go: a local folder (another disk, a mounted NAS) or s3://BUCKET/PREFIX.", valueName: "dir"))
        var destination: String?

        @Option(name: .customLong("source"), help: ArgumentHelp("A file or folder to back up (repeat for more).", valueName: "path"))
        var sources: [String] = []

        @Option(name: .customLong("set"), help: ArgumentHelp("The backup set's name (default: home for the home folder, else the first source's name).", valueName: "name"))
        var setName: String?

        @Option(help: ArgumentHelp("When cron backs up: daily (at 01:00), hourly, HH:MM (daily at it) or none (default: daily).", valueName: "when"))
        var schedule: String?

        @Option(help: ArgumentHelp("How long older versions stay: standard, tape-rotation, N-days or keep-all (default: standard).", valueName: "preset"))
        var retention: String?

        @Option(help: ArgumentHelp("aes-256-gcm, chacha20-poly1305 or none, which writes no key file (default: aes-256-gcm).", valueName: "algorithm"))
        var encryption: String?

        @Option(name: [.customShort("c"), .long], help: ArgumentHelp("The config file to write (default: $CAIRN_CONFIG, else ./cairn.yaml, else ~/.config/cairn/cairn.yaml).", valueName: "file"))
        var output: String?

        @Option(help: ArgumentHelp("The key file to write (default: cairn.key beside the config).", valueName: "file"))
        var keyFile: String?

        @Flag(help: "Ask nothing: take the options given and the defaults (--destination and --source are then required).")
        var yes = false

        @Flag(help: "Print the new key after writing it, to copy it to a password manager.")
        var showKey = false

        /// Whether init asks its questions: on a terminal, without --yes.
        var asks: Bool { !yes && isatty(0) == 1 }

        func validate() throws {
            let answers = StarterAnswers(CommandSupport.run)
            var destinationValue: StarterConfig.Destination?
            if let destination {
                let (value, missing) = try Self.check(answers.destination(destination))
                if missing && !asks {
                    throw ValidationError("--destination \(destination): \(Self.missingFolder(value))")
                }
                destinationValue = value
            }
            var earlier: [String] = []
            for source in sources {
                earlier.append(try Self.check(answers.source(source, destination: destinationValue, earlier: earlier)))
            }
            if let setName { _ = try Self.check(StarterAnswers.setName(setName)) }
            _ = try InitFiles(output: output, keyFile: keyFile, answers: answers, loader: ConfigLoader(CommandSupport.run))
            if let schedule { _ = try Self.check(StarterAnswers.schedule(schedule)) }
            if let retention { _ = try Self.check(StarterAnswers.retention(retention)) }
            if let encryption, try Self.check(StarterAnswers.algorithm(encryption)) == .none, keyFile != nil {
                throw ValidationError("--key-file goes with an encryption other than none, which has no key")
            }
            guard !asks else { return }
            let missing = (destination == nil ? ["--destination DIR"] : []) + (sources.isEmpty ? ["--source PATH"] : [])
            if !missing.isEmpty {
                let why = yes ? "--yes asks nothing" : "there is no terminal to ask on (standard input is not one)"
                throw ValidationError("\(why): give \(missing.joined(separator: " and ")), as in 'cairn init --destination /media/backup --source ~/Documents'")
            }
        }

        static func check<T>(_ result: Result<T, StarterAnswers.Invalid>) throws -> T {
            switch result {
            case .success(let value): return value
            case .failure(let reason): throw ValidationError(reason.description)
            }
        }

        static func missingFolder(_ destination: StarterConfig.Destination) -> String {
            guard case .folder(let folder) = destination else { return "" }
            return "\(folder) does not exist (is its disk mounted?): create the folder first, or choose another"
        }

        func run() async throws {
            let run = CommandSupport.run
            let answers = StarterAnswers(run)
            let loader = ConfigLoader(run)
            let files = try InitFiles(output: output, keyFile: keyFile, answers: answers, loader: loader)
            try files.checkFree()
            var wizard = InitWizard(command: self, answers: answers, files: files, asking: asks)
            let starter = try wizard.answer(schema: InitFiles.schemaReference())
            if asks {
                print("")
                print(files.summary(starter, creating: wizard.createsDestination))
                guard try wizard.questions.confirm("Write \(starter.keyFile == nil ? "it" : "them")?", default: true) else {
                    Terminal.standardError("cairn: nothing was written")
                    throw ExitCode(ExitStatus.error)
                }
            }
            try files.write(starter, key: GeneratedKey.make(), creatingDestination: wizard.createsDestination, showKey: showKey)
        }
    }
}
