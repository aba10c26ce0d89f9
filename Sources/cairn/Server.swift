import ArgumentParser
import CairnCore
import CairnServer
import Foundation

extension Cairn {
    struct Server: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a cairn server: backup accounts with quotas, restore allow-lists and append-only mode.",
            discussion: """
                cairn server -c server.yaml serves the repositories of its accounts over \
                HTTPS (cairn-server.yaml(5)); clients name it as an account destination \
                https://HOST[:PORT]/ACCOUNT with user and password (cairn.yaml(5)). Every \
                request is authenticated; an account reaches only its own repositories. \
                Uploads are checked against their size and SHA-256 before they are stored, \
                written crash-safely, and refused before their body is stored when they \
                would pass the account's quota. Reads of stored data from an address outside \
                the account's restore-from are refused (backups from there still work); an \
                append-only account cannot delete or replace anything but its own locks. \
                SIGHUP reads the config again and takes its accounts without dropping \
                connections; SIGTERM and SIGINT stop the server once requests under way end. \
                The protocol is docs/SERVER-API.md.

                Examples:
                  cairn server -c /etc/cairn/server.yaml
                                            serve (run is the default)
                  cairn server validate -c server.yaml     check the config
                  cairn server hash-password               an account's password-hash
                  cairn server prune alice --key-env KEY   append-only expiry
                  cairn server replication status          the replica's lag

                \(ExitStatus.text)
                """,
            subcommands: [ServerRun.self, ServerValidate.self, HashPassword.self, ServerPrune.self, Replication.self],
            defaultSubcommand: ServerRun.self
        )
    }

    struct ServerConfigOption: ParsableArguments {
        @Option(name: [.short, .customLong("config")], help: ArgumentHelp("The server's config file.", valueName: "path"))
        var config: String = "/etc/cairn/server.yaml"
    }

    struct ServerRun: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "Serve the accounts of the server config until stopped.",
            discussion: """
                Checks the config (as cairn server validate), removes uploads a crash left \
                unfinished, counts what each account stores, and listens. Each request that \
                stores, deletes or is refused is logged on standard error with the client's \
                address; the first line says where the server listens (a port 0 in listen: \
                is any free port, named there).

                Examples:
                  cairn server run -c /etc/cairn/server.yaml
                                            serve the accounts of that config
                  systemctl reload cairn-server    SIGHUP: accounts, passwords, quotas

                \(ExitStatus.text)
                """
        )

        @OptionGroup var options: ServerConfigOption

        @Flag(help: "Log reads and listings too.")
        var verbose = false

        func run() async throws {
            let loader = ServerConfigLoader(CommandSupport.run)
            let result = loader.load(path: options.config)
            ServerValidate.report(result)
            guard let config = result.config else { throw ExitCode(ExitStatus.error) }
            let log = ServerLog(verbose: verbose)
            do {
                try await CairnServer.run(configPath: options.config, config: config, run: CommandSupport.run, log: log) {
                    loader.load(path: options.config)
                }
            } catch let error as CairnServer.Failure {
                Terminal.standardError("cairn: error: \(error.description)")
                throw ExitCode(ExitStatus.error)
            }
        }
    }

    struct ServerValidate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "validate",
            abstract: "Check the server config and report every problem in it.",
            discussion: """
                Parses and checks server.yaml as cairn validate checks a client's config: \
                unknown keys, listen addresses, the certificate and key files, the storage \
                folder, password hashes, quotas and restore-from ranges. Each problem is \
                printed as FILE:LINE:COL: severity: message, with the source line and a \
                caret. The JSON Schema is schemas/cairn-server.schema.json.

                Examples:
                  cairn server validate -c /etc/cairn/server.yaml
                                            every problem, with its line and column
                  cairn server validate -c server.yaml --json
                                            the problems as JSON, for an editor

                \(ExitStatus.text)
                """
        )

        @OptionGroup var options: ServerConfigOption

        @Flag(help: "Print the problems as JSON on standard output.")
        var json = false

        func run() async throws {
            let result = ServerConfigLoader(CommandSupport.run).load(path: options.config)
            if json {
                print(DiagnosticFormatter.json(result.diagnostics.sorted, files: Array(result.sources.keys).sorted()))
            } else {
                Self.report(result)
                if let config = result.config {
                    let accounts = config.accounts.count
                    let warnings = result.diagnostics.warnings.count
                    print(
                        "\(options.config): valid, \(accounts) account\(accounts == 1 ? "" : "s"), listening on \(config.listen) with \(config.tls == nil ? "plain HTTP (tls: off)" : "TLS")"
                            + (warnings > 0 ? ", \(warnings) warning\(warnings == 1 ? "" : "s")" : ""))
                }
            }
            if result.config == nil { throw ExitCode(ExitStatus.error) }
        }

        static func report(_ result: ServerConfigLoader.Result) {
            let formatter = DiagnosticFormatter(sources: result.sources, colour: ANSI.enabled(for: 2, environment: CommandSupport.run.variables))
            for problem in result.diagnostics.sorted { Terminal.standardError(formatter.text(problem)) }
            if result.config == nil {
                let errors = result.diagnostics.errors.count
                Terminal.standardError("cairn: the server config is invalid: \(errors) error\(errors == 1 ? "" : "s")")
            }
        }
    }

    struct HashPassword: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "hash-password",
            abstract: "Print a password-hash: for a server account.",
            discussion: """
                Reads a password on standard input (its first line), or asks for it twice on \
                the terminal with echo off, and prints its scrypt hash (OpenSSL's \
                EVP_PBE_scrypt, N = 2^15, r = 8, p = 1, a random salt) in the form \
                $scrypt$ln=15,r=8,p=1$SALT$HASH, for an account's password-hash: in \
                server.yaml. The password itself is never stored by the server.

                Examples:
                  cairn server hash-password       asks twice on the terminal
                  printf '%s\\n' "$PASSWORD" | cairn server hash-password
                                            the first line of standard input

                \(ExitStatus.text)
                """
        )

        func run() async throws {
            let password: String
            if isatty(0) == 1 {
                do {
                    let first = try TerminalPrompt.secret("password: ")
                    let second = try TerminalPrompt.secret("the same password again: ")
                    guard first == second else {
                        Terminal.standardError("cairn: error: the two passwords differ; nothing was printed")
                        throw ExitCode(ExitStatus.error)
                    }
                    password = first
                } catch let failure as TerminalPrompt.Failure {
                    Terminal.standardError("cairn: error: no password was typed (\(failure))")
                    throw ExitCode(ExitStatus.error)
                }
            } else {
                guard let line = readLine(strippingNewline: true) else {
                    Terminal.standardError("cairn: error: standard input is empty: give the password as its first line")
                    throw ExitCode(ExitStatus.error)
                }
                password = line.hasSuffix("\r") ? String(line.dropLast()) : line
            }
            guard !password.isEmpty else {
                Terminal.standardError("cairn: error: the password is empty")
                throw ExitCode(ExitStatus.error)
            }
            if password.count < 8 { Terminal.standardError("cairn: warning: a password of fewer than 8 characters is easy to guess") }
            print(try PasswordHash.make(Array(password.utf8)))
        }
    }
}

