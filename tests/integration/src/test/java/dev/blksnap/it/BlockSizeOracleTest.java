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
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

/**
 * The content oracle with tracking blocks larger than the suite's 4 KiB
 * (64 KiB, the module's default, and 1 MiB), on devices whose size is not
 * a multiple of the block. The module is reloaded with the minimum shift
 * each test asks for, and the block size is checked against what was
 * asked, not read back; the last, partial block must be tracked like any
 * other.
 */
@Order(22)
class BlockSizeOracleTest extends OracleTestBase {
    private static final Path DISK = Guest.disk(2);
    private static final long P_START = 2048;
    private static final long P_SIZE = (100L << 11) + 5;  // 100 MiB and 5 sectors
    private static List<String> suiteParameters;

    @BeforeAll
    static void remember() {
        Guest.ensureModuleLoaded();
        suiteParameters = Guest.loadedWith();
    }

    @AfterAll
    static void restore() throws Exception {
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

    @Test
    @Order(1)
    void ext4On64KiBBlocksOfAPartitionWhoseSizeIsNoMultipleOfTheBlock(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        int asked = 64 << 10;
        reloadModule(List.of("tracking_block_minimum_shift=" + Integer.numberOfTrailingZeros(asked)));
        Mbr.partition(DISK, new Mbr.Part(P_START, P_SIZE));
        Path p = Guest.partition(DISK, 1);
        FileSystems.mkfs(Type.EXT4, p);
        Path mnt = mount(Type.EXT4, p, "");
        FsWorkload w = new FsWorkload(mnt, rnd.split()).populate(20);
        Guest.runOk("sync");
        DeviceId part = attach(p);
        DeviceId disk = attach(DISK);
        for (CbtInfo info : List.of(freshInfo(part, p), freshInfo(disk, DISK))) {
            assertEquals(asked, info.blockSize(), "the block size asked for: " + info);
        }
        assertNotEquals(0, P_SIZE * 512 % asked, "the partition must end inside a block");
        OracleRun run = workloadThenTrim(List.of(mnt), List.of(w), List.of(
                View.whole(part, p, "ext4 in " + p + " (" + P_SIZE + " sectors), 64 KiB blocks")));
        lastSectorIsMarked(run, p, rnd);
    }

    @Test
    @Order(2)
    void xfsOn1MiBBlocksOfALoopDeviceWhoseSizeIsNoMultipleOfTheBlock(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        int asked = 1 << 20;
        reloadModule(List.of("tracking_block_minimum_shift=" + Integer.numberOfTrailingZeros(asked)));
        Guest.modprobe("loop");
        Path file = Path.of("/tmp/blksnap-oracle-blocks.img");
        long bytes = (96L << 20) + 1536;  // 96 MiB and 3 sectors
        Guest.runOk("truncate", "-s", Long.toString(bytes), file.toString());
        Path loop = Path.of(Guest.runOk("losetup", "-f", "--show", file.toString()).strip());
        try {
            FileSystems.mkfs(Type.XFS, loop);
            Path mnt = mount(Type.XFS, loop, "");
            FsWorkload w = new FsWorkload(mnt, rnd.split()).populate(20);
            Guest.runOk("sync");
            DeviceId id = attach(loop);
            CbtInfo info = freshInfo(id, loop);
            assertEquals(asked, info.blockSize(), "the block size asked for: " + info);
            assertNotEquals(0, bytes % asked, "the device must end inside a block");
            OracleRun run = workloadThenTrim(List.of(mnt), List.of(w),
                    List.of(View.whole(id, loop, "xfs on " + loop + " (" + bytes + " bytes), 1 MiB blocks")));
            lastSectorIsMarked(run, loop, rnd);
        } finally {
            unmountLeftovers();
            Guest.run("losetup", "-d", loop.toString());
            Files.deleteIfExists(file);
        }
    }
}
