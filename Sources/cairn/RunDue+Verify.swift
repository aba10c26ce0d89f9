import CairnCore
import Foundation

extension Cairn.RunDue {
    /// Runs the set's scheduled verify (`verify: {schedule:, read-data:}`) when its schedule
    /// fired since the last one: the structure, and the next slice of the packs, so that a
    /// cycle of runs reads them all. Damage found is a failure (notified, in the status file);
    /// a verify that could not run is tried again an hour later, until the next firing.
    func verifyIfDue(_ schedule: SetSchedule, context: SetContext, store: ScheduleStateStore) async throws -> JobOutcome? {
        guard let verify = schedule.set.verify, let named = context.config.schedules[verify.schedule.value] else { return nil }
        let run = context.run
        let name = schedule.set.name
        let times = ScheduleTimes([named], timeZone: context.config.timeZone)
        let zone = times.timeZone
        func decide(_ state: ScheduleState) -> (firing: Date, reason: String)? {
            guard let firing = times.last(atOrBefore: run.now) else { return nil }
            if firing > max(state.lastVerifyFiring ?? state.firstSeen, state.firstSeen) {
                return (firing, "its verify schedule fired at \(TimeText(zone: zone)(firing))")
            }
            if let last = state.lastVerify, last.outcome == "failed", last.firing == firing, last.failure != nil,
                run.now.timeIntervalSince(last.end) >= DueCheck.offlineRetry
            {
                return (firing, "its verify for the firing at \(TimeText(zone: zone)(firing)) could not run: trying again")
            }
            return nil
        }
        func slice(_ state: ScheduleState) -> Verifier.Slice? {
            guard let count = verify.slices else { return nil }
            let next = state.verifySlices == count ? (state.verifySlice ?? 0) % count : 0
            return Verifier.Slice(next, of: count)
        }
        if dryRun {
            guard let state = try store.read(context), let (_, reason) = decide(state) else { return nil }
            print("\(name): would verify: \(reason)\(slice(state).map { "; reading slice \($0) of the packs" } ?? "")")
            return nil
        }
        guard let claim = try store.claim(context) else { return nil }
        defer { withExtendedLifetime(claim) {} }
        guard var state = try store.read(context) else {
            // First seen now: earlier firings are not owed.
            try store.write(ScheduleState(set: name, repository: context.repositoryPath, firstSeen: run.now), for: context)
            return nil
        }
        guard let (firing, reason) = decide(state) else { return nil }
        let part = slice(state)
        // A verify killed before it ended left `verifyRunning`: tried again three times at
        // most for its firing, then counted as served (and failed).
        let attempts = state.verifyRunning.flatMap { $0.firing == firing ? ($0.attempts ?? 1) + 1 : nil } ?? 1
        if attempts > Self.attemptsPerFiring {
            let failure = "its verifies for the firing at \(TimeText(zone: zone)(firing)) were killed \(Self.attemptsPerFiring) times before they ended: not tried again until the next firing"
            state.verifyRunning = nil
            state.lastVerifyFiring = max(firing, state.lastVerifyFiring ?? firing)
            state.lastVerify = ScheduleState.Run(firing: firing, start: run.now, end: run.now, outcome: "failed", reason: reason, failure: nil)
            try store.write(state, for: context)
            Terminal.standardError("cairn: error: backup set '\(name)': \(failure)")
            let report = JobReport.failedToStart(set: name, command: "verify", host: run.hostName, at: run.now, failure: failure)
            JobRunning.warn(await Notifier(run: run, zone: zone).send(.finish(report, exitStatus: 1), to: schedule.set.notify))
            JobRunning.warn(SetStatus.recordVerify(report, slice: part, packsRead: nil, context: context))
            return JobOutcome(.failed)
        }
        state.verifyRunning = ScheduleState.Running(firing: firing, start: run.now, pid: getpid(), attempts: attempts)
        try store.write(state, for: context)
        print("\(name): verifying: \(reason)\(part.map { "; reading slice \($0) of the packs" } ?? "")")
        let start = run.now
        let (outcome, found) = await Cairn.Verify.check(
            context.config, set: name, command: "verify", readData: part == nil ? nil : 1, slice: part)
        let end = run.now
        // Damage found is the answer, not a reason to try again; a verify that could not run
        // (the disk away, the repository locked) is tried again, on the same slice.
        let couldNotRun = found == nil
        state.verifyRunning = nil
        state.lastVerifyFiring = max(firing, state.lastVerifyFiring ?? firing)
        state.lastVerify = ScheduleState.Run(
            firing: firing, start: start, end: end, outcome: outcome.status == .failed ? "failed" : "success", reason: reason,
            failure: couldNotRun ? (outcome.failure ?? "the verify could not run") : nil)
        if let part, !couldNotRun {
            state.verifySlice = (part.index + 1) % part.count
            state.verifySlices = part.count
        }
        if let failure = outcome.failure { Terminal.standardError("cairn: error: \(failure)") }

        var report = JobReport.failedToStart(set: name, command: "verify", host: run.hostName, at: start, failure: outcome.failure ?? "")
        report.end = Timestamp(end)
        report.status = outcome.status == .failed ? "failed" : "complete"
        report.failure = outcome.status == .failed ? (outcome.failure ?? found.map { "\($0.damages.count) damaged or missing" }) : nil
        report.problems = (found?.damages ?? []).map { damage in
            JobReport.ProblemRecord(path: damage.affected.first.map { "\($0.path)" } ?? "", message: damage.message)
        }
        // Recorded before it is sent: a channel that hangs cannot make the verify count as killed.
        try store.write(state, for: context)
        JobRunning.warn(SetStatus.recordVerify(report, slice: part, packsRead: found?.packsRead, context: context))
        JobRunning.warn(MetricsFile.update(config: context.config, run: run))
        JobRunning.warn(await Notifier(run: run, zone: zone).send(.finish(report, exitStatus: CommandSupport.exitStatus(outcome)), to: schedule.set.notify))
        return outcome
    }
}
