// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.ByteRange;
import dev.blksnap.CbtInfo;
import dev.blksnap.CbtMap;
import dev.blksnap.Checkpoint;
import dev.blksnap.DeviceId;
import dev.blksnap.InvalidRequestException;
import dev.blksnap.SectorRange;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * Checkpoints close a change number: "changed since the closed number" is
 * exactly what was written after the checkpoint (incremental backup), and
 * "changed since an older closed number" is everything after that one
 * (differential backup).
 */
@Order(3)
class ChangedSinceTest extends ItBase {
    private final Path disk = Guest.disk(0);

    private static Blocks writeSet(DiskIo io, CbtInfo info, SplittableRandom rnd, int n) throws Exception {
        Blocks b = expect(info);
        long size = info.capacityBytes();
        for (int i = 0; i < n; i++) {
            ByteRange r = rnd.nextBoolean()
                    ? io.direct(rnd.nextLong(size / DiskIo.PAGE - 16) * DiskIo.PAGE,
                            (1 + rnd.nextInt(16)) * DiskIo.PAGE, rnd)
                    : io.sectors(rnd.nextLong(size / 512 - 8) * 512, (1 + rnd.nextInt(8)) * 512, rnd);
            b.cover(r.offset(), r.length());
        }
        return b;
    }

    private Checkpoint checkpoint(DeviceId id, CbtInfo before) throws Exception {
        Checkpoint cp = ctl.checkpoint(id);
        assertEquals(id, cp.device());
        assertEquals(before.generation(), cp.generation(), "a checkpoint that does not wrap keeps the generation");
        assertEquals(before.changesNumber(), cp.closedNumber(), "the closed number is the one writes carried");
        assertEquals(before.changesNumber() + 1, cp.changesNumber(), "the next number");
        CbtInfo after = ctl.cbtInfo(id);
        assertEquals(cp.changesNumber(), after.changesNumber());
        assertEquals(cp.generation(), after.generation());
        return cp;
    }

    @Test
    @Order(1)
    void incrementalAndDifferential(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        DeviceId id = attach(disk);
        CbtInfo info = freshInfo(id, disk);
        try (DiskIo io = new DiskIo(disk)) {
            Blocks a = writeSet(io, info, rnd, 20);
            Checkpoint cp1 = checkpoint(id, ctl.cbtInfo(id));
            Blocks b = writeSet(io, info, rnd, 20);

            CbtMap m1 = ctl.readMap(id);
            b.assertExactly(m1, cp1.closedNumber(), "changed since checkpoint 1 (set B)");
            assertEquals(b.ranges(info.capacityBytes()), m1.changedSince(cp1.closedNumber()));
            new Blocks(info.blockSize(), info.blockCount()).addAll(a).addAll(b)
                    .assertExactly(m1, 0, "all writes (A and B)");

            Checkpoint cp2 = checkpoint(id, ctl.cbtInfo(id));
            Blocks c = writeSet(io, info, rnd, 20);
            CbtMap m2 = ctl.readMap(id);
            c.assertExactly(m2, cp2.closedNumber(), "incremental: changed since checkpoint 2 (set C)");
            Blocks bc = expect(info).addAll(b).addAll(c);
            bc.assertExactly(m2, cp1.closedNumber(), "differential: changed since checkpoint 1 (B and C)");
            assertEquals(bc.ranges(info.capacityBytes()), m2.changedSince(cp1.closedNumber()));
            assertEquals(bc.cardinality(), m2.changedBlockCount(cp1.closedNumber()));

            // Each block carries the number of its LAST write.
            java.util.BitSet ab = a.bits(), bb = b.bits(), cb = c.bits();
            for (int blk = 0; blk < info.blockCount(); blk++) {
                int want = cb.get(blk) ? cp2.changesNumber()
                        : bb.get(blk) ? cp1.changesNumber()
                        : ab.get(blk) ? cp1.closedNumber() : 0;
                assertEquals(want, m2.changeNumber(blk), "change number of block " + blk);
            }
        }
    }

    @Test
    @Order(2)
    void markDirtyMarksExactlyItsRangesAndAllOrNothing(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        DeviceId id = attach(disk);
        CbtInfo info = freshInfo(id, disk);
        Checkpoint cp = checkpoint(id, info);
        Blocks exp = expect(info);
        List<SectorRange> ranges = new ArrayList<>();
        long sectors = info.capacitySectors();
        ranges.add(new SectorRange(sectors - 1, 1));
        for (int i = 0; i < 30; i++) {
            long count = 1 + rnd.nextLong(64);
            ranges.add(new SectorRange(rnd.nextLong(sectors - count + 1), count));
        }
        for (SectorRange r : ranges) {
            exp.cover(r.offset() * 512, r.count() * 512);
        }
        ctl.markDirty(id, ranges);
        CbtMap m = ctl.readMap(id);
        exp.assertExactly(m, 0, "mark-dirty of " + ranges.size() + " ranges");
        exp.assertExactly(m, cp.closedNumber(), "mark-dirty uses the current number");

        // A batch with one range past the end marks nothing.
        long untouched = 150L * info.blockSize() / 512;
        List<SectorRange> bad = List.of(new SectorRange(untouched, 8), new SectorRange(sectors - 4, 8));
        InvalidRequestException e = assertThrows(InvalidRequestException.class, () -> ctl.markDirty(id, bad));
        assertEquals("ERANGE", e.errnoName());
        CbtMap after = ctl.readMap(id);
        assertEquals(m.info().generation(), after.info().generation());
        org.junit.jupiter.api.Assertions.assertArrayEquals(m.changes(), after.changes(),
                "a rejected mark-dirty batch changed the map");
    }

    @Test
    @Order(3)
    void markDirtyOfManyRangesIsSplitAcrossCalls() throws Exception {
        DeviceId id = attach(disk);
        CbtInfo info = freshInfo(id, disk);
        int spb = info.blockSize() / 512;
        // 70000 one-sector ranges, one every second block (or every 8th sector
        // when the disk has too few blocks): more than one call may take.
        int n = 70000;
        long stride = Math.max(1, Math.min(2L * spb, info.capacitySectors() / n));
        Blocks exp = expect(info);
        List<SectorRange> ranges = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            ranges.add(new SectorRange(i * stride, 1));
            exp.cover(i * stride * 512, 512);
        }
        ctl.markDirty(id, ranges);
        exp.assertExactly(ctl.readMap(id), 0, "mark-dirty of " + n + " ranges");
    }
}
