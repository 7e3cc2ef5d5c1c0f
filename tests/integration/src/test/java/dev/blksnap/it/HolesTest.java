// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.CbtInfo;
import dev.blksnap.CbtMap;
import dev.blksnap.ChangedRange;
import dev.blksnap.Checkpoint;
import dev.blksnap.DeviceId;
import dev.blksnap.internal.Layouts;
import dev.blksnap.internal.RawIoctl;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A discard or write-zeroes is a change whose content need not be read: the
 * map reports the blocks it covered whole as holes, the blocks it covered
 * in part as written data, and a later write turns a hole back into data.
 * Nothing written is ever a hole, also when writes race with write-zeroes
 * over the same blocks: every block reported as a hole reads as zeroes.
 */
@Order(2)
class HolesTest extends ItBase {
    /** BLKZEROOUT, _IO(0x12, 127): write-zeroes of {start, length} bytes. */
    private static final long BLKZEROOUT = 0x127f;
    private static final int O_RDWR = 2;

    private final Path disk = Guest.disk(0);

    /** CBT_READ_HOLES as it is: 0 or -errno; the copied length is left in {@code req}. */
    private static int readHoles(MemorySegment req, DeviceId dev, long offset, long length, MemorySegment buf)
            throws Exception {
        req.fill((byte) 0);
        Layouts.CBT_READ_MAJOR.set(req, dev.major());
        Layouts.CBT_READ_MINOR.set(req, dev.minor());
        Layouts.CBT_READ_OFFSET.set(req, (int) offset);
        Layouts.CBT_READ_LENGTH.set(req, (int) length);
        Layouts.CBT_READ_BUFFER.set(req, buf == null ? 0L : buf.address());
        int fd = Posix.open(Path.of("/dev/blksnap-control"), O_RDWR);
        try {
            return Posix.ioctl(fd, RawIoctl.CBT_READ_HOLES, req.address());
        } finally {
            Posix.close(fd);
        }
    }

    private static void zeroOut(int fd, Arena arena, long offset, long length) {
        MemorySegment range = arena.allocate(JAVA_LONG, 2);
        range.setAtIndex(JAVA_LONG, 0, offset);
        range.setAtIndex(JAVA_LONG, 1, length);
        int r = Posix.ioctl(fd, BLKZEROOUT, range.address());
        assertEquals(0, r, "BLKZEROOUT " + offset + "+" + length);
    }

    private void assumeWriteZeroes() {
        long max = Guest.sysfsLong(Path.of("/sys/block", Guest.kernelName(disk), "queue/write_zeroes_max_bytes"));
        assertTrue(max > 0, disk + " has no write-zeroes (write_zeroes_max_bytes 0): BLKZEROOUT would write pages"
                + " of zeros, which are data, and the test would prove nothing");
    }

