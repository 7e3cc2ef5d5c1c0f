// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.BlksnapControl;
import dev.blksnap.CbtInfo;
import dev.blksnap.DeviceId;
import dev.blksnap.InvalidRequestException;
import dev.blksnap.NotTrackedException;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A backup agent polling {@code cbt info} and reading maps must never make
 * the administrator's commands fail with EBUSY: the module reads a tracked
 * device's geometry through a reference to it, never by opening it. dm
 * remove fails while the dm device is open, BLKRRPART while a partition is
 * open; both are retried here many times while another thread calls CBT
 * ioctls on the tracker in a tight loop.
 */
@Order(5)
class NotInTheWayTest extends ItBase {
    private static final int ROUNDS = 20;
    private static final int REREADS = 400;
    private static final long BLKRRPART = 0x125f;
    private static final int EBUSY = 16;
    private final Path disk = Guest.disk(2);

    /** Calls cbt info and read on one tracker in a loop, from its own control handle, until closed. */
    private static final class Poller implements AutoCloseable {
        final AtomicBoolean stop = new AtomicBoolean();
        final AtomicLong calls = new AtomicLong();
        final AtomicReference<Throwable> error = new AtomicReference<>();
        final Thread thread;

        Poller(DeviceId id) {
            thread = Thread.ofPlatform().name("poller " + id).start(() -> {
                try (BlksnapControl c = BlksnapControl.open()) {
                    while (!stop.get()) {
                        try {
                            c.cbtInfo(id);
                            c.readMap(id, 0, new byte[64], 0, 64);
                        } catch (NotTrackedException gone) {
                            // the device went away: keep asking until told to stop
                        } catch (InvalidRequestException shrunk) {
                            // ERANGE: dm sets a removed device's size to 0 before deleting it
                        }
                        calls.incrementAndGet();
                    }
                } catch (Throwable t) {
                    error.set(t);
                }
            });
        }

        void awaitCalls(long n) {
            long target = calls.get() + n;
            Guest.waitUntil(n + " more CBT calls", Duration.ofSeconds(30),
                    () -> calls.get() >= target || error.get() != null);
        }

        @Override
        public void close() {
            stop.set(true);
            try {
                thread.join(Duration.ofSeconds(30));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
            assertNull(error.get(), () -> "the poller failed: " + error.get());
        }
    }

    @Test
    @Order(1)
    void dmsetupRemoveOfATrackedDeviceSucceedsWhileItIsPolled() throws Exception {
        Guest.modprobe("dm-mod");
        long sectors = Guest.sizeSectors(disk);
        long polls = 0;
        for (int round = 0; round < ROUNDS; round++) {
            String name = "blksnap-nitw";
            Guest.runOk("dmsetup", "create", name, "--noudevsync", "--table", "0 " + sectors + " linear " + disk + " 0");
            boolean removed = false;
            try {
                String minor = Guest.runOk("dmsetup", "info", "-c", "--noheadings", "-o", "minor", name).trim();
                Path dm = Path.of("/dev/dm-" + minor);
                Guest.waitUntil(dm + " to appear", Duration.ofSeconds(10), () -> Files.exists(dm));
                DeviceId id = DeviceId.of(dm);
                ctl.attach(id);
                try (Poller p = new Poller(id)) {
                    p.awaitCalls(50);
                    Guest.Result r = Guest.run("dmsetup", "remove", "--noudevsync", name);
                    assertEquals(0, r.exit(), () -> "dmsetup remove of a tracked device failed while its map"
                            + " was polled: " + r.stderr());
                    removed = true;
                    polls += p.calls.get();
                }
                assertFalse(ctl.trackers().contains(id), "the tracker of a removed dm device is still attached");
            } finally {
                if (!removed) {
                    Guest.run("dmsetup", "remove", "--noudevsync", "--retry", name);
                }
            }
        }
        System.out.println("[not-in-the-way] " + ROUNDS + " dm removes under " + polls + " CBT calls");
    }

    @Test
    @Order(2)
    void rereadingThePartitionTableSucceedsWhileAPartitionIsPolled(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        Guest.settle(disk);
        Mbr.write(disk, new Mbr.Part(2048, 64L << 11), new Mbr.Part(2048 + (64L << 11), 64L << 11));
        Guest.runOk("blockdev", "--rereadpt", disk.toString());
        Path p1 = Guest.partition(disk, 1);
        try {
            Guest.waitUntil(p1 + " to appear", Duration.ofSeconds(10), () -> Files.exists(p1));
            DeviceId id = attach(p1);
            CbtInfo before = freshInfo(id, p1);
            int fd = Posix.open(disk, 0);
            try (Poller p = new Poller(id)) {
                int busy = 0;
                for (int round = 0; round < REREADS; round++) {
                    p.awaitCalls(5);
                    int r = Posix.ioctl(fd, BLKRRPART, 0);
                    if (r == -EBUSY) {
                        busy++;
                    } else {
                        assertEquals(0, r, "BLKRRPART: errno " + -r);
                    }
                }
                System.out.println("[not-in-the-way] " + REREADS + " BLKRRPART under " + p.calls.get()
                        + " CBT calls: " + busy + " EBUSY");
                assertEquals(0, busy, "BLKRRPART failed with EBUSY " + busy + " times out of " + REREADS
                        + " while the tracked partition's map was polled");
            } finally {
                Posix.close(fd);
            }
            // Same partition, same place: the tracker goes on and sees writes.
            Guest.waitUntil(p1 + " to come back", Duration.ofSeconds(10), () -> Files.exists(p1));
            assertTrue(ctl.trackers().contains(id), "the partition's tracker is gone");
            CbtInfo after = ctl.cbtInfo(id);
            assertEquals(before.capacitySectors(), after.capacitySectors());
            try (DiskIo io = new DiskIo(p1)) {
                io.direct(3L * after.blockSize(), DiskIo.PAGE, rnd);
            }
            assertTrue(Blocks.changed(ctl.readMap(id), 0).get(3), "a write after the re-reads is not marked");
        } finally {
            Mbr.write(disk);
            Guest.runOk("blockdev", "--rereadpt", disk.toString());
        }
    }
}
