import Foundation
import Testing

@testable import CairnCore

@Suite("Progress")
struct ProgressTests {
    final class Lines: @unchecked Sendable {
        var text: [String] = []
    }

    @Test func statusCountsFilesBytesRateAndTimeLeft() {
        let lines = Lines()
        let display = ProgressDisplay(files: 4, bytes: 4_000_000, terminal: true) { lines.text.append($0) }
        display.start(FilePath("/data/one.bin"), size: 1_000_000)
        display.read(1_000_000)
        display.finish(FilePath("/data/one.bin"))
        let status = display.status(now: Date().addingTimeInterval(1))
        #expect(status.hasPrefix("1/4 files, 1.0 MB of 4.0 MB, "))
        #expect(status.contains(" left"))
        #expect(lines.text.first?.hasPrefix("\r\u{1B}[K0/4 files") == true, "the terminal line is redrawn in place")
        #expect(lines.text.first?.hasSuffix(": /data/one.bin") == true, "with the current file")
        display.clear()
        #expect(lines.text.last == "\r\u{1B}[K")
    }

    @Test func withoutATerminalItWritesPlainLinesRarely() {
        let lines = Lines()
        let display = ProgressDisplay(files: 2, bytes: 10, terminal: false) { lines.text.append($0) }
        for _ in 0..<100 { display.read(1) }
        #expect(lines.text.isEmpty, "no line before ten seconds")
        display.clear()
        #expect(lines.text.isEmpty)
    }
}