extension Cairn {
    struct ServerPrune: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "prune",
            abstract: "Expire snapshots of an account's repositories on the server (append-only accounts).",
            discussion: """
                An append-only account's clients cannot delete, so its expiry runs here, on the \
                server's host: the account's retention: policy (cairn-server.yaml(5)) is applied \
                to each of its repositories (or the one named), as cairn prune applies a set's \
                policy, with every writer's snapshots considered; what no kept snapshot uses is \
                removed. The repositories' key is read from --key-env, --key-file or \
                --key-command (the key of the clients' encryption profile). A lock keeps \
                clients' backups and this prune apart. When the server replicates, what the \
                prune changes is queued for the replica; a server running on this config is \
                told (SIGHUP) to count the account's usage again.

                Examples:
                  cairn server prune alice --key-env CAIRN_KEY
                                            every repository of alice
                  cairn server prune alice laptop --key-file /root/alice.key --dry-run
                                            what would go from alice's laptop

                \(ExitStatus.text)
                """
        )

        @OptionGroup var options: ServerConfigOption

        @Argument(help: "The account.")
        var account: String

        @Argument(help: "One repository of the account (by default, all of them).")
        var repository: String?

        @Option(help: ArgumentHelp("Read the repositories' key from this environment variable.", valueName: "var"))
        var keyEnv: String?

        @Option(help: ArgumentHelp("Read the repositories' key from this file (one trailing newline dropped).", valueName: "path"))
        var keyFile: String?

        @Option(help: ArgumentHelp("Read the repositories' key from what this command prints.", valueName: "command"))
        var keyCommand: String?

        @Flag(help: "Show what would be removed, and remove nothing.")
        var dryRun = false

        func validate() throws {
            guard [keyEnv, keyFile, keyCommand].compactMap({ $0 }).count <= 1 else { throw ValidationError("give the key with at most one of --key-env, --key-file or --key-command") }
        }

        func run() async throws {
            let loader = ServerConfigLoader(CommandSupport.run)
            let result = loader.load(path: options.config)
            ServerValidate.report(result)
            guard let config = result.config else { throw ExitCode(ExitStatus.error) }
            guard let settings = config.accounts[account] else {
                Terminal.standardError("cairn: error: \(options.config) has no account '\(account)'")
                throw ExitCode(ExitStatus.error)
            }
            guard let policy = settings.retention else {
                Terminal.standardError("cairn: error: account '\(account)' has no retention: policy in \(options.config): nothing expires (give it one, such as retention: {keep-days: 90})")
                throw ExitCode(ExitStatus.error)
            }
            let here = SourceLocation(file: "command line", line: 0, column: 0)
            let reference: SecretReference? =
                if let keyEnv { SecretReference(.environment(keyEnv), at: here) } else if let keyFile { SecretReference(.file(keyFile), at: here) } else if let keyCommand {
                    SecretReference(.command(keyCommand), at: here)
                } else { nil }
            let passphrase: [UInt8]?
            do {
                passphrase = try reference.map { Array(try $0.resolve(environment: CommandSupport.run.variables).utf8) }
            } catch {
                Terminal.standardError("cairn: error: the key cannot be read: \(error.localizedDescription)")
                throw ExitCode(ExitStatus.error)
            }
            let log = ServerLog()
            let names: [String]
            if let repository { names = [repository] } else { names = try await CairnServer.repositories(config, account: account, run: CommandSupport.run) }
            if names.isEmpty { print("account '\(account)' has no repositories") }
            let evaluation = RetentionEvaluation(policy: policy.kind, timeZone: CommandSupport.run.timeZone, keepTags: policy.keepTags)
            var failed = false
            for name in names {
                do {
                    let storage = try CairnServer.repositoryStorage(config, account: account, repository: name, run: CommandSupport.run, log: log)
                    guard try await Repository.exists(in: storage) else {
                        Terminal.standardError("cairn: error: account '\(account)' has no repository '\(name)'")
                        failed = true
                        continue
                    }
                    let opened = try await Repository.open(storage: storage, passphrase: passphrase, run: CommandSupport.run)
                    let pruned = try await opened.withLease(dryRun ? .shared : .exclusive, command: "cairn server prune") {
                        try await opened.prune(evaluation, now: CommandSupport.run.now, dryRun: dryRun, currentGroup: nil)
                    }
                    print("\(account)/\(name):")
                    for line in pruned.lines(policy: "retention of account '\(account)'", dryRun: dryRun, times: TimeText(zone: CommandSupport.run.timeZone)) {
                        print("  " + line)
                    }
                } catch {
                    Terminal.standardError("cairn: error: \(account)/\(name): \(error)")
                    failed = true
                }
            }
            if !dryRun, !names.isEmpty, CairnServer.signalRunningServer(config) { print("the running server was told to count the account's usage again") }
            if failed { throw ExitCode(ExitStatus.error) }
        }
    }

    struct Replication: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The replication of this server to its replica.",
            discussion: """
                A server with replicate-to: forwards every object it stores or deletes to \
                another cairn server or an S3 bucket from a queue in its state folder \
                (cairn-server.yaml(5)); status shows that queue and the last forwarding.

                Examples:
                  cairn server replication status -c /etc/cairn/server.yaml
                                            the queue, its oldest entry, the last error
                  cairn server replication status --json   the same as JSON

                \(ExitStatus.text)
                """,
            subcommands: [ReplicationStatusCommand.self]
        )
    }

    struct ReplicationStatusCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "status",
            abstract: "Show how far the replica lags: the queue, its oldest entry, the last forwarding and error.",
            discussion: """
                Reads the queue in the server's state folder (it works whether the server runs \
                or not): how many objects and bytes wait, how old the oldest is (the lag), how \
                many were forwarded, when last, and the last error. An empty queue means the \
                replica holds everything the server stored.

                Examples:
                  cairn server replication status -c /etc/cairn/server.yaml
                                            the queue, its oldest entry, the last error
                  cairn server replication status --json | jq .queued
                                            how many objects wait

                \(ExitStatus.text)
                """
        )

        @OptionGroup var options: ServerConfigOption

        @Flag(help: "Print the status as JSON.")
        var json = false

        @Flag(help: "Print times in UTC.")
        var utc = false

        func run() async throws {
            let result = ServerConfigLoader(CommandSupport.run).load(path: options.config)
            ServerValidate.report(result)
            guard let config = result.config else { throw ExitCode(ExitStatus.error) }
            let status: CairnServer.ReplicationStatus
            do {
                status = try CairnServer.replicationStatus(config)
            } catch let error as CairnServer.Failure {
                Terminal.standardError("cairn: error: \(error.description)")
                throw ExitCode(ExitStatus.error)
            }
            if json {
                print(try JSONOutput.text(status))
                return
            }
            let times = utc ? TimeText.utc : TimeText(zone: CommandSupport.run.timeZone)
            func time(_ date: Date?) -> String { date.map { times($0) } ?? "never" }
            let now = CommandSupport.run.now
            print("replica: \(status.target)")
            if let oldest = status.oldestQueued {
                print("queued: \(status.queued) object\(status.queued == 1 ? "" : "s") (\(ByteCountText.format(UInt64(status.queuedBytes)))); the oldest waits since \(time(oldest)) (lag \(Int(max(0, now.timeIntervalSince(oldest)))) s)")
            } else {
                print("queued: nothing; the replica holds everything stored")
            }
            print("forwarded: \(status.forwarded) object\(status.forwarded == 1 ? "" : "s") (\(ByteCountText.format(UInt64(status.forwardedBytes)))), last at \(time(status.lastForwarded))")
            if let error = status.lastError { print("last error: \(error) (at \(time(status.lastErrorAt)))") }
        }
    }
}
