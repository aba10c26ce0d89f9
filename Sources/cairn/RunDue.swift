import ArgumentParser
import CairnCore
import Foundation

extension Cairn {
    struct RunDue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run-due",
            abstract: "Back up the sets whose schedule fired since their last scheduled run (what cron calls).",
            discussion: """
                cairn has no daemon: cron or a systemd timer calls 'cairn run-due' every few \
                minutes, and the config decides what runs. A set runs when it is bound to this \
                host (host:, default any) and its schedule fired since its last scheduled run; \
                firings missed while the machine was off make one run at the next call, not \
                one each. A set with offline-interval: also runs when its last successful \
                backup (by run-due or by hand) is older than that; if such a run fails it is \
                tried again an hour later at the soonest. When run-due first sees a set, \
                earlier firings are not owed.

                Sets run one after another, each as 'cairn backup' runs it (its lease, plan, \
                report and job log), with the schedule's max-duration. A second run-due \
                started meanwhile never runs a set twice: each set is claimed for the run. A \
                run killed half-way is owed again at the next call. With nothing due, \
                run-due prints nothing (cron mails what it prints). What it remembers is kept \
                under $XDG_STATE_HOME/cairn/schedule (by default ~/.local/state/cairn, \
                /var/lib/cairn for root), written crash-safely. After every backup job of a \
                set (by run-due or by hand), status/SET.json there says its last job, last \
                success and failure, and next firing, for monitoring.

                A set with verify: {schedule: NAME, read-data: 10%} is verified when that \
                schedule fires, each run reading the next slice of the packs (ten slices for \
                10%), so that a cycle reads them all; damage found is a failure, and a verify \
                that could not run is tried again an hour later.

                Each job's report goes to the set's notify: channels (as by hand). A channel \
                with stale-after: gets one reminder when the set has had no successful \
                backup for that long (never backed up: since run-due first saw it), once per \
                stale spell.

                Examples:
                  cairn run-due --dry-run     which sets would run or verify, and why
                  cairn run-due -q            what cron runs: no plans, only each set's
                                              reason, problems and final line
                  cairn run-due --dry-run --now 2027-03-28T03:30
                                              as if it were that time

                \(ExitStatus.withUnreadFiles)
                """
        )

        @OptionGroup var options: ConfigOptions

        @Flag(help: "Print which sets would run and why, and run nothing.")
        var dryRun = false

        @Option(help: ArgumentHelp("Evaluate as if it were this time (RFC 3339, or a local time such as 2027-03-28T03:30); runs record it too.", valueName: "time"))
        var now: String?

        @Flag(name: .shortAndLong, help: "Print no plans: only each set's reason, problems and final line.")
        var quiet = false

        func run() async throws {
            let config = try CommandSupport.loadConfig(options)
            if let now {
                do {
                    let start = try TimeArgument.parse(now, in: config.timeZone)
                    CommandSupport.run = CommandSupport.run.with(clock: OffsetClock(startingAt: start))
                } catch {
                    throw ValidationError("--now: \(error)")
                }
            }
            let run = CommandSupport.run
            let store = ScheduleStateStore(run: run)
            guard store.directory != nil else { CommandSupport.fail("there is no folder for run state: set HOME or XDG_STATE_HOME") }
            let log = JobLog(run: run)
            Interruption.shared.install()
            var outcomes: [JobOutcome] = []
            for set in config.backupSets(forHost: run.hostName) {
                if Interruption.shared.isRequested { break }
                let schedule = SetSchedule(set, in: config)
                let context: SetContext
                do {
                    context = try SetContext(config: config, setName: set.name, run: run)
                } catch {
                    Terminal.standardError("cairn: error: backup set '\(set.name)': \(error)")
                    outcomes.append(JobOutcome(.failed))
                    continue
                }
                do {
                    if let outcome = try await due(schedule, context: context, store: store, log: log) { outcomes.append(outcome) }
                    try await remindIfStale(schedule, context: context, store: store, log: log)
                    if let outcome = try await verifyIfDue(schedule, context: context, store: store) { outcomes.append(outcome) }
                } catch {
                    Terminal.standardError("cairn: error: backup set '\(set.name)': \(error)")
                    outcomes.append(JobOutcome(.failed))
                }
            }
            // Written at every call, so that its time says run-due is still being called.
            if !dryRun, let warning = MetricsFile.update(config: config, run: run) {
                Terminal.standardError("cairn: warning: \(warning)")
            }
            if dryRun {
                let elsewhere = config.backupSets.values.filter { $0.host != nil && $0.host?.value != run.hostName }.map(\.name).sorted()
                for name in elsewhere { print("\(name): runs on host \(config.backupSets[name]!.host!.value), not here (\(run.hostName))") }
            }
            let status = CommandSupport.exitStatus(JobOutcome.worst(outcomes))
            if status != 0 { throw ExitCode(status) }
        }

        /// A set's last successful backup, by run-due or by hand.
        static func lastSuccess(of name: String, state: ScheduleState?, log: JobLog) -> Date? {
            [state?.lastSuccess, log.lastFinishedBackup(of: name)].compactMap { $0 }.max()
        }

        /// Which notify entry a stale reminder went to, in the run state: its place in the
        /// list and a hash of the whole channel (two commands, or two webhooks to one host,
        /// are told apart; a webhook's URL is not written down).
        static func staleKey(_ entry: Notify, at index: Int) -> String {
            let channel: String
            switch entry.channel {
            case .command(let command): channel = "command \(command)"
            case .email(let email): channel = "email \(email.to) \(email.from ?? "") \(email.sendmail)"
            case .webhook(let hook):
                switch hook.url {
                case .literal(let url): channel = "webhook \(url)"
                case .secret(let reference): channel = "webhook \(reference.source)"
                }
            }
            let hash = Hashing.sha256(Array("\(channel) \(entry.staleAfter?.seconds ?? 0)".utf8)).prefix(6).map { String(format: "%02x", $0) }.joined()
            return "#\(index + 1) \(hash)"
        }

        /// Sends each notify channel with `stale-after` one reminder when the set has had no
        /// successful backup for that long (never backed up: since run-due first saw it). A
        /// reminder a channel did not take is tried again an hour later. A set another run-due
        /// holds is left to it.
        func remindIfStale(_ schedule: SetSchedule, context: SetContext, store: ScheduleStateStore, log: JobLog) async throws {
            let entries = schedule.set.notify.enumerated().filter { $0.element.staleAfter != nil }.map { (key: Self.staleKey($0.element, at: $0.offset), entry: $0.element) }
            guard !entries.isEmpty else { return }
            let run = context.run
            let name = schedule.set.name
            let zone = schedule.times.timeZone
            func overdue(_ state: ScheduleState) -> [(key: String, entry: Notify, since: Date)] {
                let since = Self.lastSuccess(of: name, state: state, log: log) ?? state.firstSeen
                return entries.filter { key, entry in
                    run.now.timeIntervalSince(since) >= TimeInterval(entry.staleAfter!.seconds)
                        && state.staleReminders?[key] != since
                        && (state.staleAttempts?[key]).map { run.now.timeIntervalSince($0) >= DueCheck.offlineRetry || $0 > run.now } ?? true
                }.map { ($0.key, $0.entry, since) }
            }
            if dryRun {
                guard let state = try store.read(context) else { return }
                for (_, entry, since) in overdue(state) {
                    print("\(name): would remind (\(entry.channelDescription)): no successful backup since \(TimeText(zone: zone)(since))")
                }
                return
            }
            guard let claim = try store.claim(context) else { return }
            defer { withExtendedLifetime(claim) {} }
            guard var state = try store.read(context) else {
                // First seen now: the stale spell is counted from here.
                try store.write(ScheduleState(set: name, repository: context.repositoryPath, firstSeen: run.now), for: context)
                return
            }
            let due = overdue(state)
            guard !due.isEmpty else { return }
            let lastSuccess = Self.lastSuccess(of: name, state: state, log: log).map { TimeArgument.rfc3339($0, in: zone) }
            let notifier = Notifier(run: run, zone: zone)
            for (key, entry, since) in due {
                let notification = Notification.stale(set: name, host: run.hostName, lastSuccess: lastSuccess, staleAfter: entry.staleAfter!)
                print("\(name): reminding (\(entry.channelDescription)): \(notification.summary)")
                let failed = await notifier.send(notification, to: [entry])
                JobRunning.warn(failed)
                if failed.isEmpty {
                    state.staleReminders = (state.staleReminders ?? [:]).merging([key: since]) { $1 }
                    state.staleAttempts?[key] = nil
                } else {
                    // Not told: tried again an hour later (the network may not be up yet).
                    state.staleAttempts = (state.staleAttempts ?? [:]).merging([key: run.now]) { $1 }
                }
            }
            try store.write(state, for: context)
        }

        /// Runs killed before they ended that a firing gets.
        static let attemptsPerFiring = 3

        /// Decides whether a set runs and runs it; nil when it did not run.
        func due(_ schedule: SetSchedule, context: SetContext, store: ScheduleStateStore, log: JobLog) async throws -> JobOutcome? {
            let run = context.run
            let name = schedule.set.name
            func history(_ state: ScheduleState?) -> DueCheck.History {
                let lastSuccess = Self.lastSuccess(of: name, state: state, log: log)
                let offlineFailure = state?.lastRun.flatMap { $0.firing == nil && $0.outcome == "failed" ? $0.end : nil }
                let failedFiring = state?.lastRun.flatMap { run in run.firing.flatMap { run.outcome == "failed" ? ($0, run.end) : nil } }
                return DueCheck.History(
                    servedThrough: state?.servedThrough ?? run.now, lastSuccess: lastSuccess, lastOfflineFailure: offlineFailure, failedFiring: failedFiring)
            }
            var state = try store.read(context)
            if var ahead = state,
                let when = [ahead.firstSeen, ahead.lastFiring, ahead.lastSuccess, ahead.lastFailure, ahead.lastVerifyFiring, ahead.lastVerify?.end]
                    .compactMap({ $0 }).max(), when > run.now
            {
                // A clock that ran fast (or a --now in the future) recorded times that have not
                // come: they count as now, so the schedule goes on from here.
                ahead.firstSeen = min(ahead.firstSeen, run.now)
                ahead.lastFiring = ahead.lastFiring.map { min($0, run.now) }
                ahead.lastSuccess = ahead.lastSuccess.map { min($0, run.now) }
                ahead.lastFailure = ahead.lastFailure.map { min($0, run.now) }
                ahead.lastVerifyFiring = ahead.lastVerifyFiring.map { min($0, run.now) }
                if let end = ahead.lastVerify?.end, end > run.now { ahead.lastVerify?.end = run.now }
                Terminal.standardError("cairn: warning: backup set '\(name)': its run state records \(TimeText(zone: schedule.times.timeZone)(when)), after now: counted as now")
                if !dryRun { try store.write(ahead, for: context) }
                state = ahead
            }
            let decision = DueCheck.decide(schedule, history: history(state), now: run.now)
            if dryRun {
                switch decision {
                case .due(_, let reason): print("\(name): would run: \(reason)")
                case .notDue(let next):
                    let when = next.map { "next firing \(TimeText(zone: schedule.times.timeZone)($0))" } ?? "no more firings"
                    print("\(name): not due (\(when))")
                case .unscheduled: print("\(name): no schedule and no offline-interval: backs up only when started by hand")
                }
                return nil
            }
            if case .unscheduled = decision { return nil }
            if state == nil {
                // First seen now: earlier firings are not owed.
                state = ScheduleState(set: name, repository: context.repositoryPath, firstSeen: run.now)
                try store.write(state!, for: context)
            }
            guard case .due = decision else { return nil }
            // Claimed, then decided again: another run-due may have run it meanwhile.
            guard let claim = try store.claim(context) else { return nil }
            defer { withExtendedLifetime(claim) {} }
            state = try store.read(context) ?? state
            guard case .due(let firing, let reason) = DueCheck.decide(schedule, history: history(state), now: run.now), var current = state else {
                return nil
            }
            let start = run.now
            // A run killed before it ended left `running`: its firing is tried again, three
            // times at most, then counted as served (and failed), so a set that kills cairn
            // (out of memory) does not restart it at every call.
            let attempts = current.running.flatMap { $0.firing == firing ? ($0.attempts ?? 1) + 1 : nil } ?? 1
            if attempts > Self.attemptsPerFiring, let firing {
                current.running = nil
                current.lastFiring = max(firing, current.lastFiring ?? firing)
                current.lastRun = ScheduleState.Run(
                    firing: firing, start: start, end: start, outcome: "failed", reason: reason,
                    failure: "its runs for this firing were killed \(Self.attemptsPerFiring) times before they ended")
                current.lastFailure = start
                try store.write(current, for: context)
                let failure = "its runs for the firing at \(TimeText(zone: schedule.times.timeZone)(firing)) were killed \(Self.attemptsPerFiring) times before they ended: not tried again until the next firing"
                Terminal.standardError("cairn: error: backup set '\(name)': \(failure)")
                // The killed runs told nobody: this is the channels' one chance to hear of it.
                await JobRunning.reportFailure(config: context.config, set: name, command: "run-due", failure: failure, context: context)
                return JobOutcome(.failed)
            }
            current.running = ScheduleState.Running(firing: firing, start: start, pid: getpid(), attempts: attempts)
            try store.write(current, for: context)
            print("\(name): running: \(reason)")
            var options = BackupJob.RunOptions(command: "run-due")
            options.colour = false
            options.times = TimeText(zone: context.config.timeZone)
            // The run's end is recorded before its report is sent: a channel that hangs until
            // cairn is killed cannot make the run count as killed (and run again).
            var recordFailure: (any Error)?
            let (outcome, _) = await JobRunning.runOne(config: context.config, set: name, quiet: quiet, options: options) { outcome, report in
                let end = run.now
                let status: String
                switch outcome.status {
                case .success: status = "success"
                case .changes: status = "changes"
                case .incomplete: status = "incomplete"
                // A run stopped at max-duration or by a signal is not tried again: it did its part.
                case .failed: status = report?.status == "partial" ? "partial" : "failed"
                }
                current.running = nil
                if let firing { current.lastFiring = max(firing, current.lastFiring ?? firing) }
                current.lastRun = ScheduleState.Run(
                    firing: firing, start: start, end: end, outcome: status, reason: reason, failure: outcome.failure ?? report?.failure)
                if outcome.status == .failed { current.lastFailure = end } else if report?.status != "partial" { current.lastSuccess = end }
                do { try store.write(current, for: context) } catch { recordFailure = error }
            }
            if let recordFailure { throw recordFailure }
            return outcome
        }
    }
}
