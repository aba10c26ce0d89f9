import CairnTesting
import Testing

@testable import CairnCore

@Suite("Buffer pool: arrays used again, never while shared")
struct BufferPoolTests {
    func address(_ array: [UInt8]) -> UnsafePointer<UInt8>? { array.withUnsafeBufferPointer { $0.baseAddress } }

    @Test func aGivenBackArrayIsUsedAgain() throws {
        let pool = BufferPool(limit: 8 << 20)
        let first = try pool.make(count: 1 << 20) { buffer in
            for index in buffer.indices { buffer[index] = UInt8(truncatingIfNeeded: index) }
            return buffer.count - 10
        }
        #expect(first.count == (1 << 20) - 10)
        #expect(first.last == UInt8(truncatingIfNeeded: (1 << 20) - 11))
        let place = address(first)
        pool.recycle(consume first)
        let second = try pool.make(count: 900 << 10) { buffer in
            buffer.update(repeating: 7)
            return buffer.count
        }
        #expect(address(second) == place, "the same buffer again")
        #expect(second == [UInt8](repeating: 7, count: 900 << 10))
    }

    @Test func aSharedArrayIsNotTaken() throws {
        let pool = BufferPool(limit: 8 << 20)
        var random = SeededGenerator(state: 3)
        let bytes = random.bytes(600 << 10)
        let copy = bytes.withUnsafeBufferPointer { pool.copy($0) }
        let keptElsewhere = copy
        pool.recycle(copy)
        let next = try pool.make(count: 600 << 10) { buffer in
            buffer.update(repeating: 1)
            return buffer.count
        }
        #expect(address(next) != address(keptElsewhere))
        #expect(keptElsewhere == bytes, "the other holder's bytes are untouched")
    }

    @Test func thePoolKeepsNoMoreThanItsLimit() throws {
        let pool = BufferPool(limit: (2 << 20) + (64 << 10))  // room for two (capacities are rounded up a little)
        var arrays = try (0..<4).map { _ in try pool.make(count: 1 << 20) { $0.count } }
        while let array = arrays.popLast() { pool.recycle(consume array) }
        #expect(pool.kept.arrays == 2, "two of four kept")
        #expect(pool.kept.bytes <= pool.limit)
        _ = try pool.make(count: 1 << 20) { $0.count }
        #expect(pool.kept.arrays == 1, "one taken again")
    }

    /// A kept array is filled in place (its room used as it is, no zeros written first): what
    /// `fill` writes is all the array holds, whatever it held before, and a shorter fill cuts it.
    @Test func aKeptArrayIsFilledInPlaceAndCutToWhatWasWritten() throws {
        let pool = BufferPool(limit: 8 << 20)
        var random = SeededGenerator(state: 5)
        let old = random.bytes(1 << 20)
        let first = try pool.make(count: 1 << 20) { buffer in
            _ = buffer.initialize(from: old)
            return buffer.count
        }
        let place = address(first)
        pool.recycle(consume first)
        var seen = -1
        let second = try pool.make(count: 700 << 10) { buffer in
            seen = buffer.count
            buffer.baseAddress!.update(repeating: 0xAB, count: 300 << 10)
            return 300 << 10
        }
        #expect(seen == 700 << 10, "fill is given exactly the count asked for")
        #expect(address(second) == place)
        #expect(second == [UInt8](repeating: 0xAB, count: 300 << 10))
        // Grown afterwards, it holds what is appended, nothing of the old bytes.
        var grown = second
        grown.append(contentsOf: [1, 2, 3])
        #expect(grown.count == (300 << 10) + 3 && grown.suffix(3) == [1, 2, 3])
    }

    struct Refused: Error, Equatable {}

    /// A fill that throws gives its error, kept array or new, and the pool stays usable.
    @Test func aFillThatThrowsGivesItsError() throws {
        let pool = BufferPool(limit: 8 << 20)
        #expect(throws: Refused.self) { try pool.make(count: 1 << 20) { _ in throw Refused() } }
        let made = try pool.make(count: 1 << 20) { $0.count }
        pool.recycle(consume made)
        #expect(pool.kept.arrays == 1)
        #expect(throws: Refused.self) { try pool.make(count: 1 << 20) { _ in throw Refused() } }
        #expect(pool.kept.arrays == 1, "the array a failed fill was given is kept again")
        let next = try pool.make(count: 512 << 10) { buffer in
            buffer.update(repeating: 4)
            return buffer.count
        }
        #expect(next == [UInt8](repeating: 4, count: 512 << 10))
    }

    @Test func smallArraysAreLeftToMalloc() throws {
        let pool = BufferPool()
        let small = try pool.make(count: 1000) { buffer in
            buffer.update(repeating: 9)
            return 999
        }
        #expect(small == [UInt8](repeating: 9, count: 999))
    }
}

@Suite("Read buffers: kept for the next file, within a limit")
struct ReadBuffersTests {
    @Test func aGivenBackBufferServesTheNextFileOfAboutTheSameSize() {
        let buffers = ReadBuffers(limit: 8 << 20)
        let first = buffers.take(capacity: (2 << 20) + (64 << 10))
        #expect(first.count == 3 << 20, "rounded up to whole MiB")
        first.initialize(repeating: 1)
        buffers.give(first)
        #expect(buffers.kept == (1, 3 << 20))
        let second = buffers.take(capacity: (2 << 20) + 5)
        #expect(second.baseAddress == first.baseAddress, "the same memory again")
        #expect(buffers.kept == (0, 0))
        // Too large for every kept one: a new buffer.
        buffers.give(second)
        let larger = buffers.take(capacity: 5 << 20)
        #expect(larger.baseAddress != second.baseAddress && larger.count == 5 << 20)
        buffers.give(larger)
        #expect(buffers.kept == (2, 8 << 20))
        // The smallest that fits is taken.
        let fitting = buffers.take(capacity: 1 << 20)
        #expect(fitting.baseAddress == second.baseAddress)
        buffers.give(fitting)
    }

    @Test func theLimitHoldsAndSmallerBuffersMakeRoomForLarger() {
        let buffers = ReadBuffers(limit: 8 << 20)
        let one = buffers.take(capacity: 1 << 20), two = buffers.take(capacity: 2 << 20), four = buffers.take(capacity: 4 << 20)
        let six = buffers.take(capacity: 6 << 20)
        buffers.give(one)
        buffers.give(two)
        buffers.give(four)
        #expect(buffers.kept == (3, 7 << 20))
        // 6 MiB more: smaller buffers are freed, smallest first, until it fits.
        buffers.give(six)
        #expect(buffers.kept == (1, 6 << 20))
        let again = buffers.take(capacity: 6 << 20)
        #expect(again.baseAddress == six.baseAddress)
        // Small buffers are malloc's: never kept; a buffer larger than the limit is freed.
        buffers.give(buffers.take(capacity: 100 << 10))
        buffers.give(buffers.take(capacity: 9 << 20))
        #expect(buffers.kept == (0, 0))
        buffers.give(again)
    }
}
