// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.ByteRange;
import dev.blksnap.CbtInfo;
import dev.blksnap.CbtMap;
import dev.blksnap.DeviceId;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The map marks every block a write touched and no other, on the first
 * scratch disk (nothing else writes to it): for each kind of write bio the
 * set of blocks with a non-zero change number must EQUAL the blocks that
 * cover the bytes written.
 */
@Order(1)
class CbtExactnessTest extends ItBase {
    private final Path disk = Guest.disk(0);

    private void assertMap(DeviceId id, Blocks expected, String what) throws Exception {
        CbtMap map = ctl.readMap(id);
        expected.assertExactly(map, 0, what);
        int now = map.info().changesNumber();
        java.util.BitSet want = expected.bits();
        for (int b = want.nextSetBit(0); b >= 0; b = want.nextSetBit(b + 1)) {
            assertEquals(now, map.changeNumber(b), what + ": block " + b + " carries an old number");
        }
        assertEquals(expected.ranges(map.info().capacityBytes()), map.changedSince(0),
                what + ": changedSince(0) ranges");
        assertEquals(expected.cardinality(), map.changedBlockCount(0), what + ": changedBlockCount(0)");
    }

    @Test
    @Order(1)
    void randomMixOfWritesOnTheWholeDisk(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        DeviceId id = attach(disk);
        CbtInfo info = freshInfo(id, disk);
        Blocks exp = expect(info);
        long size = info.capacityBytes();
        try (DiskIo io = new DiskIo(disk)) {
            // The edges first: sector 0 and the last sector.
            cover(exp, io.sectors(0, 512, rnd));
            cover(exp, io.sectors(size - 512, 512, rnd));
            for (int i = 0; i < 48; i++) {
                switch (rnd.nextInt(3)) {
                    case 0 -> {
                        int len = (1 + rnd.nextInt(64)) * DiskIo.PAGE;
                        long off = rnd.nextLong((size - len) / DiskIo.PAGE + 1) * DiskIo.PAGE;
                        cover(exp, io.direct(off, len, rnd));
                    }
                    case 1 -> {
                        int len = (1 + rnd.nextInt(128)) * DiskIo.SECTOR;
                        long off = rnd.nextLong((size - len) / DiskIo.SECTOR + 1) * DiskIo.SECTOR;
                        cover(exp, io.sectors(off, len, rnd));
                    }
                    default -> {
                        int len = 1 + rnd.nextInt(20000);
                        long off = rnd.nextLong(size - len + 1);
                        cover(exp, io.buffered(off, len, rnd));
                    }
                }
            }
        }
        assertMap(id, exp, "48 random writes on " + disk);
    }

    @Test
    @Order(2)
    void unalignedWritesMarkOnlyTheirBlocks(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        DeviceId id = attach(disk);
        CbtInfo info = freshInfo(id, disk);
        int bs = info.blockSize();
        int spb = bs / 512;
        Blocks exp = expect(info);
        try (DiskIo io = new DiskIo(disk)) {
            // The last sector of block 2, the first of block 5: one block each.
            cover(exp, io.sectors((3L * spb - 1) * 512, 512, rnd));
            cover(exp, io.sectors(5L * spb * 512, 512, rnd));
            // Two sectors straddling the boundary of blocks 8 and 9.
            cover(exp, io.sectors((9L * spb - 1) * 512, 1024, rnd));
            // Odd sectors anywhere, 512 bytes each.
            long sectors = info.capacitySectors();
            for (int i = 0; i < 24; i++) {
                long s = rnd.nextLong(sectors / 2) * 2 + 1;
                cover(exp, io.sectors(s * 512, 512, rnd));
            }
            // Byte-unaligned buffered writes: a few bytes across a page
            // boundary, one byte, and an odd length at an odd offset.
            long b = 20L * bs;
            cover(exp, io.buffered(b + 4093, 6, rnd));
            cover(exp, io.buffered(b + 3L * bs + 777, 1, rnd));
            cover(exp, io.buffered(b + 7L * bs + 1, 3 * bs + 5, rnd));
        }
        assertMap(id, exp, "unaligned writes on " + disk);
    }

