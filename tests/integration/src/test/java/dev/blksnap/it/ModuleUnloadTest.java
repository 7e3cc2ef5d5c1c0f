// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.BlksnapControl;
import dev.blksnap.CbtInfo;
import dev.blksnap.DeviceId;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.zip.CRC32C;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * rmmod while two disks are tracked and written to: the unload succeeds,
 * no write fails, every write lands intact, and the module loads again
 * with no parameters and tracks with its default geometry. The tests after
 * it get the module loaded with the suite's parameters again.
 */
@Order(7)
class ModuleUnloadTest {
    private static final int SLOT = 64 << 10;
    private static final int SLOTS = 256;

    /** One writer: 64 KiB O_DIRECT writes of random data into 256 slots, remembering each slot's CRC. */
    static final class Writer implements Runnable {
        final Path dev;
        final SplittableRandom rnd;
        final AtomicBoolean stop = new AtomicBoolean();
        final AtomicLong writes = new AtomicLong();
        final AtomicReference<Throwable> error = new AtomicReference<>();
        final ConcurrentHashMap<Integer, Long> crc = new ConcurrentHashMap<>();

        Writer(Path dev, SplittableRandom rnd) {
            this.dev = dev;
            this.rnd = rnd;
        }

        @Override
        public void run() {
            try (DiskIo io = new DiskIo(dev)) {
                byte[] data = new byte[SLOT];
                while (!stop.get()) {
                    int slot = rnd.nextInt(SLOTS);
                    rnd.nextBytes(data);
                    io.direct((long) slot * SLOT, data);
                    CRC32C c = new CRC32C();
                    c.update(data);
                    crc.put(slot, c.getValue());
                    writes.incrementAndGet();
                }
            } catch (Throwable t) {
                error.set(t);
            }
        }

        void awaitMore(long n) {
            long target = writes.get() + n;
            Guest.waitUntil(n + " more writes to " + dev, Duration.ofSeconds(60),
                    () -> writes.get() >= target || error.get() != null);
        }
    }

    @AfterEach
    void reload() throws Exception {
        Guest.ensureModuleLoaded();
        try (BlksnapControl c = BlksnapControl.open()) {
            for (DeviceId id : c.trackers()) {
                c.detach(id);
            }
        }
    }

    /** The suite's parameters again, not the defaults the test loaded last. */
    @AfterAll
    static void restoreSuiteParameters() {
        if (!Guest.moduleLoaded() || !Guest.loadedWith().equals(Guest.insmodArgs())) {
            Guest.reloadModule(Guest.insmodArgs());
        }
    }

    @Test
    void rmmodWhileTrackedDisksAreWritten(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        Guest.ensureModuleLoaded();
        List<Path> disks = List.of(Guest.disk(0), Guest.disk(1));
        List<DeviceId> ids = new ArrayList<>();
        // The control device is closed again before rmmod: an open one pins the module.
        try (BlksnapControl c = BlksnapControl.open()) {
            for (Path d : disks) {
                Guest.settle(d);
                DeviceId id = DeviceId.of(d);
                c.attach(id);
                ids.add(id);
            }
            assertEquals(Set.copyOf(ids), Set.copyOf(c.trackers()));
        }
        List<Writer> writers = new ArrayList<>();
        List<Thread> threads = new ArrayList<>();
        for (Path d : disks) {
            Writer w = new Writer(d, rnd.split());
            writers.add(w);
            threads.add(Thread.ofPlatform().name("writer " + d).start(w));
        }
        try {
            writers.forEach(w -> w.awaitMore(20));
            Guest.Result rm = Guest.run("rmmod", "blksnap");
            assertEquals(0, rm.exit(), () -> "rmmod under write load with two trackers failed: " + rm.stderr());
            assertFalse(Guest.moduleLoaded(), "/sys/module/blksnap still there after rmmod");
            assertFalse(Files.exists(Guest.CONTROL), Guest.CONTROL + " still there after rmmod");
            writers.forEach(w -> w.awaitMore(20));
        } finally {
            writers.forEach(w -> w.stop.set(true));
            for (Thread t : threads) {
                t.join(Duration.ofSeconds(60));
            }
        }
        for (Writer w : writers) {
            assertNull(w.error.get(), () -> "a write to " + w.dev + " failed around the unload: " + w.error.get());
            System.out.println("[unload] " + w.dev + ": " + w.writes.get() + " writes, " + w.crc.size() + " slots");
        }
        // Every slot holds what its last write put there.
        for (Writer w : writers) {
            try (DiskIo io = new DiskIo(w.dev)) {
                for (var e : w.crc.entrySet()) {
                    CRC32C c = new CRC32C();
                    c.update(io.readDirect((long) e.getKey() * SLOT, SLOT));
                    assertEquals(e.getValue().longValue(), c.getValue(), w.dev + ": slot " + e.getKey()
                            + " (bytes " + (long) e.getKey() * SLOT + ") does not hold its last write");
                }
            }
        }
        // Load again, with no parameters, and track: a clean start with the module's defaults.
        Guest.loadModule(List.of());
        List<String> defaults = Guest.reportedParameters();
        try (BlksnapControl c = BlksnapControl.open()) {
            assertEquals(List.of(), c.trackers(), "trackers survived a reload");
            Path d = disks.get(0);
            Guest.settle(d);
            DeviceId id = DeviceId.of(d);
            c.attach(id);
            try {
                CbtInfo info = c.cbtInfo(id);
                System.out.println("[unload] loaded with no parameters, the module reports " + defaults + "; " + d
                        + " gets " + info.blockSize() + "-byte blocks");
                assertEquals(Guest.expectedBlockSize(info.capacitySectors(), List.of()), info.blockSize(),
                        "block size of " + d + " with no module parameters (module/README.md's defaults)");
                assertEquals(Guest.expectedBlockSize(info.capacitySectors(), defaults), info.blockSize(),
                        "block size of " + d + " for the defaults the module reports: " + defaults);
                assertTrue(Blocks.changed(c.readMap(id), 0).isEmpty(), "map after reload is not empty");
                try (DiskIo io = new DiskIo(d)) {
                    io.direct(5L * info.blockSize(), DiskIo.PAGE, rnd);
                }
                new Blocks(info.blockSize(), info.blockCount()).cover(5L * info.blockSize(), DiskIo.PAGE)
                        .assertExactly(c.readMap(id), 0, "a write after reload");
            } finally {
                c.detach(id);
            }
        }
    }
}
