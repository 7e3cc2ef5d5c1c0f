// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.CbtInfo;
import dev.blksnap.CbtMap;
import dev.blksnap.Checkpoint;
import dev.blksnap.DeviceId;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Attach and checkpoint are barriers for writes in flight: a backup that
 * reads the device after either returned must see every write that is not
 * reported as changed later. Writers keep 1 MiB O_DIRECT writes in flight
 * on a small area; after each attach or checkpoint the test reads the area
 * (the "backup") and the next round reads it again: every block whose
 * content differs between the two reads must carry a number above the one
 * closed before the first read (any number after attach). A write marked
 * with the closed number that lands after the backup read it would be lost
 * for every incremental: the old module let checkpoint and attach return
 * with such writes still in flight. Both tests run over dm-delay (writes
 * held 40 ms, reads not), so that writes stay in flight long enough for a
 * backup read to overtake them: the checkpoint test on the dm device itself
 * (bio-based), the attach test on a loop device over it (request-based, the
 * kind of device whose earlier writes attach can wait for).
 */
@Order(3)
class InFlightWritesTest extends ItBase {
    private static final int SLOT = 1 << 20;
    private static final int SLOTS = 8;
    private static final long AREA = (long) SLOT * SLOTS;
    private final Path disk = Guest.disk(1);

    /** Writers that keep overwriting random slots of the area with fresh bytes. */
    private static final class Writers implements AutoCloseable {
        final AtomicBoolean stop = new AtomicBoolean();
        final AtomicLong writes = new AtomicLong();
        final AtomicReference<Throwable> error = new AtomicReference<>();
        final List<Thread> threads = new ArrayList<>();

        Writers(Path dev, int count, SplittableRandom seeds) {
            for (int i = 0; i < count; i++) {
                SplittableRandom rnd = seeds.split();
                threads.add(Thread.ofPlatform().name("writer-" + i).start(() -> {
                    try (DiskIo io = new DiskIo(dev)) {
                        byte[] data = new byte[SLOT];
                        rnd.nextBytes(data);
                        ByteBuffer stamp = ByteBuffer.wrap(data);
                        while (!stop.get()) {
                            // A new number in every page: each write differs, cheaply.
                            long n = writes.incrementAndGet();
                            for (int page = 0; page < SLOT; page += DiskIo.PAGE) {
                                stamp.putLong(page, n);
                            }
                            io.direct((long) rnd.nextInt(SLOTS) * SLOT, data);
                        }
                    } catch (Throwable t) {
                        error.set(t);
                    }
                }));
            }
        }

        void awaitMore(long n) {
            long target = writes.get() + n;
            Guest.waitUntil(n + " more writes", Duration.ofSeconds(60),
                    () -> writes.get() >= target || error.get() != null);
        }

        @Override
        public void close() {
            stop.set(true);
            for (Thread t : threads) {
                try {
                    t.join(Duration.ofSeconds(60));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new AssertionError("interrupted joining " + t.getName(), e);
                }
            }
            assertNull(error.get(), () -> "a writer failed: " + error.get());
        }
    }

    /**
     * Fails when a block whose content changed between two backup reads is
     * not marked above {@code closed} in a map read after the second one.
     */
    private static int check(byte[] before, byte[] after, CbtMap map, int closed, int blockSize, String what) {
        int changed = 0;
        for (int b = 0; b < AREA / blockSize; b++) {
            int from = b * blockSize;
            if (Arrays.equals(before, from, from + blockSize, after, from, from + blockSize)) {
                continue;
            }
            changed++;
            if (map.changeNumber(b) <= closed) {
                fail(what + ": block " + b + " changed after the backup read it, but carries number "
                        + map.changeNumber(b) + ", not above " + closed + ": the next incremental would miss it");
            }
        }
        return changed;
    }

    /** A dm-delay device over {@code disk} that holds writes {@code ms} milliseconds, reads not at all. */
    static Path delayed(Path disk, String name, int ms) {
        Guest.modprobe("dm-delay");
        long sectors = Guest.sizeSectors(disk);
        Guest.runOk("dmsetup", "create", name, "--noudevsync", "--table",
                "0 " + sectors + " delay " + disk + " 0 0 " + disk + " 0 " + ms);
        String minor = Guest.runOk("dmsetup", "info", "-c", "--noheadings", "-o", "minor", name).trim();
        Path dev = Path.of("/dev/dm-" + minor);
        Guest.waitUntil(dev + " to appear", Duration.ofSeconds(10), () -> Files.exists(dev));
        return dev;
    }