    /**
     * One 16 MiB O_DIRECT write, with the disk's max_sectors_kb forced down
     * to 64 so that the block layer must split it into at least 256
     * requests (each remainder is resubmitted through submit_bio_noacct),
     * and the requests are counted to prove it did.
     */
    @Test
    @Order(3)
    void sixteenMiBDirectWriteIsSplitButMarkedExactly(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        DeviceId id = attach(disk);
        CbtInfo info = freshInfo(id, disk);
        int bs = info.blockSize();
        Blocks exp = expect(info);
        int len = 16 << 20;
        int splitKb = 64;
        // Starts one page into a block when blocks are larger than a page.
        long off = 8L * bs + (bs > DiskIo.PAGE ? DiskIo.PAGE : 0) + DiskIo.PAGE;
        long tailOff = off + len + 3L * DiskIo.PAGE;
        byte[] data = new byte[len];
        rnd.nextBytes(data);
        int oldKb = Guest.setMaxSectorsKb(disk, splitKb);
        try (DiskIo io = new DiskIo(disk)) {
            long before = Guest.writeRequests(disk);
            cover(exp, io.direct(off, data));
            long requests = Guest.awaitWriteRequests(disk, before, len / (splitKb << 10));
            System.out.println("[split] 16 MiB write with max_sectors_kb " + splitKb + ": " + requests + " requests");
            assertTrue(requests >= len / (splitKb << 10), "the 16 MiB write went down in " + requests
                    + " requests: max_sectors_kb " + splitKb + " did not split it");
            cover(exp, io.direct(tailOff, 4 * DiskIo.PAGE, rnd));
            assertTrue(Arrays.equals(data, io.readDirect(off, len)),
                    "the 16 MiB written at " + off + " does not read back the same");
        } finally {
            Guest.setMaxSectorsKb(disk, oldKb);
        }
        assertMap(id, exp, "16 MiB O_DIRECT write at " + off + " on " + disk + ", split by max_sectors_kb "
                + splitKb);
    }

    @Test
    @Order(4)
    void discardMarksExactlyItsRange() throws Exception {
        DeviceId id = attach(disk);
        CbtInfo info = freshInfo(id, disk);
        String kname = Guest.kernelName(disk);
        long gran = Guest.sysfsLong(Path.of("/sys/block", kname, "queue/discard_granularity"));
        long max = Guest.sysfsLong(Path.of("/sys/block", kname, "queue/discard_max_bytes"));
        assertTrue(gran > 0 && max > 0, "the bench promises discard-capable disks, " + disk + " is not");
        long unit = Math.max(gran, DiskIo.PAGE);
        int bs = info.blockSize();
        Blocks exp = expect(info);
        // Starts and ends inside blocks whenever blocks are larger than the unit.
        long[][] ranges = {
            {3L * bs + unit, 5L * bs},
            {40L * bs, unit},
            {(100L * bs) - unit, 2 * unit},
        };
        for (long[] r : ranges) {
            Guest.runOk("blkdiscard", "-o", Long.toString(r[0]), "-l", Long.toString(r[1]), disk.toString());
            exp.cover(r[0], r[1]);
        }
        assertMap(id, exp, "blkdiscard on " + disk);
    }

    @Test
    @Order(5)
    void writeZeroesMarksExactlyItsRange() throws Exception {
        long max = Guest.sysfsLong(Path.of("/sys/block", Guest.kernelName(disk), "queue/write_zeroes_max_bytes"));
        assertTrue(max > 0, disk + " has no write-zeroes (write_zeroes_max_bytes 0): BLKZEROOUT would write pages"
                + " of zeros and the test would prove nothing about REQ_OP_WRITE_ZEROES");
        DeviceId id = attach(disk);
        CbtInfo info = freshInfo(id, disk);
        int bs = info.blockSize();
        Blocks exp = expect(info);
        long[][] ranges = {
            {7L * bs + DiskIo.PAGE, 3L * bs},
            {60L * bs, 512},
            {(200L * bs) - 1024, 4096},
        };
        for (long[] r : ranges) {
            Guest.runOk("blkdiscard", "-z", "-o", Long.toString(r[0]), "-l", Long.toString(r[1]),
                    disk.toString());
            exp.cover(r[0], r[1]);
        }
        assertMap(id, exp, "blkdiscard -z (BLKZEROOUT) on " + disk);
    }

    @Test
    @Order(6)
    void flushAloneMarksNothingAndSyncWritesMarkTheirBlocks(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        DeviceId id = attach(disk);
        CbtInfo info = freshInfo(id, disk);
        int bs = info.blockSize();
        Blocks exp = expect(info);
        try (DiskIo io = new DiskIo(disk)) {
            io.flush();
        }
        Guest.runOk("blockdev", "--flushbufs", disk.toString());
        Guest.runOk("sync");
        assertMap(id, exp, "bare flushes (fsync, BLKFLSBUF, sync) on " + disk);
        try (DiskIo io = new DiskIo(disk, true)) {
            cover(exp, io.direct(11L * bs + DiskIo.PAGE, 2 * DiskIo.PAGE, rnd));
            cover(exp, io.sectors(30L * bs - 512, 1024, rnd));
            cover(exp, io.buffered(50L * bs + 100, 300, rnd));
            io.flush();
        }
        assertMap(id, exp, "O_DSYNC writes (FUA or write + flush) on " + disk);
    }

    private static void cover(Blocks exp, ByteRange r) {
        exp.cover(r.offset(), r.length());
    }
}
