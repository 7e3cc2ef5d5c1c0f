// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.DeviceId;
import dev.blksnap.internal.Errno;
import dev.blksnap.internal.Uapi;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Snapshot events (BLKSNAP_IOCTL_SNAPSHOT_WAIT_EVENT, module/README.md):
 * nothing to report waits out its timeout (ETIMEDOUT) and a wait ends at
 * destroy (ENOENT); an overflow is reported once, with ENOSPC; a removed
 * device breaks the snapshot with CORRUPTED, ENODEV and that device.
 * Low free space is not raised yet (the design in module/README.md).
 */
@Order(25)
class SnapshotEventTest extends SnapshotItBase {
    private static final long MIB = 1 << 20;

    @Test
    void timeoutsAndDestroyEndTheWait() throws Exception {
        Path dev = loop("ev-wait", 8 * MIB);
        long id = snap.create(SCRATCH, 8 * MIB, false);
        add(id, dev);
        snap.take(id, true);
        assertNull(snap.waitEvent(id, 0), "an event with nothing to report");
        long t0 = System.nanoTime();
        assertNull(snap.waitEvent(id, 300), "an event with nothing to report");
        long waited = (System.nanoTime() - t0) / 1_000_000;
        assertTrue(waited >= 290, "a 300 ms wait returned after " + waited + " ms");
        AtomicReference<Object> out = new AtomicReference<>();
        Thread waiter = Thread.ofPlatform().name("event-waiter").start(() -> {
            try (Snapshots other = new Snapshots()) {
                out.set(other.waitEvent(id, 60_000));
            } catch (Throwable e) {
                out.set(e);
            }
        });
        Thread.sleep(300);
        long d0 = System.nanoTime();
        snap.destroy(id);
        waiter.join(Duration.ofSeconds(10));
        assertTrue(!waiter.isAlive(), "a wait goes on after destroy");
        assertTrue(out.get() instanceof Snapshots.Failed f && f.errno == Errno.ENOENT,
                "a wait ended by destroy: " + out.get());
        System.out.printf("[events] 300 ms wait took %d ms; a wait ended %d ms after destroy began%n", waited,
                (System.nanoTime() - d0) / 1_000_000);
        Snapshots.Failed gone = org.junit.jupiter.api.Assertions.assertThrows(Snapshots.Failed.class,
                () -> snap.waitEvent(id, 0));
        assertEquals(Errno.ENOENT, gone.errno);
    }

    @Test
    void overflowIsReportedOnce(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        Path dev = loop("ev-overflow", 16 * MIB);
        stampAll(dev, 1);
        Path storage = SCRATCH.resolve("ev-small.img");
        Files.write(storage, new byte[0]);
        long id = snap.create(storage, 2 * MIB, false);
        add(id, dev);
        snap.take(id, true);
        long chunk = snap.info(id).devices().get(0).chunkSize() / Stamp.SECTOR;
        for (long c = 0; c < Guest.sizeSectors(dev) / chunk; c++) {
            stampRange(dev, c * chunk + rnd.nextLong(chunk), 1, 2);
        }
        assertEquals(Uapi.SNAPSHOT_STATE_BROKEN, snap.info(id).state());
        Snapshots.Event e = snap.waitEvent(id, 5000);
        assertNotNull(e, "no event after the overflow");
        assertEquals(Uapi.EVENT_OVERFLOW, e.code(), e.toString());
        assertEquals(Errno.ENOSPC, e.error(), e.toString());
        assertEquals(2 * MIB, e.limit(), e.toString());
        assertEquals(0, e.lost(), e.toString());
        assertNull(snap.waitEvent(id, 200), "a second event after one overflow");
        snap.destroy(id);
    }

    @Test
    void aRemovedDeviceIsNamed() throws Exception {
        Path nb = nullb("nbevent", 32);
        long id = snap.create(SCRATCH, 32 * MIB, false);
        add(id, nb);
        snap.take(id, true);
        DeviceId nbId = DeviceId.of(nb);
        powerOff(nullbDir("nbevent"));
        Snapshots.Event e = snap.waitEvent(id, 10_000);
        assertNotNull(e, "no event after the device was removed");
        assertEquals(Uapi.EVENT_CORRUPTED, e.code(), e.toString());
        assertEquals(Errno.ENODEV, e.error(), e.toString());
        assertEquals(nbId, e.dev(), e.toString());
        snap.destroy(id);
    }
}
