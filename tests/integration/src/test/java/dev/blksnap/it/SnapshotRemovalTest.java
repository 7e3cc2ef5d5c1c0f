// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.DeviceId;
import dev.blksnap.internal.Errno;
import dev.blksnap.internal.Uapi;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Things vanish under a snapshot in use: the snapshot is destroyed while
 * its image is read, its device is removed (del_gendisk of a null_blk
 * device), its storage device is removed. Each time: no hang, no oops (the
 * VM bench judges the kernel log), a clear result (EIO on the image, the
 * snapshot BROKEN with the errno the header names), writes to the remaining
 * devices complete, and destroy still works.
 */
@Order(23)
class SnapshotRemovalTest extends SnapshotItBase {
    private static final long MIB = 1 << 20;

    /** Reads the image at random until told to stop or a read fails; returns the reads done. */
    private static Thread reader(Path image, long sectors, SplittableRandom rnd, AtomicBoolean stop,
            AtomicLong reads, ConcurrentLinkedQueue<String> failures) {
        return Thread.ofPlatform().name("image-reader").start(() -> {
            try (Arena a = Arena.ofConfined()) {
                int fd = Posix.open(image, Posix.O_RDONLY | Posix.O_DIRECT);
                try {
                    MemorySegment buf = Posix.aligned(a, 256 * 1024);
                    while (!stop.get()) {
                        long n = 8 * (1 + rnd.nextInt(64));
                        long from = rnd.nextLong((sectors - n) / 8) * 8;
                        Posix.pread(fd, buf.asSlice(0, n * 512), from * 512);
                        reads.incrementAndGet();
                    }
                } finally {
                    Posix.close(fd);
                }
            } catch (Exception e) {
                failures.add(e.getMessage());
            }
        });
    }

    /** Writes 4 KiB at random until told to stop; counts writes and their failures. */
    private static Thread writer(Path dev, SplittableRandom rnd, AtomicBoolean stop, AtomicLong writes,
            AtomicLong failed) {
        return Thread.ofPlatform().name("device-writer").start(() -> {
            try (Arena a = Arena.ofConfined()) {
                int fd = Posix.open(dev, Posix.O_RDWR | Posix.O_DIRECT);
                try {
                    MemorySegment buf = Posix.aligned(a, 4096);
                    long blocks = Guest.sizeSectors(dev) / 8;
                    while (!stop.get()) {
                        long b = rnd.nextLong(blocks);
                        Stamp.fill(buf, b * 8, 8, 7);
                        if (Posix.pwriteRaw(fd, buf, b * 4096) != 4096) {
                            failed.incrementAndGet();
                        }
                        writes.incrementAndGet();
                    }
                } finally {
                    Posix.close(fd);
                }
            } catch (Exception e) {
                failed.incrementAndGet();
            }
        });
    }

    private static void waitFor(String what, AtomicLong n, long atLeast) {
        Guest.waitUntil(what, Duration.ofSeconds(120), () -> n.get() >= atLeast);
    }

    @Test
    void destroyWhileReadingAndDevicesRemovedLeaveClearResults(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);

        // 1. Destroyed while its image is read and its device written.
        Path dev = loop("destroyed", 64 * MIB);
        stampAll(dev, 1);
        long id = snap.create(SCRATCH, 64 * MIB, false);
        add(id, dev);
        snap.take(id, true);
        Path image = snap.info(id).devices().get(0).imagePath();
        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong reads = new AtomicLong();
        AtomicLong writes = new AtomicLong();
        AtomicLong failedWrites = new AtomicLong();
        ConcurrentLinkedQueue<String> readFailures = new ConcurrentLinkedQueue<>();
        List<Thread> readers = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            readers.add(reader(image, Guest.sizeSectors(dev), rnd.split(), stop, reads, readFailures));
        }
        Thread w = writer(dev, rnd.split(), stop, writes, failedWrites);
        waitFor("image reads", reads, 50);
        waitFor("writes", writes, 50);
        long t0 = System.nanoTime();
        snap.destroy(id);
        long destroyMs = (System.nanoTime() - t0) / 1_000_000;
        for (Thread r : readers) {
            r.join(Duration.ofSeconds(30));
            assertTrue(!r.isAlive(), "an image reader hangs after destroy");
        }
        long writesAfter = writes.get();
        waitFor("writes after destroy", writes, writesAfter + 50);
        stop.set(true);
        w.join();
        assertEquals(2, readFailures.size(), "both readers must get an error once the image is gone: "
                + readFailures);
        assertEquals(0, failedWrites.get(), "writes to the device failed");
        System.out.printf("[removal] destroyed in %d ms under %d image reads and %d writes; readers got %s%n",
                destroyMs, reads.get(), writes.get(), readFailures);

        // 2. Its device removed (del_gendisk) while in use.
        Path nb = nullb("nbsnaporigin", 64);
        stampAll(nb, 1);
        id = snap.create(SCRATCH, 64 * MIB, false);
        add(id, nb);
        snap.take(id, true);
        DeviceId nbId = DeviceId.of(nb);
        image = snap.info(id).devices().get(0).imagePath();
        stop.set(false);
        reads.set(0);
        writes.set(0);
        failedWrites.set(0);
        readFailures.clear();
        Thread r = reader(image, Guest.sizeSectors(nb), rnd.split(), stop, reads, readFailures);
        w = writer(nb, rnd.split(), stop, writes, failedWrites);
        waitFor("image reads", reads, 20);
        waitFor("writes", writes, 20);
        powerOff(nullbDir("nbsnaporigin"));
        r.join(Duration.ofSeconds(30));
        assertTrue(!r.isAlive(), "an image reader hangs after its device was removed");
        stop.set(true);
        w.join(Duration.ofSeconds(30));
        assertTrue(!w.isAlive(), "a writer of the removed device hangs");
        Snapshots.Info info = snap.info(id);
        assertEquals(Uapi.SNAPSHOT_STATE_BROKEN, info.state());
        assertEquals(Errno.ENODEV, info.error(), Errno.name(info.error()));
        assertEquals(Errno.ENODEV, info.device(nbId).error());
        System.out.printf("[removal] device removed: snapshot broken with %s, reader got %s%n",
                Errno.name(info.error()), readFailures);
        snap.destroy(id);

        // 3. Its storage device removed while copies go on.
        Path st = nullb("nbsnapstorage", 64);
        Path dev3 = loop("storage-gone", 64 * MIB);
        stampAll(dev3, 1);
        id = snap.create(st, 0, false);
        add(id, dev3);
        snap.take(id, true);
        stop.set(false);
        writes.set(0);
        failedWrites.set(0);
        w = writer(dev3, rnd.split(), stop, writes, failedWrites);
        waitFor("writes", writes, 20);
        powerOff(nullbDir("nbsnapstorage"));
        long n = writes.get();
        waitFor("writes after the storage went", writes, n + 200);
        stop.set(true);
        w.join();
        assertEquals(0, failedWrites.get(), "writes to the device failed when its snapshot's storage went");
        info = snap.info(id);
        assertEquals(Uapi.SNAPSHOT_STATE_BROKEN, info.state(), "after the storage was removed");
        assertEquals(Errno.EIO, info.error(), Errno.name(info.error()));
        System.out.printf("[removal] storage removed: snapshot broken with %s after %d writes, all of them done%n",
                Errno.name(info.error()), writes.get());
        snap.destroy(id);
        assertTrue(Files.exists(dev3));
    }
}
