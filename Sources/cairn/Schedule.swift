import ArgumentParser
import CairnCore
import Foundation

extension Cairn {
    struct ScheduleCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "schedule",
            abstract: "Show when backup sets run on their schedules.",
            discussion: """
                cairn has no daemon: cron (or a systemd timer) calls 'cairn run-due' every few \
                minutes, and the config's schedules decide what runs. 'cairn schedule [SET...]' \
                shows each set's schedules and its next firings in the config's time zone \
                ('timezone:', else the machine's). A wall-clock time that falls in a \
                spring-forward gap fires at the first instant after the gap; one that occurs \
                twice fires once, at its first occurrence. 'cairn schedule install' has cron \
                (or a systemd timer) call run-due, 'cairn schedule remove' takes that away, \
                and 'cairn schedule status' says whether it is what the config implies.

                Examples:
                  cairn schedule                        every set of this host
                  cairn schedule documents --count 10   one set, its next ten firings
                  cairn schedule install                have cron call run-due
                  cairn schedule status                 whether that is up to date

                \(ExitStatus.text)
                """,
            subcommands: [Show.self, Install.self, Remove.self, Status.self],
            defaultSubcommand: Show.self
        )
    }
}

extension Cairn.ScheduleCommand {
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Each set's schedules and its next firings.",
            discussion: """
                For each set, its schedules as the config describes them and its next \
                --count firings (5 by default) after now, or after --from, each with its \
                weekday; a set with a verify: schedule also shows that schedule, how much of \
                the packs each verify reads, and its next firings. A set without schedules \
                says it runs when started by hand. \
                Without SET, every set bound to this host (or to no host) is shown. Times are \
                in the config's zone with its offset (in UTC with --utc); with --json, each \
                set's next firings are RFC 3339 times in UTC, as every --json time is.

                Examples:
                  cairn schedule show                        every set of this host
                  cairn schedule show documents --count 10   its next ten firings
                  cairn schedule show --from 2027-03-28T00:00 --json
                                                             from that time, as JSON

                \(ExitStatus.text)
                """
        )

        @OptionGroup var options: ConfigOptions
        @OptionGroup var quietOption: QuietOption

        @Argument(help: "The backup sets (default: every set of this host).")
        var sets: [String] = []

        @Option(help: ArgumentHelp("How many firings to show per set.", valueName: "n"))
        var count = 5

        @Option(help: ArgumentHelp("Show the firings after this time instead of now (RFC 3339, or a local time such as 2027-03-28T03:30).", valueName: "time"))
        var from: String?

        @Flag(help: "Print the schedules and firings as JSON.")
        var json = false

        func validate() throws {
            guard count >= 1 && count <= 10_000 else { throw ValidationError("--count must be from 1 to 10000") }
        }

        func run() async throws {
            let config = try CommandSupport.loadConfig(options)
            let start: Date
            do {
                start = try from.map { try TimeArgument.parse($0, in: config.timeZone) } ?? CommandSupport.run.now
            } catch {
                throw ValidationError("--from: \(error)")
            }
            let names = sets.isEmpty ? config.backupSets(forHost: CommandSupport.run.hostName).map(\.name) : sets
            for name in names where config.backupSets[name] == nil {
                let known = config.backupSets.keys.sorted().joined(separator: ", ")
                CommandSupport.fail("there is no backup set '\(name)' (the config defines \(known.isEmpty ? "none" : known))")
            }
            let schedules = names.map { SetSchedule(config.backupSets[$0]!, in: config) }
            if json {
                print(Self.json(schedules, after: start, count: count, zone: config))
                return
            }
            if schedules.isEmpty { print("no backup set runs on this host (\(CommandSupport.run.hostName))") }
            let times = options.times(config)
            let weekday = DateFormatter()
            weekday.locale = Locale(identifier: "en_US_POSIX")
            weekday.timeZone = times.utc ? TimeZone(secondsFromGMT: 0)! : config.timeZone
            weekday.dateFormat = "EEE"
            let shown = { (date: Date) in "\(times(date))  \(weekday.string(from: date))" }
            for (number, schedule) in schedules.enumerated() {
                if number > 0 { print("") }
                let host = schedule.set.host.map { ", on host \($0.value)" } ?? ""
                if schedule.schedules.isEmpty {
                    print("backup set '\(schedule.set.name)'\(host): no schedules (it runs when started by hand)")
                } else {
                    print("backup set '\(schedule.set.name)'\(host), in \(config.timeZoneName):")
                    for item in schedule.schedules { print("  \(item.name): \(SetSchedule.describe(item))") }
                    let next = schedule.times.next(after: start, count: count)
                    if next.isEmpty { print("  fires no more") }
                    for date in next { print("  next: \(shown(date))") }
                }
                if let verify = schedule.set.verify, let named = config.schedules[verify.schedule.value] {
                    print("  verify \(named.name): \(SetSchedule.describe(named)); \(Self.reads(verify))")
                    for date in ScheduleTimes([named], timeZone: config.timeZone).next(after: start, count: count) {
                        print("  next verify: \(shown(date))")
                    }
                }
            }
        }

        /// What each scheduled verify reads, for people.
        static func reads(_ verify: VerifySchedule) -> String {
            guard let share = verify.readData, let slices = verify.slices else { return "checks the structure, reads no data" }
            return slices == 1 ? "reads all data each time" : "reads \(share) of the packs each time, all of them every \(slices) runs"
        }

        static func json(_ schedules: [SetSchedule], after start: Date, count: Int, zone config: Config) -> String {
            struct Row: Encodable {
                struct Item: Encodable {
                    var name: String
                    var type: String
                    var description: String
                    var maxDuration: String?

                    enum CodingKeys: String, CodingKey {
                        case name, type, description
                        case maxDuration = "max-duration"
                    }
                }
                var set: String
                var host: String?
                var timezone: String
                var schedules: [Item]
                var next: [Date]
                var verify: Verify?
            }
            struct Verify: Encodable {
                var schedule: String
                var description: String
                var readData: String?
                var next: [Date]

                enum CodingKeys: String, CodingKey {
                    case schedule, description, next
                    case readData = "read-data"
                }
            }
            let rows = schedules.map { schedule in
                Row(
                    set: schedule.set.name, host: schedule.set.host?.value, timezone: config.timeZoneName,
                    schedules: schedule.schedules.map {
                        Row.Item(name: $0.name, type: $0.kind.typeName, description: SetSchedule.describe($0), maxDuration: $0.maxDuration?.description)
                    },
                    next: schedule.times.next(after: start, count: count),
                    verify: schedule.set.verify.flatMap { verify in
                        config.schedules[verify.schedule.value].map { named in
                            Verify(
                                schedule: named.name, description: SetSchedule.describe(named), readData: verify.readData?.description,
                                next: ScheduleTimes([named], timeZone: config.timeZone).next(after: start, count: count))
                        }
                    })
            }
            return (try? JSONOutput.text(rows)) ?? "[]"
        }
    }
}
