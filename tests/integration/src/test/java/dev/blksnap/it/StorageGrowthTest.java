// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.internal.Errno;
import dev.blksnap.internal.Uapi;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Storage that grows, and storage added to a live snapshot (module/README.md,
 * "Snapshots" and "Snapshot events"): a file storage starts with one step
 * (an eighth of its limit, at least 4 MiB) and grows under fio's writes up
 * to what the copies need, the image staying exact; a growth the file
 * system has no room for caps the storage, raises LOW_FREE_SPACE, then
 * OVERFLOW (ENOSPC) once the room it has is used, the origin keeping every
 * write and the image failing with EIO; storage added (through the command
 * line) in answer to LOW_FREE_SPACE takes the copies that no longer fit,
 * re-arms the event, and the image stays exact; bad add-storage requests get
 * their exact errno.
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
        Snapshots.Info after = allStored(id, devBytes / chunk);
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
        // The debugfs line of the area counts the steps, and the copies that waited for one.
        String area = Files.readString(Path.of("/sys/kernel/debug/blksnap/snapshots")).lines()
                .filter(l -> l.startsWith("  area 0: tmpfile ")).findFirst().orElseThrow();
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("ready (\\d+) of (\\d+) bytes, grown (\\d+),"
                + " waits (\\d+)$").matcher(area);
        assertTrue(m.find(), area);
        assertEquals(after.storageSize(), Long.parseLong(m.group(1)), area);
        assertEquals(after.storageSize() / STEP - 1, Long.parseLong(m.group(3)), "steps grown: " + area);
        System.out.printf("[grow] %s%n", area.strip());
        long[] bad = {0};
        scan(d.imagePath(), (s, g) -> bad[0] += g == 1 ? 0 : 1);
        assertEquals(0, bad[0], "image sectors that differ from the instant of take");
        assertNull(snap.waitEvent(id, 0), "an event with " + (LIMIT - devBytes) + " bytes free");
        snap.destroy(id);
    }

    /** The snapshot's info once its one device stored {@code chunks} chunks (stores run after the writes return). */
    private Snapshots.Info allStored(long id, long chunks) {
        Guest.waitUntil(chunks + " chunks stored", java.time.Duration.ofSeconds(30),
                () -> snap.info(id).devices().get(0).chunksStored() >= chunks);
        return snap.info(id);
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

    @Test
    void storageAddedOnLowFreeSpaceTakesTheCopies(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        long first = 8 * MIB;
        SmallStorage small = takenOnSmallStorage("add-origin", 20 * MIB, first);
        Path dev = small.dev();
        long id = small.id();
        Snapshots.Device d = snap.info(id).devices().get(0);
        long chunk = d.chunkSize() / Stamp.SECTOR;
        long chunks = Guest.sizeSectors(dev) / chunk;
        long[] written = new long[(int) chunks];
        // Half of 8 MiB is the margin: LOW at the allocation that leaves less than 4 MiB.
        long lowAt = first / 2 / d.chunkSize() + 1;
        long c = 0;
        for (; c < lowAt; c++) {
            if (c == lowAt - 1) {
                assertNull(snap.waitEvent(id, 200), "an event with " + c + " chunks stored");
            }
            written[(int) c] = c * chunk + rnd.nextLong(chunk);
            stampRange(dev, written[(int) c], 1, 2);
        }
        Snapshots.Event low = snap.waitEvent(id, 5000);
        assertNotNull(low, "no LOW_FREE_SPACE after " + c + " chunks into " + first);
        assertEquals(Uapi.EVENT_LOW_FREE_SPACE, low.code(), low.toString());
        assertEquals(first, low.limit(), low.toString());
        assertEquals(lowAt * d.chunkSize(), low.used(), "LOW at the allocation that left less than half: " + low);
        CliTest.Run r = CliTest.cli("snapshot", "add-storage", Long.toString(id), SCRATCH.toString(), "--limit",
                "16M", "--json");
        assertEquals(0, r.exit(), r.err());
        assertEquals(first + 16 * MIB, r.json().get("storageLimit").asLong(), r.out());
        for (; c < chunks; c++) {
            written[(int) c] = c * chunk + rnd.nextLong(chunk);
            stampRange(dev, written[(int) c], 1, 2);
        }
        Snapshots.Info info = allStored(id, chunks);
        System.out.printf("[add-storage] LOW after %d chunks; %d chunks stored in %d of %d bytes%n", lowAt,
                info.devices().get(0).chunksStored(), info.storageUsed(), info.storageLimit());
        assertEquals(Uapi.SNAPSHOT_STATE_TAKEN, info.state(), "error " + Errno.name(info.error()));
        assertEquals(chunks * d.chunkSize(), info.storageUsed(), info.toString());
        assertEquals(first + 16 * MIB, info.storageLimit(), info.toString());
        String debugfs = Files.readString(Path.of("/sys/kernel/debug/blksnap/snapshots"));
        assertTrue(debugfs.contains("  area 0: file ") && debugfs.contains("  area 1: tmpfile "), debugfs);
        // Re-armed: the new margin is half of 24 MiB, which the copies after the add went below.
        Snapshots.Event again = snap.waitEvent(id, 1000);
        assertNotNull(again, "LOW_FREE_SPACE was not re-armed by the added storage");
        assertEquals(Uapi.EVENT_LOW_FREE_SPACE, again.code(), again.toString());
        assertEquals(first + 16 * MIB, again.limit(), again.toString());
        assertEquals(first + 16 * MIB - 12 * MIB + d.chunkSize(), again.used(), "raised by the allocation that"
                + " left less than 12 MiB: " + again);
        assertNull(snap.waitEvent(id, 100), "a third event");
        long[] bad = {0};
        scan(d.imagePath(), (s, g) -> bad[0] += g == 1 ? 0 : 1);
        assertEquals(0, bad[0], "image sectors that differ from the instant of take");
        java.util.Set<Long> second = new java.util.HashSet<>();
        for (long w : written) {
            second.add(w);
        }
        scan(dev, (s, g) -> bad[0] += g == (second.contains(s) ? 2 : 1) ? 0 : 1);
        assertEquals(0, bad[0], "origin sectors that lost a write");
        snap.destroy(id);
    }

    @Test
    void badAddStorageRequestsGetTheirErrno() throws Exception {
        SmallStorage small = takenOnSmallStorage("add-bad", 8 * MIB, 4 * MIB);
        long id = small.id();
        Path own = SCRATCH.resolve("add-bad-storage.img");
        Path file = SCRATCH.resolve("add-bad-more.img");
        Files.write(file, new byte[0]);
        assertEquals(-Errno.ENOENT, snap.addStorage(id + 1000, SCRATCH, MIB), "no such snapshot");
        int dir = Posix.open(SCRATCH, Posix.O_RDONLY);
        try {
            assertEquals(-Errno.EINVAL, snap.addStorageRaw(id, dir, 1, MIB, 0), "flags 1");
            assertEquals(-Errno.EINVAL, snap.addStorageRaw(id, dir, 1 << 31, MIB, 0), "flags 1<<31");
            assertEquals(-Errno.EINVAL, snap.addStorageRaw(id, dir, 0, MIB, 1), "reserved 1");
            assertEquals(-Errno.EINVAL, snap.addStorageRaw(id, dir, 0, 0, 0), "a directory with limit 0");
            assertEquals(-Errno.EINVAL, snap.addStorageRaw(id, dir, 0, 100, 0), "a limit below 4096");
        } finally {
            Posix.close(dir);
        }
        assertEquals(-Errno.EBADF, snap.addStorageRaw(id, -1, 0, MIB, 0), "fd -1");
        int ro = Posix.open(file, Posix.O_RDONLY);
        try {
            assertEquals(-Errno.EBADF, snap.addStorageRaw(id, ro, 0, MIB, 0), "a file open read-only");
        } finally {
            Posix.close(ro);
        }
        assertEquals(-Errno.EOPNOTSUPP, snap.addStorage(id, Path.of("/dev/null"), MIB), "/dev/null");
        assertEquals(-Errno.EBUSY, snap.addStorage(id, own, MIB), "the snapshot's own storage file");
        assertEquals(-Errno.EDEADLK, snap.addStorage(id, small.dev(), 0), "the device in the snapshot");
        assertEquals(-Errno.ENOSPC, snap.addStorage(id, loop("add-bad-dev", MIB), 2 * MIB), "a limit above the device");
        long other = snap.create(SCRATCH, MIB, false);
        assertEquals(-Errno.EBUSY, snap.addStorage(other, own, MIB), "another snapshot's storage file");
        snap.destroy(other);
        // Up to 16 storages: 15 more.
        for (int i = 1; i < Uapi.SNAPSHOT_MAX_STORAGES; i++) {
            assertEquals(0, snap.addStorage(id, SCRATCH, 4096), "storage " + (i + 1));
        }
        assertEquals(-Errno.E2BIG, snap.addStorage(id, SCRATCH, 4096), "a 17th storage");
        assertEquals(4 * MIB + 15 * 4096, snap.info(id).storageLimit(), "the limits added up");
        assertEquals(Uapi.SNAPSHOT_STATE_TAKEN, snap.info(id).state(), "bad requests left the snapshot as it was");
        // A broken snapshot takes no storage.
        long chunk = snap.info(id).devices().get(0).chunkSize() / Stamp.SECTOR;
        for (long c = 0; c < Guest.sizeSectors(small.dev()) / chunk; c++) {
            stampRange(small.dev(), c * chunk, 1, 2);
        }
        assertEquals(Uapi.SNAPSHOT_STATE_BROKEN, snap.info(id).state(), "8 MiB of chunks into 4 MiB + 60 KiB");
        assertEquals(-Errno.EALREADY, snap.addStorage(id, file, MIB), "a broken snapshot");
        snap.destroy(id);
    }
}
