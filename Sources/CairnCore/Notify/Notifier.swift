import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Sends notifications through a set's `notify:` channels. A channel that fails is reported
/// back as a warning for the caller to print and log; it never fails the job.
public struct Notifier: Sendable {
    public var run: RunEnvironment
    /// The config's zone, for the times in e-mail reports.
    public var zone: TimeZone

    public init(run: RunEnvironment, zone: TimeZone) {
        self.run = run
        self.zone = zone
    }

    /// Whether an entry gets a notification: start pings go to healthchecks-style webhooks
    /// only; a finished job's report goes where `when` names its outcome (healthchecks-style
    /// webhooks get every backup's); stale reminders go to entries with `stale-after`.
    public static func wants(_ entry: Notify, _ notification: Notification) -> Bool {
        switch notification.event {
        case .start: return entry.pingsEveryJob
        case .finish:
            // Healthchecks pings are for backups: a verify's ping would mark the check up
            // while the backups fail.
            if entry.pingsEveryJob { return notification.report?.command != "verify" }
            return notification.outcome.map(entry.when.contains) ?? false
        case .stale: return entry.staleAfter != nil
        }
    }

    /// Sends to each entry that wants it, one after another; returns a warning for each that
    /// failed.
    public func send(_ notification: Notification, to entries: [Notify]) async -> [String] {
        var warnings: [String] = []
        for entry in entries where Self.wants(entry, notification) {
            do {
                try await deliver(notification, through: entry)
            } catch {
                warnings.append("backup set '\(notification.set)': notify (\(entry.channelDescription), \(entry.location)) failed: \(error)")
            }
        }
        return warnings
    }

    /// Why a channel failed, in words that never show a secret URL's path.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    func deliver(_ notification: Notification, through entry: Notify) async throws {
        let timeout = TimeInterval(entry.timeout.seconds)
        switch entry.channel {
        case .command(let command):
            var environment = run.variables
            environment["CAIRN_EVENT"] = notification.event.rawValue
            environment["CAIRN_SET"] = notification.set
            environment["CAIRN_HOST"] = notification.host
            environment["CAIRN_OUTCOME"] = notification.outcome?.rawValue ?? notification.event.rawValue
            try await runProcess(command, input: notification.json(), environment: environment, timeout: timeout, what: "the command")
        case .email(let email):
            let messageID = "\(notification.report?.job ?? UUID().uuidString.lowercased()).\(notification.event.rawValue)@cairn.\(Self.hostPart(run.hostName))"
            let message = EmailMessage(notification, email: email, zone: zone, date: run.now, messageID: messageID)
            var words = [email.sendmail, "-i"]
            if let from = email.from { words += ["-f", from] }
            words += ["--"] + email.to
            let command = words.map { CronInstallation.quoted($0, forCron: false) }.joined(separator: " ")
            try await runProcess(command, input: Data(message.text.utf8), environment: run.variables, timeout: timeout, what: email.sendmail)
        case .webhook(let hook):
            let base: String
            switch hook.url {
            case .literal(let url): base = url
            case .secret(let reference):
                do {
                    base = try reference.resolve(environment: run.variables)
                } catch {
                    throw Failure("its URL could not be read: \(error.localizedDescription)")
                }
                if let problem = ConfigDecoder.webhookURLProblem(base) { throw Failure("the URL from \(reference) \(problem)") }
            }
            var url = base
            if hook.style == .healthchecks {
                let suffix = notification.event == .start ? "start" : String(notification.exitStatus ?? 1)
                url = Self.appending(suffix, to: base)
            }
            let body = notification.event == .start ? Data() : notification.json()
            try await HTTPPost.send(url: url, body: body, timeout: timeout)
        }
    }

    /// `https://hc-ping.com/UUID` + `start` = `https://hc-ping.com/UUID/start` (a query stays at the end).
    static func appending(_ suffix: String, to url: String) -> String {
        guard var components = URLComponents(string: url) else { return url }
        var path = components.path
        while path.hasSuffix("/") { path.removeLast() }
        components.path = path + "/" + suffix
        return components.string ?? url
    }

    /// The host name as a Message-ID's right part: letters, digits, dots and hyphens.
    static func hostPart(_ host: String) -> String {
        let kept = String(host.unicodeScalars.filter { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "." || $0 == "-") }.map(Character.init))
        return kept.isEmpty ? "localhost" : kept
    }

    /// Runs `command` through /bin/sh with `input` on its standard input; a failure says what
    /// its output ended with.
    func runProcess(_ command: String, input: Data, environment: [String: String], timeout: TimeInterval, what: String) async throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("cairn-notify-\(UUID().uuidString)").path
        let inputPath = scratch + ".in"
        defer {
            try? FileManager.default.removeItem(atPath: scratch)
            try? FileManager.default.removeItem(atPath: inputPath)
        }
        guard FileManager.default.createFile(atPath: inputPath, contents: input, attributes: [.posixPermissions: 0o600]) else {
            throw Failure("cannot write its input to \(inputPath)")
        }
        let exit: ProcessExit
        do {
            exit = try await ShellProcess().run(
                command, directory: environment["HOME"] ?? "/", environment: environment, output: scratch, timeout: timeout, input: inputPath)
        } catch {
            throw Failure("\(what) could not be started: \(error)")
        }
        if exit.timedOut { throw Failure("\(what) did not finish within \(ConfigDuration(seconds: Int(timeout))) and was stopped") }
        guard exit.status == 0 else {
            let output = (try? String(contentsOfFile: scratch, encoding: .utf8)) ?? ""
            let last = output.split(separator: "\n").last.map { ": " + EmailMessage.printable(String($0.prefix(300))) } ?? ""
            throw Failure("\(what) exited with status \(exit.status)\(last)")
        }
    }
}

