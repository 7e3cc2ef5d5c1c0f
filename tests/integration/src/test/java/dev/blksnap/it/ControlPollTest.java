// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.DeviceId;
import dev.blksnap.internal.Uapi;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * poll() on the control file (module/README.md, "Snapshot events",
 * BLKSNAP_FEATURE_POLL): readable while a snapshot created through that
 * file, kept or not, has an event no one has read; a poll blocked before
 * the event wakes; another control file does not see it; an event read
 * through any file no longer counts.
 */
@Order(25)
class ControlPollTest extends SnapshotItBase {
    private static final long MIB = 1 << 20;

    @Test
    void pollIsReadableWhileASnapshotOfThisFileHasAnEventToRead() throws Exception {
        assertTrue(ctl.version().hasPoll(), "BLKSNAP_FEATURE_POLL");
        SmallStorage small = takenOnSmallStorage("poll-origin", 8 * MIB, 2 * MIB);
        long id = small.id();
        int fd = snap.fd();
        assertEquals(0, Posix.pollIn(fd, 0), "no event yet");
        try (Snapshots other = new Snapshots()) {
            // A poll that is waiting when the event comes wakes with it.
            AtomicInteger woke = new AtomicInteger(-1);
            Thread poller = Thread.ofPlatform().start(() -> woke.set(Posix.pollIn(fd, 30_000)));
            Thread.sleep(200);
            long chunk = snap.info(id).devices().get(0).chunkSize() / Stamp.SECTOR;
            // LOW_FREE_SPACE once more than half of the 2 MiB is used; then OVERFLOW.
            for (long c = 0; c * chunk * Stamp.SECTOR < 4 * MIB; c++) {
                stampRange(small.dev(), c * chunk, 1, 2);
            }
            poller.join(20_000);
            assertEquals(Posix.POLLIN, woke.get(), "the blocked poll woke readable");
            assertEquals(0, Posix.pollIn(other.fd(), 0), "another control file does not see this file's snapshot");
            Snapshots.Event low = snap.waitEvent(id, 0);
            assertNotNull(low);
            assertEquals(Uapi.EVENT_LOW_FREE_SPACE, low.code(), low.toString());
            assertEquals(Posix.POLLIN, Posix.pollIn(fd, 0), "the OVERFLOW is still to read");
            // Read through another file: it no longer counts here either.
            Snapshots.Event over = other.waitEvent(id, 0);
            assertNotNull(over);
            assertEquals(Uapi.EVENT_OVERFLOW, over.code(), over.toString());
            assertEquals(0, Posix.pollIn(fd, 0), "every event read");

            // A kept snapshot counts for the file that created it.
            Path dev = loop("poll-kept", 4 * MIB);
            stampAll(dev, 1);
            Path storage = SCRATCH.resolve("poll-kept-storage.img");
            Files.write(storage, new byte[0]);
            long kept = other.create(storage, MIB, true);
            other.add(kept, dev);
            willDetach(DeviceId.of(dev));
            other.take(kept, true);
            stampAll(dev, 2);
            assertEquals(Posix.POLLIN, Posix.pollIn(other.fd(), 5_000), "the kept snapshot's events");
            assertEquals(0, Posix.pollIn(fd, 0), "not this file's snapshot");
            other.destroy(kept);
            assertEquals(0, Posix.pollIn(other.fd(), 0), "a destroyed snapshot's events are gone");
        }
        snap.destroy(id);
    }
}
