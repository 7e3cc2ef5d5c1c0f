// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.CbtInfo;
import dev.blksnap.DeviceId;
import dev.blksnap.it.FileSystems.Type;
import dev.blksnap.it.OracleRun.View;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/**
 * The content oracle with tracking blocks larger than the suite's 4 KiB
 * (64 KiB, the module's default, and 1 MiB), on devices whose size is not
 * a multiple of the block. The module is reloaded with the minimum shift
 * each test asks for, and the block size is checked against what was
 * asked, not read back; the last, partial block must be tracked like any
 * other.
 */
@Order(32)
class BlockSizeOracleTest extends OracleTestBase {
    private static final Path DISK = Guest.disk(2);
    private static final long P_START = 2048;
    private static List<String> suiteParameters;

    /** Not on the debug lane: see FileSystemOracleTest#stockLanesOnly. */
    @BeforeAll
    static void remember() {
        assumeFalse(Guest.debugLane(), "the content oracle runs on the stock lanes (the debug lane's time budget)");
        Guest.ensureModuleLoaded();
        suiteParameters = Guest.loadedWith();
    }

    @AfterAll
    static void restore() throws Exception {
        if (suiteParameters == null) {
            return;
        }
        Guest.reloadModule(suiteParameters);
        Mbr.partition(DISK);
        FileSystems.wipe(DISK);
    }

    /** Writes random bytes over the device's last sector, with O_DIRECT (a partial block at the end). */
    private static void writeLastSector(Path dev, SplittableRandom rnd) throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = Posix.aligned(arena, 512);
            for (long i = 0; i < 512; i++) {
                buf.set(JAVA_BYTE, i, (byte) rnd.nextInt());
            }
            int fd = Posix.open(dev, Posix.O_RDWR | Posix.O_DIRECT);
            try {
                Posix.pwrite(fd, buf, (Guest.sizeSectors(dev) - 1) * 512);
            } finally {
                Posix.close(fd);
            }
        }
    }

    /** A checkpoint, the last sector written, and the oracle: the last block must be the one marked. */
    private static void lastSectorIsMarked(OracleRun run, Path written, SplittableRandom rnd) throws Exception {
        writeLastSector(written, rnd);
        ContentOracle.Changes[] changes = run.check("its last sector", false);
        for (int i = 0; i < changes.length; i++) {
            assertEquals(new ContentOracle.Changes(1, 1), changes[i], run.views().get(i).what()
                    + ": the last sector is one sector in one block");
        }
    }

    /**
     * Reloads the module with the minimum shift of {@code asked}, puts a
     * file system in a partition of {@code sectors} at 1 MiB, tracks the
     * partition and the disk (both must get the block asked for), and runs
     * the oracle on the partition, its last sector included.
     */
    private void fileSystemOnBlocksOf(int asked, FileSystems.Type type, long sectors, SplittableRandom rnd)
            throws Exception {
        reloadModule(List.of("tracking_block_minimum_shift=" + Integer.numberOfTrailingZeros(asked)));
        assertNotEquals(0, sectors * 512 % asked, "the partition must end inside a block");
        Mbr.partition(DISK, new Mbr.Part(P_START, sectors));
        Path p = Guest.partition(DISK, 1);
        FileSystems.mkfs(type, p);
        Path mnt = mount(type, p, "");
        FsWorkload w = new FsWorkload(mnt, rnd.split()).populate(POPULATE);
        Guest.runOk("sync");
        DeviceId part = attach(p);
        DeviceId disk = attach(DISK);
        for (CbtInfo info : List.of(checkInfo(part, p), checkInfo(disk, DISK))) {
            assertEquals(asked, info.blockSize(), "the block size asked for: " + info);
        }
        OracleRun run = workloadThenTrim(List.of(mnt), List.of(w), List.of(View.whole(part, p,
                type.fsName() + " in " + p + " (" + sectors + " sectors), " + (asked >> 10) + " KiB blocks")));
        lastSectorIsMarked(run, p, rnd);
    }

    @Test
    @Order(1)
    void ext4On64KiBBlocksOfAPartitionWhoseSizeIsNoMultipleOfTheBlock(TestInfo ti) throws Exception {
        fileSystemOnBlocksOf(64 << 10, Type.EXT4, (100L << 11) + 5, Seeds.forTest(ti));
    }

    @Test
    @Order(2)
    void xfsOn1MiBBlocksOfAPartitionWhoseSizeIsNoMultipleOfTheBlock(TestInfo ti) throws Exception {
        fileSystemOnBlocksOf(1 << 20, Type.XFS, (96L << 11) + 3, Seeds.forTest(ti));
    }
}