/// One HTTP POST with retries: connection failures, 408, 429 and 5xx answers are tried again
/// (three tries, a second and then three seconds apart) within the timeout.
enum HTTPPost {
    static func send(url text: String, body: Data, timeout: TimeInterval) async throws {
        guard let url = URL(string: text) else { throw Notifier.Failure("not a URL: \(Notify.maskedURL(text))") }
        let shown = Notify.maskedURL(text)
        let deadline = ContinuousClock.now + .seconds(timeout)
        var last = ""
        for attempt in 0..<3 {
            if attempt > 0 {
                let pause: Duration = attempt == 1 ? .seconds(1) : .seconds(3)
                guard ContinuousClock.now + pause < deadline else { break }
                try? await Task.sleep(for: pause)
            }
            let left = max(1, Double((deadline - ContinuousClock.now).components.seconds))
            var request = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: left)
            request.httpMethod = "POST"
            request.httpBody = body
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.setValue("cairn", forHTTPHeaderField: "User-Agent")
            do {
                let status = try await post(request, timeout: left)
                if (200..<300).contains(status) { return }
                last = "\(shown) answered HTTP \(status)"
                if !(status == 408 || status == 429 || status >= 500) { break }
            } catch {
                last = "\(shown) could not be reached: \((error as NSError).localizedDescription)"
            }
            if ContinuousClock.now >= deadline { break }
        }
        throw Notifier.Failure(last)
    }

    private static func post(_ request: URLRequest, timeout: TimeInterval) async throws -> Int {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.timeoutIntervalForResource = timeout
        let session = URLSession(configuration: configuration)
        defer { session.finishTasksAndInvalidate() }
        return try await withCheckedThrowingContinuation { continuation in
            session.dataTask(with: request) { _, response, error in
                if let error {
                    continuation.resume(throwing: error)
                } else {
                    continuation.resume(returning: (response as? HTTPURLResponse)?.statusCode ?? 0)
                }
            }.resume()
        }
    }
}
