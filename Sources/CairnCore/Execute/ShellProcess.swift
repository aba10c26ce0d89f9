import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A `/bin/sh -c` command in its own process group, so a timeout stops it and everything it
/// started, with standard output and standard error going to one file.
struct ShellProcess: ProcessRunning {
    func run(_ command: String, directory: String, environment: [String: String], output: String, timeout: TimeInterval?) async throws -> ProcessExit {
        try await run(command, directory: directory, environment: environment, output: output, timeout: timeout, input: "/dev/null")
    }

    /// As `run`, with standard input read from the file `input`.
    func run(_ command: String, directory: String, environment: [String: String], output: String, timeout: TimeInterval?, input: String) async throws
        -> ProcessExit
    {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, input, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)

        // The shell changes to the directory itself, then runs the command line.
        let words: [String] = ["/bin/sh", "-c", "cd -- \"$1\" || exit 126; eval \"$2\"", "cairn", directory, command]
        let arguments: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
        let pairs: [String] = environment.map { "\($0.key)=\($0.value)" }
        let variables: [UnsafeMutablePointer<CChar>?] = pairs.map { strdup($0) } + [nil]
        defer {
            arguments.forEach { free($0) }
            variables.forEach { free($0) }
        }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, "/bin/sh", &actions, &attributes, arguments, variables)
        guard spawned == 0 else { throw FileMetadata.Failure(path: FilePath(directory), operation: "start a command", code: spawned) }

        // Timeouts are lengths of time: measured on the monotonic clock, not the time of day.
        let clock = ContinuousClock()
        let deadline = timeout.map { clock.now + .milliseconds(Int64($0 * 1000)) }
        var status: Int32 = 0
        var timedOut = false
        var terminatedAt: ContinuousClock.Instant?
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { break }
            if result < 0 && errno != EINTR { break }
            if let deadline, clock.now >= deadline, terminatedAt == nil {
                timedOut = true
                kill(-pid, SIGTERM)
                terminatedAt = clock.now
            }
            if let terminatedAt, terminatedAt.duration(to: clock.now) > .seconds(5) { kill(-pid, SIGKILL) }
            try? await Task.sleep(nanoseconds: 10_000_000)
        }
        if timedOut { kill(-pid, SIGKILL) }  // what the shell left behind
        let exited = status & 0x7F == 0
        return ProcessExit(status: exited ? (status >> 8) & 0xFF : 128 + (status & 0x7F), timedOut: timedOut)
    }
}
