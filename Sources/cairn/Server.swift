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
                  cairn server -c /etc/cairn/server.yaml       serve (run is the default)
                  cairn server validate -c server.yaml         check the config
                  cairn server hash-password                   a password-hash: for an account

                \(ExitStatus.text)
                """,
            subcommands: [ServerRun.self, ServerValidate.self, HashPassword.self],
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
                  systemctl reload cairn-server               SIGHUP: new accounts, passwords, quotas

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
                  cairn server validate -c server.yaml --json

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
                  cairn server hash-password                  asks on the terminal
                  printf '%s\\n' "$PASSWORD" | cairn server hash-password

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
