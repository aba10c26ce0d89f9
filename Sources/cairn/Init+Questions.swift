import ArgumentParser
import CairnCore
import Foundation

/// Questions on the terminal: each shows its default in brackets (Enter takes it) and is asked
/// again, with the reason, until the answer is valid.
struct InitQuestions {
    func ask<T>(_ question: String, default fallback: String? = nil, _ parse: (String) -> Result<T, StarterAnswers.Invalid>) throws -> T {
        while true {
            guard let text = try line(question, default: fallback) else {
                print("  an answer is needed")
                continue
            }
            switch parse(text) {
            case .success(let value): return value
            case .failure(let reason): print("  \(reason)")
            }
        }
    }

    /// The answer, the default for an empty one, nil for an empty one without a default.
    func line(_ question: String, default fallback: String?) throws -> String? {
        let answer = try prompt("\(question)\(fallback.map { " [\($0)]" } ?? "")")
        return answer.isEmpty ? fallback : answer
    }

    func confirm(_ question: String, default yes: Bool) throws -> Bool {
        while true {
            switch try prompt("\(question) [\(yes ? "Y/n" : "y/N")]").lowercased() {
            case "": return yes
            case "y", "yes": return true
            case "n", "no": return false
            default: print("  answer yes or no")
            }
        }
    }

    /// The line typed after `text`, without surrounding blanks; the end of the input stops
    /// init before it wrote anything.
    private func prompt(_ text: String) throws -> String {
        print("\(text): ", terminator: "")
        fflush(nil)
        guard let typed = readLine() else {
            print("")
            Terminal.standardError("cairn: error: the input ended before the last answer: nothing was written")
            throw ExitCode(ExitStatus.error)
        }
        return typed.trimmingCharacters(in: .whitespaces)
    }
}

/// The answers of `cairn init`: the options given, the questions asked for the others on a
/// terminal, the defaults without one.
struct InitWizard {
    let command: Cairn.Init
    let answers: StarterAnswers
    let files: InitFiles
    let asking: Bool
    let questions = InitQuestions()
    /// The local destination does not exist and the user asked init to create it.
    var createsDestination = false

    mutating func answer(schema: String) throws -> StarterConfig {
        if asking {
            print("cairn init writes a config and a key for your first backups. Enter takes the answer in [brackets].")
        }
        let destination = try destinationAnswer()
        let sources = try sourceAnswers(destination: destination)
        let setName = try setNameAnswer(destination: destination, sources: sources)
        let schedule = try pick(command.schedule, "When should cron back up? daily (at \(SchedulePreset.dailyTime)), hourly, a time HH:MM (daily at it), or none (you run 'cairn backup').", "Schedule", "daily", StarterAnswers.schedule)
        let retention = try pick(
            command.retention,
            """
            How long should older versions stay?
              standard       the files as they were on each of the last 7 days, the last 4 Saturdays and the 1st of the last 12 months
              tape-rotation  the user guide's: each of the last 7 days, 4 Saturdays, 3 months, 4 quarters and 7 years
              N-days         every snapshot of the last N days, such as 30-days
              keep-all       nothing is ever expired
            """, "Retention", "standard", StarterAnswers.retention)
        let algorithm = try pick(
            command.encryption, "How should backups be encrypted? aes-256-gcm, chacha20-poly1305, or none (contents and names in clear at the destination).",
            "Encryption", "aes-256-gcm", StarterAnswers.algorithm)
        let zone = CommandSupport.run.timeZone.identifier
        return StarterConfig(
            setName: setName, destination: destination, sources: sources, schedule: schedule, retention: retention, algorithm: algorithm,
            keyFile: algorithm == .none ? nil : files.keyFile, timeZone: TimeZone(identifier: zone) == nil ? nil : zone, schema: schema)
    }

    /// The option's value, or the answer to the question on a terminal, or the default.
    private func pick<T>(_ given: String?, _ explanation: String, _ question: String, _ fallback: String, _ parse: (String) -> Result<T, StarterAnswers.Invalid>) throws -> T {
        if let given { return try Cairn.Init.check(parse(given)) }
        if !asking { return try Cairn.Init.check(parse(fallback)) }
        print("\n\(explanation)")
        return try questions.ask(question, default: fallback, parse)
    }

    private mutating func destinationAnswer() throws -> StarterConfig.Destination {
        var given = command.destination
        if given == nil {
            print("\nWhere should backups go? A local folder (another disk, a mounted NAS) or s3://BUCKET/PREFIX.")
        }
        while true {
            let (destination, missing) = try given.map { try Cairn.Init.check(answers.destination($0)) } ?? questions.ask("Destination", answers.destination)
            given = nil
            guard missing else { return destination }
            guard case .folder(let folder) = destination else { return destination }
            print("  \(folder) does not exist (is its disk mounted?)")
            if try questions.confirm("Create \(folder)?", default: false) {
                createsDestination = true
                return destination
            }
        }
    }

    private func sourceAnswers(destination: StarterConfig.Destination) throws -> [String] {
        var sources: [String] = []
        for source in command.sources {
            sources.append(try Cairn.Init.check(answers.source(source, destination: destination, earlier: sources)))
        }
        guard sources.isEmpty else { return sources }
        print("\nWhat should be backed up? Files or folders, one per line; an empty answer ends the list.")
        let home = answers.environment["HOME"].flatMap { home in
            (try? answers.source(home, destination: destination, earlier: []).get()).map { _ in home }
        }
        sources.append(try questions.ask("Source", default: home) { answers.source($0, destination: destination, earlier: []) })
        while let text = try questions.line("Another source (Enter when done)", default: nil) {
            switch answers.source(text, destination: destination, earlier: sources) {
            case .success(let source): sources.append(source)
            case .failure(let reason): print("  \(reason)")
            }
        }
        return sources
    }

    private func setNameAnswer(destination: StarterConfig.Destination, sources: [String]) throws -> String {
        let option = asking ? "" : " (--set NAME)"
        let check = { (text: String) -> Result<String, StarterAnswers.Invalid> in
            StarterAnswers.setName(text).flatMap { name in
                InitFiles.repositoryProblem(destination, set: name).map { .failure(StarterAnswers.Invalid($0 + option)) } ?? .success(name)
            }
        }
        let fallback = answers.defaultSetName(for: sources)
        return try pick(command.setName, "The backup set's name, as commands name it ('cairn restore NAME').", "Name", fallback, check)
    }
}
