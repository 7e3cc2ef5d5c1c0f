// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.DeviceId;
import dev.blksnap.internal.Errno;
import dev.blksnap.internal.Uapi;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Faults beneath the difference storage (issue 11 §4). Each ends with the
 * snapshot broken, one CORRUPTED event naming the origin, EIO from the
 * image, and every write to the origin landed:
 * <ul>
 * <li>a storage device that stops answering (dm-delay holding its writes
 * {@value #STORAGE_DELAY_MS} ms): once the originals waiting for it fill
 * the copy memory (cow_memory_limit_mib=1), a copy waits at most
 * cow_memory_timeout_ms={@value #TIMEOUT_MS}, then the snapshot breaks with
 * ETIMEDOUT, and no write to the origin waits for the storage;</li>
 * <li>a storage device whose writes fail (dm-flakey, error_writes): EIO;</li>
 * <li>a storage file whose file system's device fails its writes: EIO.</li>
 * </ul>
 */
@Order(26)
class StorageFaultTest extends SnapshotItBase {
    private static final long MIB = 1 << 20;
    private static final int TIMEOUT_MS = 1000;
    private static final int STORAGE_DELAY_MS = 12_000;
    private static List<String> suiteParameters;

    @BeforeAll
    static void loadWithAShortWait() {
        Guest.ensureModuleLoaded();
        suiteParameters = Guest.loadedWith();
        List<String> args = new ArrayList<>(suiteParameters);
        args.add("cow_memory_limit_mib=1");
        args.add("cow_memory_timeout_ms=" + TIMEOUT_MS);
        Guest.reloadModule(args);
    }

    @AfterAll
    static void restore() {
        if (suiteParameters != null) {
            Guest.reloadModule(suiteParameters);
        }
    }

    @Test
    void aHungStorageBreaksTheSnapshotAndNeverHoldsTheOrigin() throws Exception {
        Path origin = loop("stall-origin", 16 * MIB);
        Path storage = InFlightWritesTest.delayed(loop("stall-storage", 16 * MIB), "blksnap-stall", STORAGE_DELAY_MS);
        later(() -> Guest.run("dmsetup", "remove", "--noudevsync", "blksnap-stall"));
        long id = takenOf(origin, storage);
        // One write to each chunk: each needs a copy; the first 16 fill 1 MiB
        // of originals that the storage will not take for 12 s.
        long[] slowestMs = {0};
        long allMs = writeEveryChunk(origin, id, slowestMs);
        System.out.printf("[storage-fault] hung storage: %d chunk writes in %d ms, the slowest %d ms;"
                + " storage writes take %d ms%n", chunks(origin, id), allMs, slowestMs[0], STORAGE_DELAY_MS);
        // Without the timeout, the slowest write waits the storage's 12 s.
        assertTrue(slowestMs[0] < STORAGE_DELAY_MS / 2, "a write to the origin waited for the hung storage: "
                + chunks(origin, id) + " writes took " + allMs + " ms, the slowest " + slowestMs[0] + " ms");
        brokenWith(id, origin, Errno.ETIMEDOUT);
        // Destroy waits for the storage writes still held by dm-delay.
        long d0 = System.nanoTime();
        snap.destroy(id);
        System.out.printf("[storage-fault] destroy took %d ms%n", (System.nanoTime() - d0) / 1_000_000);
    }

    @Test
    void aStorageDeviceThatFailsWritesBreaksTheSnapshot() throws Exception {
        Path origin = loop("flaky-origin", 16 * MIB);
        Path storageDisk = loop("flaky-storage", 16 * MIB);
        Path storage = linear(storageDisk, "blksnap-flaky-dev");
        long id = takenOf(origin, storage);
        failWrites("blksnap-flaky-dev", storageDisk);
        writeEveryChunk(origin, id, new long[1]);
        brokenWith(id, origin, Errno.EIO);
        snap.destroy(id);
    }

    @Test
    void aStorageFileWhoseDeviceFailsWritesBreaksTheSnapshot() throws Exception {
        Path origin = loop("flakyfs-origin", 16 * MIB);
        Path fsDisk = loop("flakyfs-disk", 64 * MIB);
        Path fsDev = linear(fsDisk, "blksnap-flaky-fs");
        FileSystems.mkfs(FileSystems.Type.EXT4, fsDev);
        Path dir = mount(fsDev, "ext4", "");
        Path file = dir.resolve("storage.img");
        Files.write(file, new byte[0]);
        stampAll(origin, 1);
        long id = snap.create(file, 16 * MIB, false);
        add(id, origin);
        snap.take(id, true);
        failWrites("blksnap-flaky-fs", fsDisk);
        writeEveryChunk(origin, id, new long[1]);
        brokenWith(id, origin, Errno.EIO);
        snap.destroy(id);
    }

    /** The origin stamped with generation 1, then a taken snapshot of it on {@code storage}. */
    private long takenOf(Path origin, Path storage) throws Exception {
        stampAll(origin, 1);
        long id = snap.create(storage, 0, false);
        add(id, origin);
        snap.take(id, true);
        return id;
    }

    private long chunks(Path origin, long id) {
        return Guest.sizeSectors(origin) / (snap.info(id).devices().get(0).chunkSize() / Stamp.SECTOR);
    }

    /** Stamps generation 2 on the first 4 KiB of every chunk; the time it took, the slowest write's in {@code slowestMs[0]}. */
    private long writeEveryChunk(Path origin, long id, long[] slowestMs) throws Exception {
        long chunk = snap.info(id).devices().get(0).chunkSize() / Stamp.SECTOR;
        long t0 = System.nanoTime();
        for (long c = 0; c < chunks(origin, id); c++) {
            long w0 = System.nanoTime();
            stampRange(origin, c * chunk, 8, 2);
            slowestMs[0] = Math.max(slowestMs[0], (System.nanoTime() - w0) / 1_000_000);
        }
        return (System.nanoTime() - t0) / 1_000_000;
    }

    /** The snapshot broke with {@code errno}, said so once, its image fails, the origin holds every write. */
    private void brokenWith(long id, Path origin, int errno) throws Exception {
        Snapshots.Info info = snap.info(id);
        assertEquals(Uapi.SNAPSHOT_STATE_BROKEN, info.state(), info.toString());
        assertEquals(errno, info.error(), Errno.name(info.error()));
        Snapshots.Event e = snap.waitEvent(id, 5000);
        assertNotNull(e, "no event after the snapshot broke");
        assertEquals(Uapi.EVENT_CORRUPTED, e.code(), e.toString());
        assertEquals(errno, e.error(), e.toString());
        assertEquals(DeviceId.of(origin), e.dev(), e.toString());
        assertNull(snap.waitEvent(id, 100), "one break, one event");
        Snapshots.Device d = info.devices().get(0);
        int fd = Posix.open(d.imagePath(), Posix.O_RDONLY | Posix.O_DIRECT);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = Posix.aligned(a, 4096);
            assertThrows(java.io.IOException.class, () -> Posix.pread(fd, buf, 0), "an image read of a broken snapshot");
        } finally {
            Posix.close(fd);
        }
        long chunk = d.chunkSize() / Stamp.SECTOR;
        long[] bad = {0};
        scan(origin, (s, g) -> bad[0] += g == (s % chunk < 8 ? 2 : 1) ? 0 : 1);
        assertEquals(0, bad[0], "origin sectors wrong after the storage failed");
        System.out.printf("[storage-fault] broken with %s: %s%n", Errno.name(errno), e);
    }

    /** A dm-linear device {@code name} over all of {@code dev}; removed after the test. */
    private Path linear(Path dev, String name) {
        long sectors = Guest.sizeSectors(dev);
        Guest.runOk("dmsetup", "create", name, "--noudevsync", "--table", "0 " + sectors + " linear " + dev + " 0");
        later(() -> Guest.run("dmsetup", "remove", "--noudevsync", name));
        String minor = Guest.runOk("dmsetup", "info", "-c", "--noheadings", "-o", "minor", name).trim();
        Path node = Path.of("/dev/dm-" + minor);
        Guest.waitUntil(node + " to appear", java.time.Duration.ofSeconds(10), () -> Files.exists(node));
        return node;
    }

    /** From now on every write to the device-mapper device {@code name} over {@code dev} fails (dm-flakey, always down). */
    private static void failWrites(String name, Path dev) {
        Guest.modprobe("dm-flakey");
        long sectors = Guest.sizeSectors(dev);
        Guest.runOk("dmsetup", "load", name, "--table",
                "0 " + sectors + " flakey " + dev + " 0 0 1 1 error_writes");
        Guest.runOk("dmsetup", "suspend", "--noudevsync", name);
        Guest.runOk("dmsetup", "resume", "--noudevsync", name);
    }
}