    @Test
    @Order(1)
    void discardAndWriteZeroesMakeHolesOfTheBlocksTheyCoverWhole(TestInfo ti) throws Exception {
        assumeWriteZeroes();
        SplittableRandom rnd = Seeds.forTest(ti);
        DeviceId id = attach(disk);
        CbtInfo info = freshInfo(id, disk);
        long bs = info.blockSize();
        String kname = Guest.kernelName(disk);
        long gran = Guest.sysfsLong(Path.of("/sys/block", kname, "queue/discard_granularity"));
        assertTrue(gran > 0, "the bench promises discard-capable disks, " + disk + " is not");
        long unit = Math.max(gran, 512);
        try (DiskIo io = new DiskIo(disk)) {
            for (int b = 0; b < 20; b++) {
                io.direct(b * bs, DiskIo.PAGE, rnd);
            }
        }
        Checkpoint first = ctl.checkpoint(id);
        BitSet want = new BitSet();
        Blocks changed = new Blocks((int) bs, info.blockCount());
        // Blocks 3..6 discarded whole; when the discard unit is smaller than a
        // block, also block 2 in part (its end) and block 7 in part (its start).
        boolean partial = unit < bs;
        long dOff = partial ? 3 * bs - unit : 3 * bs;
        long dLen = partial ? 4 * bs + 2 * unit : 4 * bs;
        Guest.runOk("blkdiscard", "-o", Long.toString(dOff), "-l", Long.toString(dLen), disk.toString());
        changed.cover(dOff, dLen);
        want.set(3, 7);
        // Blocks 10..12 zeroed whole, block 14 in part.
        Guest.runOk("blkdiscard", "-z", "-o", Long.toString(10 * bs), "-l", Long.toString(3 * bs), disk.toString());
        Guest.runOk("blkdiscard", "-z", "-o", Long.toString(14 * bs + 512), "-l", "512", disk.toString());
        changed.cover(10 * bs, 3 * bs).cover(14 * bs + 512, 512);
        want.set(10, 13);
        Checkpoint cp = ctl.checkpoint(id);
        CbtMap map = ctl.readMap(id);
        assertEquals(cp.generation(), map.info().generation());
        changed.assertExactly(map, first.closedNumber(), "changed since the first checkpoint");
        assertEquals(want, map.holes(), "holes after a discard (unit " + unit + ", partial blocks " + partial
                + ") and write-zeroes");
        List<ChangedRange> expected = new ArrayList<>();
        if (partial) {
            expected.add(new ChangedRange(2 * bs, bs, false));
        }
        expected.add(new ChangedRange(3 * bs, 4 * bs, true));
        if (partial) {
            expected.add(new ChangedRange(7 * bs, bs, false));
        }
        expected.add(new ChangedRange(10 * bs, 3 * bs, true));
        expected.add(new ChangedRange(14 * bs, bs, false));
        assertEquals(expected, map.changesSince(first.closedNumber(), cp.closedNumber()));
        // Against the first checkpoint the holes came later: all of it is data.
        assertTrue(map.changesSince(first.closedNumber(), first.closedNumber()).stream()
                .noneMatch(ChangedRange::hole), "a hole made after the checkpoint a backup reads");
        try (DiskIo io = new DiskIo(disk)) {
            for (byte b : io.readDirect(10 * bs, (int) (3 * bs))) {
                assertEquals(0, b, "a write-zeroes hole that does not read as zeroes");
            }
            // A write of one sector into a hole of each kind makes the block data again.
            io.sectors(4 * bs + 1024, 512, rnd);
            io.sectors(11 * bs, 512, rnd);
        }
        want.clear(4);
        want.clear(11);
        map = ctl.readMap(id);
        assertEquals(want, map.holes(), "holes after writes into blocks 4 and 11");
        System.out.println("[holes] " + map.changesSince(first.closedNumber(), map.info().changesNumber() - 1));
    }

