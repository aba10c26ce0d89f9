import CairnTesting
import Testing

@testable import CairnCore

@Suite("Secret references are resolved only when asked, and never shown")
struct SecretReferenceTests {
    let here = SourceLocation(file: "cairn.yaml", line: 5, column: 10)

    @Test func readsAnEnvironmentVariable() throws {
        let secret = SecretReference(.environment("KEY"), at: here)
        #expect(try secret.resolve(environment: ["KEY": "s3cret"]) == "s3cret")
        #expect(throws: SecretReference.ResolutionError.unsetVariable("KEY", here)) {
            try secret.resolve(environment: [:])
        }
        #expect(throws: SecretReference.ResolutionError.empty(here)) {
            try secret.resolve(environment: ["KEY": ""])
        }
    }

    @Test func readsAFileDroppingOneTrailingNewline() throws {
        let directory = try TemporaryDirectory()
        let unix = try directory.write("key", "line one\n\n")
        let windows = try directory.write("key-crlf", "s3cret\r\n")
        #expect(try SecretReference(.file(unix), at: here).resolve(environment: [:]) == "line one\n")
        #expect(try SecretReference(.file(windows), at: here).resolve(environment: [:]) == "s3cret")
        let missing = directory.subpath("missing")
        #expect(throws: SecretReference.ResolutionError.unreadableFile(missing, here)) {
            try SecretReference(.file(missing), at: here).resolve(environment: [:])
        }
    }

    @Test func runsACommand() throws {
        #expect(try SecretReference(.command("printf 'from %s\\n' \"$WHO\""), at: here).resolve(environment: ["WHO": "pass"]) == "from pass")
        #expect(throws: SecretReference.ResolutionError.commandFailed(status: 3, here)) {
            try SecretReference(.command("echo leaked; exit 3"), at: here).resolve(environment: [:])
        }
    }

    @Test func errorsAndDescriptionsNeverShowTheValue() throws {
        let command = SecretReference(.command("echo hunter2"), at: here)
        #expect(command.description == "{command: ***}")
        #expect(SecretReference(.environment("CAIRN_KEY"), at: here).description == "{env: CAIRN_KEY}")
        let error = SecretReference.ResolutionError.commandFailed(status: 1, here)
        #expect(error.localizedDescription == "cairn.yaml:5:10: the secret's command exited with status 1")
    }
}
