// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.ByteRange;
import dev.blksnap.CbtInfo;
import dev.blksnap.DeviceId;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Partitions on the second scratch disk: partition 1 starts at 1 MiB,
 * partition 2 at an odd sector so that a write aligned inside it is not
 * aligned on the disk. A tracker on a partition sees offsets relative to
 * the partition; a tracker on the whole disk sees writes made through a
 * partition at the partition's start plus their offset.
 */
@Order(2)
class PartitionTest extends ItBase {
    private static final Path DISK = Guest.disk(1);
    private static final long P1_START = 2048;
    private static final long P1_SIZE = 64L << 11;     // 64 MiB in sectors
    private static final long P2_START = 133121;       // odd on purpose
    private static final long P2_SIZE = 48L << 11;

    @BeforeAll
    static void partition() throws Exception {
        Mbr.partition(DISK, new Mbr.Part(P1_START, P1_SIZE), new Mbr.Part(P2_START, P2_SIZE));
        assertEquals(P1_START, Guest.sysfsLong(sysfs(1).resolve("start")));
        assertEquals(P1_SIZE, Guest.sysfsLong(sysfs(1).resolve("size")));
        assertEquals(P2_START, Guest.sysfsLong(sysfs(2).resolve("start")));
        assertEquals(P2_SIZE, Guest.sysfsLong(sysfs(2).resolve("size")));
    }

    @AfterAll
    static void unpartition() throws Exception {
        Mbr.partition(DISK);
    }

    private static Path sysfs(int n) {
        return Path.of("/sys/class/block", Guest.kernelName(DISK), Guest.partition(DISK, n).getFileName().toString());
    }

    /** Random O_DIRECT and buffered writes inside {@code part}; returns the partition-relative ranges. */
    private static List<ByteRange> writeRandomly(Path part, SplittableRandom rnd, int count) throws Exception {
        java.util.ArrayList<ByteRange> out = new java.util.ArrayList<>();
        try (DiskIo io = new DiskIo(part)) {
            long size = io.size();
            out.add(io.sectors(0, 512, rnd));
            out.add(io.sectors(size - 512, 512, rnd));
            for (int i = 0; i < count; i++) {
                switch (rnd.nextInt(3)) {
                    case 0 -> {
                        int len = (1 + rnd.nextInt(32)) * DiskIo.PAGE;
                        out.add(io.direct(rnd.nextLong((size - len) / DiskIo.PAGE + 1) * DiskIo.PAGE, len, rnd));
                    }
                    case 1 -> {
                        int len = (1 + rnd.nextInt(64)) * DiskIo.SECTOR;
                        out.add(io.sectors(rnd.nextLong((size - len) / DiskIo.SECTOR + 1) * DiskIo.SECTOR, len,
                                rnd));
                    }
                    default -> {
                        int len = 1 + rnd.nextInt(9000);
                        out.add(io.buffered(rnd.nextLong(size - len + 1), len, rnd));
                    }
                }
            }
        }
        return out;
    }

    @Test
    @Order(1)
    void trackedPartitionSeesItsWritesRelativeToItsStart(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        Path p1 = Guest.partition(DISK, 1);
        DeviceId id = attach(p1);
        CbtInfo info = freshInfo(id, p1);
        assertEquals(P1_SIZE, info.capacitySectors());
        Blocks exp = expect(info);
        for (ByteRange r : writeRandomly(p1, rnd, 32)) {
            exp.cover(r.offset(), r.length());
        }
        exp.assertExactly(ctl.readMap(id), 0, "writes to tracked " + p1);
    }

    @Test
    @Order(2)
    void trackedDiskSeesWritesThroughAPartitionAtTheRightOffset(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        Path p2 = Guest.partition(DISK, 2);
        Guest.settle(p2);
        DeviceId id = attach(DISK);
        CbtInfo info = freshInfo(id, DISK);
        Blocks exp = expect(info);
        for (ByteRange r : writeRandomly(p2, rnd, 32)) {
            exp.cover(P2_START * 512 + r.offset(), r.length());
        }
        exp.assertExactly(ctl.readMap(id), 0, "writes through " + p2 + " (start sector " + P2_START
                + ") to tracked " + DISK);
    }

    @Test
    @Order(3)
    void diskAndPartitionTrackedTogether(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        Path p1 = Guest.partition(DISK, 1);
        Guest.settle(p1);
        DeviceId whole = attach(DISK);
        DeviceId part = attach(p1);
        assertEquals(java.util.Set.of(whole, part), java.util.Set.copyOf(ctl.trackers()));
        CbtInfo wi = freshInfo(whole, DISK);
        CbtInfo pi = freshInfo(part, p1);
        Blocks we = expect(wi);
        Blocks pe = expect(pi);
        for (ByteRange r : writeRandomly(p1, rnd, 24)) {
            pe.cover(r.offset(), r.length());
            we.cover(P1_START * 512 + r.offset(), r.length());
        }
        pe.assertExactly(ctl.readMap(part), 0, "partition tracker, writes through " + p1);
        we.assertExactly(ctl.readMap(whole), 0, "disk tracker, writes through " + p1);
        detach(part);
        assertEquals(List.of(whole), ctl.trackers());
    }