    /**
     * Writes and write-zeroes race over the same 64 blocks from two threads;
     * when both are done and a checkpoint has drained them, every block
     * reported as a hole must read as zeroes: a write that overlapped a
     * write-zeroes in time, in either order on the device, leaves no hole.
     */
    @Test
    @Order(2)
    void aWriteRacingWithWriteZeroesIsNeverReportedAsAHole(TestInfo ti) throws Exception {
        assumeWriteZeroes();
        SplittableRandom rnd = Seeds.forTest(ti);
        DeviceId id = attach(disk);
        CbtInfo info = freshInfo(id, disk);
        long bs = info.blockSize();
        int blocks = 64;
        int rounds = 400;
        long base = 256 * bs;
        SplittableRandom wr = rnd.split();
        SplittableRandom zr = rnd.split();
        // Each side goes on until both have done their rounds, so that they overlap.
        AtomicLong writes = new AtomicLong();
        AtomicLong zeroes = new AtomicLong();
        long zeroed = 0;
        AtomicReference<Throwable> writerFailed = new AtomicReference<>();
        Thread writer = Thread.ofPlatform().start(() -> {
            try (DiskIo io = new DiskIo(disk)) {
                while (writes.get() < rounds || zeroes.get() < rounds) {
                    io.direct(base + wr.nextInt(blocks) * bs, (int) bs, wr);
                    writes.incrementAndGet();
                }
            } catch (Throwable t) {
                writerFailed.set(t);
                writes.set(rounds);
            }
        });
        int fd = Posix.open(disk, O_RDWR);
        try (Arena arena = Arena.ofConfined()) {
            while (zeroes.get() < rounds || writes.get() < rounds) {
                int b = zr.nextInt(blocks);
                int n = 1 + zr.nextInt(Math.min(4, blocks - b));
                zeroOut(fd, arena, base + b * bs, n * bs);
                zeroed += n;
                zeroes.incrementAndGet();
            }
        } finally {
            Posix.close(fd);
        }
        writer.join();
        if (writerFailed.get() != null) {
            throw new AssertionError("the writer failed", writerFailed.get());
        }
        Checkpoint cp = ctl.checkpoint(id);
        CbtMap map = ctl.readMap(id);
        assertEquals(cp.generation(), map.info().generation());
        int first = (int) (base / bs);
        int holeCount = 0;
        int dataCount = 0;
        try (DiskIo io = new DiskIo(disk)) {
            for (int b = first; b < first + blocks; b++) {
                assertTrue(map.changeNumber(b) != 0, "block " + b + " was written or zeroed, yet unmarked");
                if (!map.hole(b)) {
                    dataCount++;
                    continue;
                }
                holeCount++;
                byte[] content = io.readDirect(b * bs, (int) bs);
                for (int i = 0; i < content.length; i++) {
                    assertEquals(0, content[i], "block " + b + " is reported as a hole but holds data at byte " + i);
                }
            }
        }
        System.out.println("[holes] race: " + writes + " writes, " + zeroed + " blocks zeroed in " + zeroes
                + " calls; " + holeCount + " holes, " + dataCount + " data blocks at the end");
        // Both outcomes must be there, or the check above proved nothing.
        assertTrue(holeCount > 0 && dataCount > 0, holeCount + " holes, " + dataCount + " data blocks");
        assertEquals(map.changesSince(0, cp.closedNumber()).stream().filter(ChangedRange::hole)
                .mapToLong(ChangedRange::length).sum(), (long) holeCount * bs);
    }

    /** Every bad input of CBT_READ_HOLES gets its errno; a good one copies eight blocks a byte. */
    @Test
    @Order(3)
    void readHolesValidatesItsInput() throws Exception {
        assumeWriteZeroes();
        DeviceId id = attach(disk);
        CbtInfo info = freshInfo(id, disk);
        long bs = info.blockSize();
        Guest.runOk("blkdiscard", "-z", "-o", Long.toString(8 * bs), "-l", Long.toString(2 * bs), disk.toString());
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment req = arena.allocate(Layouts.CBT_READ);
            MemorySegment buf = arena.allocate(64);
            assertEquals(-22, readHoles(req, id, 4, 8, buf), "offset not a multiple of 8: EINVAL");
            assertEquals(-22, readHoles(req, id, 8, 0, buf), "length 0: EINVAL");
            assertEquals(-34, readHoles(req, id, (info.blockCount() + 7) / 8 * 8, 8, buf),
                    "offset past the map: ERANGE");
            assertEquals(-2, readHoles(req, new DeviceId(id.major(), id.minor() + 1), 0, 8, buf),
                    "an untracked device: ENOENT");
            assertEquals(-14, readHoles(req, id, 0, 8, null), "a NULL buffer: EFAULT");
            buf.fill((byte) 0xff);
            assertEquals(0, readHoles(req, id, 8, 13, buf));
            assertEquals(13, (int) Layouts.CBT_READ_LENGTH.get(req), "blocks copied");
            // Blocks 8 and 9 are holes: bits 0 and 1 of byte 0; block 16 onwards is bit 0 of byte 1.
            assertEquals(0x03, buf.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0) & 0xff);
            assertEquals(0x00, buf.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 1) & 0xff,
                    "bits past the length must be 0");
            assertEquals((byte) 0xff, buf.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 2), "written past the length");
        }
    }
}
