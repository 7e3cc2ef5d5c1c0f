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
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A storage device that stops answering (dm-delay holding its writes for
 * {@value #STORAGE_DELAY_MS} ms) must not hold the origin's writes: once the
 * originals waiting for it fill the copy memory (cow_memory_limit_mib=1),
 * a copy waits at most cow_memory_timeout_ms={@value #TIMEOUT_MS}, then the
 * snapshot breaks with ETIMEDOUT (a CORRUPTED event naming the device),
 * the image fails with EIO, and every write to the origin lands, none of
 * them waiting for the storage.
 */
@Order(26)
class SnapshotStallTest extends SnapshotItBase {
    private static final long MIB = 1 << 20;
    private static final int TIMEOUT_MS = 1000;
    private static final int STORAGE_DELAY_MS = 12_000;
    private static final String DM_NAME = "blksnap-stall";
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
        stampAll(origin, 1);
        Path storage = InFlightWritesTest.delayed(loop("stall-storage", 16 * MIB), DM_NAME, STORAGE_DELAY_MS);
        later(() -> Guest.run("dmsetup", "remove", "--noudevsync", DM_NAME));
        long id = snap.create(storage, 0, false);
        add(id, origin);
        snap.take(id, true);
        Snapshots.Device d = snap.info(id).devices().get(0);
        long chunk = d.chunkSize() / Stamp.SECTOR;
        long chunks = Guest.sizeSectors(origin) / chunk;
        // One write to each chunk: each needs a copy; the first 16 fill 1 MiB
        // of originals that the storage will not take for 12 s.
        long slowestMs = 0;
        long t0 = System.nanoTime();
        for (long c = 0; c < chunks; c++) {
            long w0 = System.nanoTime();
            stampRange(origin, c * chunk, 8, 2);
            slowestMs = Math.max(slowestMs, (System.nanoTime() - w0) / 1_000_000);
        }
        long allMs = (System.nanoTime() - t0) / 1_000_000;
        System.out.printf("[stall] %d chunk writes in %d ms, the slowest %d ms; storage writes take %d ms%n",
                chunks, allMs, slowestMs, STORAGE_DELAY_MS);
        assertTrue(allMs < STORAGE_DELAY_MS / 2, "the origin's writes waited for the hung storage: "
                + chunks + " writes took " + allMs + " ms, the slowest " + slowestMs + " ms");
        Snapshots.Info info = snap.info(id);
        assertEquals(Uapi.SNAPSHOT_STATE_BROKEN, info.state(), info.toString());
        assertEquals(Errno.ETIMEDOUT, info.error(), Errno.name(info.error()));
        Snapshots.Event e = snap.waitEvent(id, 5000);
        assertNotNull(e, "no event after the snapshot broke");
        assertEquals(Uapi.EVENT_CORRUPTED, e.code(), e.toString());
        assertEquals(Errno.ETIMEDOUT, e.error(), e.toString());
        assertEquals(DeviceId.of(origin), e.dev(), e.toString());
        int fd = Posix.open(d.imagePath(), Posix.O_RDONLY | Posix.O_DIRECT);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = Posix.aligned(a, 4096);
            assertThrows(java.io.IOException.class, () -> Posix.pread(fd, buf, 0), "an image read of a broken snapshot");
        } finally {
            Posix.close(fd);
        }
        long[] bad = {0};
        scan(origin, (s, g) -> bad[0] += g == (s % chunk < 8 ? 2 : 1) ? 0 : 1);
        assertEquals(0, bad[0], "origin sectors wrong after the storage hung");
        // Destroy waits for the storage writes still held by dm-delay.
        long d0 = System.nanoTime();
        snap.destroy(id);
        System.out.printf("[stall] destroy took %d ms%n", (System.nanoTime() - d0) / 1_000_000);
    }
}