    /**
     * The part of {@code r} (bytes of the whole disk) that lies inside
     * partition 1, as bytes of the partition, or null when none does.
     */
    private static ByteRange insideP1(ByteRange r) {
        long pStart = P1_START * 512;
        long pEnd = (P1_START + P1_SIZE) * 512;
        long from = Math.max(r.offset(), pStart);
        long to = Math.min(r.offset() + r.length(), pEnd);
        return from < to ? new ByteRange(from - pStart, to - from) : null;
    }

    @Test
    @Order(4)
    void trackedPartitionSeesWritesThroughTheWholeDisk(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        Path p1 = Guest.partition(DISK, 1);
        // No dirty page of the whole disk may land once the tracker is there.
        Guest.settle(DISK);
        DeviceId id = attach(p1);
        CbtInfo info = freshInfo(id, p1);
        assertEquals(P1_SIZE, info.capacitySectors());
        long pStart = P1_START * 512;
        long pEnd = (P1_START + P1_SIZE) * 512;
        List<ByteRange> written = new java.util.ArrayList<>();
        try (DiskIo io = new DiskIo(DISK)) {
            long size = io.size();
            // Sector 0 holds the partition table: nothing is written below
            // the first page.
            long low = DiskIo.PAGE;
            // The sectors just outside the partition and the first and last
            // inside it.
            written.add(io.sectors(pStart - 512, 512, rnd));
            written.add(io.sectors(pEnd, 512, rnd));
            written.add(io.sectors(pStart, 512, rnd));
            written.add(io.sectors(pEnd - 512, 512, rnd));
            // Straddling each edge, 512-byte and 4 KiB aligned, and buffered.
            for (long edge : new long[] {pStart, pEnd}) {
                written.add(io.sectors(edge - (1 + rnd.nextInt(16)) * 512L, (2 + rnd.nextInt(31)) * 512, rnd));
                written.add(io.direct(edge - (1 + rnd.nextInt(8)) * (long) DiskIo.PAGE,
                        (9 + rnd.nextInt(8)) * DiskIo.PAGE, rnd));
                written.add(io.buffered(edge - 1 - rnd.nextInt(6000), 2 + rnd.nextInt(12000), rnd));
            }
            // Random writes: a third inside the partition, a third within
            // 256 KiB of one of its edges, a third anywhere on the disk.
            for (int i = 0; i < 48; i++) {
                int kind = rnd.nextInt(3);
                int len = switch (kind) {
                    case 0 -> (1 + rnd.nextInt(32)) * DiskIo.PAGE;
                    case 1 -> (1 + rnd.nextInt(64)) * DiskIo.SECTOR;
                    default -> 1 + rnd.nextInt(9000);
                };
                long from;
                long to;
                switch (rnd.nextInt(3)) {
                    case 0 -> {
                        from = pStart;
                        to = pEnd - len;
                    }
                    case 1 -> {
                        long edge = rnd.nextBoolean() ? pStart : pEnd;
                        from = edge - (256 << 10) - len;
                        to = edge + (256 << 10);
                    }
                    default -> {
                        from = low;
                        to = size - len;
                    }
                }
                long off = from + rnd.nextLong(to - from + 1);
                written.add(switch (kind) {
                    case 0 -> io.direct(off / DiskIo.PAGE * DiskIo.PAGE, len, rnd);
                    case 1 -> io.sectors(off / DiskIo.SECTOR * DiskIo.SECTOR, len, rnd);
                    default -> io.buffered(off, len, rnd);
                });
            }
            // One 4 MiB O_DIRECT write over the partition's end, split on
            // the way down (max_sectors_kb 64) into requests on both sides
            // of the partition's edge, counted to prove it.
            long big = 4 << 20;
            int oldKb = Guest.setMaxSectorsKb(DISK, 64);
            try {
                long before = Guest.writeRequests(DISK);
                written.add(io.direct(pEnd - (1 + rnd.nextLong(big / DiskIo.PAGE - 1)) * DiskIo.PAGE, (int) big,
                        rnd));
                long requests = Guest.awaitWriteRequests(DISK, before, big / (64 << 10));
                assertTrue(requests >= big / (64 << 10), "the 4 MiB write was not split: " + requests + " requests");
            } finally {
                Guest.setMaxSectorsKb(DISK, oldKb);
            }
        }
        Blocks exp = expect(info);
        int inside = 0;
        for (ByteRange r : written) {
            ByteRange part = insideP1(r);
            if (part != null) {
                exp.cover(part.offset(), part.length());
                inside++;
            }
        }
        System.out.println("[writes] " + written.size() + " through " + DISK + ", " + inside
                + " of them reach " + p1);
        assertTrue(inside > 0 && inside < written.size(), "the writes must fall both inside and outside " + p1);
        exp.assertExactly(ctl.readMap(id), 0, written.size() + " writes through " + DISK + " to tracked " + p1
                + " (sectors " + P1_START + ".." + (P1_START + P1_SIZE - 1) + ")");
        assertEquals(List.of(id), ctl.trackers(), "only the partition is tracked");
    }
}