    @Test
    @Order(1)
    void everyWriteThatLandsAfterACheckpointIsChangedSinceIt(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        Guest.settle(disk);
        Path dev = delayed(disk, "blksnap-inflight", 40);
        try {
            checkpointsUnderLoad(dev, rnd);
        } finally {
            Guest.run("dmsetup", "remove", "--noudevsync", "blksnap-inflight");
        }
    }

    private void checkpointsUnderLoad(Path dev, SplittableRandom rnd) throws Exception {
        DeviceId id = attach(dev);
        CbtInfo info = freshInfo(id, dev);
        int rounds = 0;
        long checked = 0;
        try (DiskIo io = new DiskIo(dev); Writers w = new Writers(dev, 4, rnd)) {
            w.awaitMore(8);
            Checkpoint cp = ctl.checkpoint(id);
            byte[] backup = io.readDirect(0, (int) AREA);
            // 20 s, longer if that has not made 20 rounds (a slow machine's
            // debug lane made 6 to 8), never past 180 s.
            long start = System.nanoTime();
            long end = start + Duration.ofSeconds(20).toNanos();
            long last = start + Duration.ofSeconds(180).toNanos();
            while (rounds < 400 && (System.nanoTime() < end || rounds < 20) && System.nanoTime() < last) {
                Checkpoint next = ctl.checkpoint(id);
                byte[] again = io.readDirect(0, (int) AREA);
                CbtMap map = ctl.readMap(id);
                // A new generation clears the map: nothing to compare across it.
                if (next.generation().equals(cp.generation())) {
                    checked += check(backup, again, map, cp.closedNumber(), info.blockSize(),
                            "round " + rounds + " (closed " + cp.closedNumber() + ")");
                }
                cp = next;
                backup = again;
                rounds++;
            }
            System.out.println("[inflight] " + rounds + " checkpoints under " + w.writes.get()
                    + " writes, " + checked + " block changes checked");
        }
        detach(id);
        assertTrue(rounds >= 20 && checked > 0, "too few rounds (" + rounds + ") or changes (" + checked + ")");
    }

    @Test
    @Order(2)
    void everyWriteThatLandsAfterAttachIsMarked(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        Guest.settle(disk);
        Path dm = delayed(disk, "blksnap-inflight", 40);
        Path loop = null;
        try {
            Guest.modprobe("loop");
            loop = Path.of(Guest.runOk("losetup", "--direct-io=on", "-f", "--show", dm.toString()).trim());
            Path l = loop;
            Guest.waitUntil(l + " to appear", Duration.ofSeconds(10), () -> Files.exists(l));
            attachesUnderLoad(loop, rnd);
        } finally {
            if (loop != null) {
                Guest.run("losetup", "-d", loop.toString());
            }
            Guest.run("dmsetup", "remove", "--noudevsync", "blksnap-inflight");
        }
    }

    private void attachesUnderLoad(Path dev, SplittableRandom rnd) throws Exception {
        DeviceId id = DeviceId.of(dev);
        long checked = 0;
        long slowest = 0;
        try (DiskIo io = new DiskIo(dev); Writers w = new Writers(dev, 4, rnd)) {
            for (int round = 0; round < 20; round++) {
                w.awaitMore(4);
                long t0 = System.nanoTime();
                ctl.attach(id);
                CbtMap map;
                byte[] backup;
                byte[] again;
                try {
                    slowest = Math.max(slowest, System.nanoTime() - t0);
                    backup = io.readDirect(0, (int) AREA);
                    w.awaitMore(2);
                    again = io.readDirect(0, (int) AREA);
                    map = ctl.readMap(id);
                } finally {
                    ctl.detach(id);
                }
                checked += check(backup, again, map, 0, map.info().blockSize(), "attach " + round);
            }
            System.out.println("[inflight] 20 attaches under " + w.writes.get() + " writes, slowest "
                    + slowest / 1_000_000 + " ms, " + checked + " block changes checked");
        }
        assertTrue(checked > 0, "no block changed between the reads: the test proved nothing");
    }
}
