// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.internal.Errno;
import dev.blksnap.internal.Uapi;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Storage that grows (module/README.md, "Difference storage"): a file
 * storage starts with one step (an eighth of its limit, at least 4 MiB)
 * and grows under fio's writes up to what the copies need, the image
 * staying exact; a growth the file system has no room for caps the
 * storage, raises LOW_FREE_SPACE, then OVERFLOW (ENOSPC) once the room
 * it has is used, the origin keeping every write and the image failing
 * with EIO.
 */
@Order(26)
class StorageGrowthTest extends SnapshotItBase {
    private static final long MIB = 1 << 20;
    private static final long LIMIT = 48 * MIB;
    /** An eighth of {@link #LIMIT}. */
    private static final long STEP = LIMIT / 8;

    @Test
    void aFileStorageGrowsWhileFioWrites() throws Exception {
        // Less than half the limit is used: no LOW_FREE_SPACE (its margin).
        long devBytes = (debugLane() ? 12 : 20) * MIB;
        Path dev = loop("grow-origin", devBytes);
        stampAll(dev, 1);
        long id = snap.create(SCRATCH, LIMIT, false);
        add(id, dev);
        snap.take(id, true);
        Snapshots.Info before = snap.info(id);
        assertEquals(STEP, before.storageSize(), "a new storage holds one step: " + before);
        assertEquals(LIMIT, before.storageLimit(), before.toString());
        Snapshots.Device d = before.devices().get(0);
        int chunk = d.chunkSize();
        // One 4 KiB write in every chunk, 16 in flight: copies outrun a step.
        List<String> fio = List.of("fio", "--name=grow", "--filename=" + dev, "--ioengine=libaio", "--direct=1",
                "--iodepth=16", "--bs=4k", "--rw=write:" + (chunk - 4096), "--size=" + devBytes,
                "--verify=crc32c", "--verify_fatal=1", "--output-format=terse");
        Guest.Result r = Guest.run(fio, Map.of());
        assertEquals(0, r.exit(), "fio while the storage grows: " + r.describe(fio));
        Snapshots.Info after = snap.info(id);
        d = after.devices().get(0);
        System.out.printf("[grow] %d chunks of %d bytes stored; storage used %d, grew from %d to %d of %d%n",
                d.chunksStored(), chunk, after.storageUsed(), before.storageSize(), after.storageSize(),
                after.storageLimit());
        assertEquals(Uapi.SNAPSHOT_STATE_TAKEN, after.state(), "error " + Errno.name(after.error()));
        assertEquals(devBytes / chunk, d.chunksStored(), "every chunk written once is stored");
        assertEquals(devBytes, after.storageUsed(), "storage used");
        assertTrue(after.storageSize() >= after.storageUsed() && after.storageSize() <= LIMIT,
                "the storage grew to hold what was used, within its limit: " + after);
        assertEquals(0, after.storageSize() % STEP, "it grows by whole steps: " + after);
        long[] bad = {0};
        scan(d.imagePath(), (s, g) -> bad[0] += g == 1 ? 0 : 1);
        assertEquals(0, bad[0], "image sectors that differ from the instant of take");
        assertNull(snap.waitEvent(id, 0), "an event with " + (LIMIT - devBytes) + " bytes free");
        snap.destroy(id);
    }

    @Test
    void aFileSystemWithNoRoomToGrowOverflowsTheSnapshot() throws Exception {
        Path fs = Files.createDirectories(SCRATCH.resolve("small-fs"));
        Guest.runOk("mount", "-t", "tmpfs", "-o", "size=" + (STEP + STEP / 2), "blksnap-small", fs.toString());
        later(() -> Guest.run("umount", fs.toString()));
        Path dev = loop("nogrow-origin", 16 * MIB);
        stampAll(dev, 1);
        long id = snap.create(fs, LIMIT, false);
        add(id, dev);
        snap.take(id, true);
        Snapshots.Device d = snap.info(id).devices().get(0);
        long chunk = d.chunkSize() / Stamp.SECTOR;
        long chunks = Guest.sizeSectors(dev) / chunk;
        for (long c = 0; c < chunks; c++) {
            stampRange(dev, c * chunk, 1, 2);
        }
        Snapshots.Info info = snap.info(id);
        assertEquals(Uapi.SNAPSHOT_STATE_BROKEN, info.state(), "16 MiB of chunks into a file system of "
                + (STEP + STEP / 2) + " bytes: " + info);
        assertEquals(Errno.ENOSPC, info.error(), Errno.name(info.error()));
        assertEquals(STEP, info.storageSize(), "the one step the file system had room for: " + info);
        assertEquals(STEP, info.storageLimit(), "a storage that cannot grow is capped at its size: " + info);
        Snapshots.Event low = snap.waitEvent(id, 5000);
        assertNotNull(low, "no event");
        assertEquals(Uapi.EVENT_LOW_FREE_SPACE, low.code(), "LOW_FREE_SPACE when growth failed: " + low);
        Snapshots.Event over = snap.waitEvent(id, 5000);
        assertNotNull(over, "no OVERFLOW after LOW_FREE_SPACE");
        assertEquals(Uapi.EVENT_OVERFLOW, over.code(), over.toString());
        assertEquals(Errno.ENOSPC, over.error(), over.toString());
        assertEquals(STEP, over.limit(), over.toString());
        assertEquals(STEP / d.chunkSize() * d.chunkSize(), over.used(), "the step was used up: " + over);
        assertNull(snap.waitEvent(id, 100), "a third event");
        // The origin kept every write, and takes more.
        stampRange(dev, 0, 2048, 3);
        long[] bad = {0};
        scan(dev, (s, g) -> bad[0] += g == (s < 2048 ? 3 : s % chunk == 0 ? 2 : 1) ? 0 : 1);
        assertEquals(0, bad[0], "origin sectors lost by the overflow");
        int fd = Posix.open(d.imagePath(), Posix.O_RDONLY | Posix.O_DIRECT);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = Posix.aligned(a, 4096);
            java.io.IOException e = assertThrows(java.io.IOException.class, () -> Posix.pread(fd, buf, 0),
                    "an image read of an overflowed snapshot");
            assertTrue(e.getMessage().contains("errno " + Errno.EIO), e.getMessage());
        } finally {
            Posix.close(fd);
        }
        snap.destroy(id);
    }
}
