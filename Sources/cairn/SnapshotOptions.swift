import ArgumentParser
import CairnCore
import Foundation

/// `--at TIME` and `--snapshot ID`, shared by restore and ls.
struct SnapshotOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The newest snapshot that started at or before this time: a date, a date and time, or a time today, in the config's time zone unless it names one (Z, UTC, +01:00), to the end of its precision (2026-11-20 is the whole day, 14:05 the whole minute); any time cairn prints.",
            valueName: "time"))
    var at: String?

    @Option(help: ArgumentHelp("The snapshot with this id (or a unique prefix of it, at least 4 characters).", valueName: "id"))
    var snapshot: String?

    func validate() throws {
        if at != nil && snapshot != nil { throw ValidationError("give --at or --snapshot, not both") }
    }

    func choice(in config: Config) throws -> SnapshotChoice {
        if let snapshot { return .id(snapshot) }
        if let at { return .at(try SnapshotChoice.parseTime(at, in: config.timeZone, now: CommandSupport.run.now)) }
        return .latest
    }
}
