import CairnTesting
import Foundation
import Testing

/// `key: {prompt: true}`: the key typed on the terminal, never echoed, asked once per run.
@Suite("Keys typed at a prompt")
struct KeyPromptTests {
    static let key = "typed-at-the-prompt-7f3a"
    static let prompt = "key of encryption profile 'typed': "

    /// Two sets of one profile whose key is typed at a prompt.
    static func workspace() throws -> Workspace {
        var workspace = try Workspace(algorithm: "none")
        try workspace.directory.write("cairn.yaml", """
            version: 1
            accounts: {local: {destination: ./destination}}
            encryption:
              default: {algorithm: none}
              typed: {algorithm: aes-256-gcm, key: {prompt: true}}
            backup-sets:
              files: {account: local, sources: [./source], encryption: typed}
              again: {account: local, sources: [./source], encryption: typed}
            """)
        workspace.environment["CAIRN_KEY"] = nil
        var generator = TreeGenerator(root: workspace.source, seed: 11)
        try generator.generate(files: 15, depth: 3)
        return workspace
    }

    static func onTerminal(_ workspace: Workspace, _ arguments: [String], _ steps: [TerminalSession.Step]) throws -> TerminalSession.Result {
        try TerminalSession(workspace.cairn).run(arguments, in: workspace.directory.path, environment: workspace.environment, steps: steps)
    }

    /// Runs cairn in a session of its own, without a controlling terminal (as cron does).
    static func withoutTerminal(_ workspace: Workspace, _ arguments: [String]) throws -> CairnProcess.Output {
        try workspace.cairn.run(arguments, in: workspace.directory.path, environment: workspace.environment, prefix: ["/usr/bin/setsid", "-w"])
    }

    @Test func theKeyIsAskedOnceNeverEchoedAndOpensTheRepository() throws {
        let workspace = try Self.workspace()
        let backup = try Self.onTerminal(workspace, ["backup"], [.expect(Self.prompt), .send(Self.key + "\n")])
        #expect(backup.failure == nil && backup.status == 0, "\(backup.failure ?? "") \(backup.output)")
        #expect(!backup.output.contains(Self.key), "the typed key is not echoed: \(backup.output)")
        #expect(backup.output.components(separatedBy: Self.prompt).count == 2, "asked once for both sets: \(backup.output)")
        #expect(backup.output.contains("files: snapshot ") && backup.output.contains("again: snapshot "), "\(backup.output)")
        #expect(backup.echo == true)

        let target = workspace.directory.subpath("restored")
        let restore = try Self.onTerminal(workspace, ["restore", "files", "--to", target], [.expect(Self.prompt), .send(Self.key + "\n")])
        #expect(restore.status == 0, "\(restore.output)")
        #expect(!restore.output.contains(Self.key))
        let differences = TreeComparison.differences(workspace.source, workspace.restored(under: target))
        #expect(differences == [], "\(differences.joined(separator: "\n"))")
    }

    @Test func aWrongKeyTypedIsTheWrongKeyError() throws {
        let workspace = try Self.workspace()
        let backup = try Self.onTerminal(workspace, ["backup", "-q", "files"], [.expect(Self.prompt), .send(Self.key + "\n")])
        #expect(backup.status == 0, "\(backup.output)")
        let wrong = try Self.onTerminal(workspace, ["snapshots", "files"], [.expect(Self.prompt), .send("not-the-key\n")])
        #expect(wrong.status == 1, "\(wrong.output)")
        #expect(wrong.output.contains("the key does not open the repository at \(workspace.destination)/files"), "\(wrong.output)")
        #expect(!wrong.output.contains("not-the-key"))
    }

    @Test func withoutATerminalTheRunFailsSayingWhatToDo() throws {
        let workspace = try Self.workspace()
        let backup = try Self.withoutTerminal(workspace, ["backup", "files"])
        #expect(backup.status == 1, "\(backup.all)")
        #expect(
            backup.standardError.contains(
                "the key of encryption profile 'typed' is asked at a prompt (key: {prompt: true}), and there is no terminal: run cairn on a terminal, or point the profile's key (cairn.yaml:5:40) to {env: VAR}, {file: PATH} or {command: \"...\"}"
            ), "\(backup.all)")
        #expect(backup.standardError.contains("--key-file, --key-env or --key-command"))
    }

    @Test func validateAndThePlanOfANewSetDoNotAsk() throws {
        let workspace = try Self.workspace()
        let validate = try Self.withoutTerminal(workspace, ["validate"])
        #expect(validate.status == 0 && validate.standardOutput.contains("valid, 2 backup sets"), "\(validate.all)")
        let show = try Self.withoutTerminal(workspace, ["validate", "--show"])
        #expect(show.standardOutput.contains("    key:\n      prompt: true\n"), "\(show.all)")
        let plan = try Self.withoutTerminal(workspace, ["plan", "files"])
        #expect(plan.status == 0 && plan.standardOutput.contains("+ set files: new repository at"), "\(plan.all)")
    }

    @Test func interruptingThePromptLeavesTheTerminalEchoing() throws {
        let workspace = try Self.workspace()
        let first = try Self.onTerminal(workspace, ["backup", "-q", "files"], [.expect(Self.prompt), .send(Self.key + "\n")])
        #expect(first.status == 0, "\(first.output)")
        // Outside a job, SIGINT ends cairn as it would have, after echo is back.
        let restore = try Self.onTerminal(workspace, ["restore", "files", "--to", workspace.directory.subpath("r")], [.expect(Self.prompt), .send("\u{3}")])
        #expect(restore.signal == SIGINT && restore.echo == true, "\(restore)")
        // In a job, SIGINT asks the job to stop: the prompt ends and the run fails.
        let backup = try Self.onTerminal(workspace, ["backup"], [.expect(Self.prompt), .send("\u{3}")])
        #expect(backup.status == 1 && backup.echo == true, "\(backup)")
        #expect(backup.output.contains("the prompt for the secret was interrupted"), "\(backup.output)")
    }

    @Test func scheduledSetsWithATypedKeyAreWarnedAbout() throws {
        let workspace = try Self.workspace()
        try workspace.directory.write("cairn.yaml", """
            version: 1
            accounts: {local: {destination: ./destination}}
            encryption:
              default: {algorithm: aes-256-gcm, key: {prompt: true}}
            schedules:
              nightly: {type: daily, at: "01:00"}
            backup-sets:
              files: {account: local, sources: [./source], schedules: [nightly]}
            """)
        let validate = try Self.withoutTerminal(workspace, ["validate"])
        #expect(validate.status == 0, "\(validate.all)")
        #expect(
            validate.standardError.contains(
                "cairn.yaml:4:42: warning: backup set 'files' runs on a schedule, and the key of its encryption profile 'default' is asked at a prompt"),
            "\(validate.all)")
    }
}
