// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.DeviceId;
import dev.blksnap.it.FileSystems.Type;
import dev.blksnap.it.OracleRun.View;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assumptions.assumeFalse;

/**
 * The content oracle ({@link ContentOracle}) under ext4 and xfs on the
 * third scratch disk: every block whose content a file-system workload
 * ({@link FsWorkload}: buffered writes, fsync, appends, deletes, renames,
 * directory churn, discards and fstrim) changed must be marked, on the
 * whole disk and on each tracked partition. The file systems decide where
 * their data, metadata and journal go; the oracle reads the disk before and
 * after each phase ({@link OracleTestBase#workloadThenTrim}).
 */
@Order(30)
class FileSystemOracleTest extends OracleTestBase {
    private static final Path DISK = Guest.disk(2);
    private static final long P1_START = 2048;
    private static final long P1_SIZE = 100L << 11;           // 100 MiB of ext4
    private static final long P2_START = P1_START + P1_SIZE + 1; // odd: xfs's 512-byte log writes cross pages

    /**
     * Not on the debug lane: several times slower there, within a CI budget
     * that its 10^6 fuzz calls and the fault sweeps mostly use; the stock
     * lanes run the content oracle, the debug lane runs the write path
     * under KASAN and lockdep through the other classes.
     */
    @BeforeAll
    static void stockLanesOnly() {
        assumeFalse(Guest.debugLane(), "the content oracle runs on the stock lanes (the debug lane's time budget)");
    }

    @AfterAll
    static void clean() throws Exception {
        if (Guest.debugLane()) {
            return;
        }
        Mbr.partition(DISK);
        FileSystems.wipe(DISK);
    }

    /**
     * ext4 (with online discard) in a partition at 1 MiB, xfs in one at an
     * odd sector; trackers on both partitions and on the disk.
     */
    @Test
    void ext4AndXfsInPartitionsTrackedWithTheirDisk(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        long p2Size = Guest.sizeSectors(DISK) - P2_START - 7;
        Mbr.partition(DISK, new Mbr.Part(P1_START, P1_SIZE), new Mbr.Part(P2_START, p2Size));
        Path p1 = Guest.partition(DISK, 1);
        Path p2 = Guest.partition(DISK, 2);
        FileSystems.mkfs(Type.EXT4, p1);
        FileSystems.mkfs(Type.XFS, p2);
        Path m1 = mount(Type.EXT4, p1, "discard");
        Path m2 = mount(Type.XFS, p2, "");
        FsWorkload w1 = new FsWorkload(m1, rnd.split()).populate(POPULATE);
        FsWorkload w2 = new FsWorkload(m2, rnd.split()).populate(POPULATE);
        Guest.runOk("sync");
        DeviceId disk = attach(DISK);
        DeviceId part1 = attach(p1);
        DeviceId part2 = attach(p2);
        checkInfo(disk, DISK);
        checkInfo(part1, p1);
        checkInfo(part2, p2);
        workloadThenTrim(List.of(m1, m2), List.of(w1, w2), List.of(
                View.whole(disk, DISK, "ext4 in " + p1 + " and xfs in " + p2 + ", tracker on " + DISK),
                new View(part1, "ext4 -o discard in " + p1, DISK, P1_START, P1_SIZE),
                new View(part2, "xfs in " + p2 + " (start sector " + P2_START + ")", DISK, P2_START, p2Size)));
    }
}
