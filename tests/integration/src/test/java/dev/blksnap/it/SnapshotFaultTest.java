// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.DeviceId;
import dev.blksnap.internal.Errno;
import dev.blksnap.internal.Uapi;
import dev.blksnap.it.fault.Aim;
import dev.blksnap.it.fault.FailNth;
import dev.blksnap.it.fault.FaultInjector;
import dev.blksnap.it.fault.FaultPoint;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.TestInstance;

import java.lang.foreign.Arena;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;

import static dev.blksnap.it.fault.FaultPoint.PAGE_ALLOC;
import static dev.blksnap.it.fault.FaultPoint.SLAB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Snapshots under injected allocation failures (the debug lane; skipped on
 * kernels without fault injection): each allocation of every snapshot ioctl
 * fails once in turn (fail-nth), then copy-on-write runs with random
 * allocation failures in the module. Each failure must end in the errno the
 * header gives or in a snapshot that says it is broken, never in a lost or
 * failed write to the device, an oops, a hang or a leak (the per-class
 * kmemleak check).
 */
@Order(25)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SnapshotFaultTest extends SnapshotItBase {
    private static final long MIB = 1 << 20;

    @BeforeAll
    void faultInjectionKernel() {
        assumeTrue(FaultPoint.allAvailable(), "this kernel has no fault injection in debugfs (the debug lane has)");
    }

    /** "ok" or the errno name. */
    private static String outcome(Runnable call) {
        try {
            call.run();
            return "ok";
        } catch (Snapshots.Failed f) {
            return Errno.name(f.errno);
        }
    }

    @Test
    @Order(1)
    void everySnapshotIoctlSurvivesEachOfItsAllocationsFailing() throws Exception {
        Path dev = loop("fail-nth", 16 * MIB);
        stampAll(dev, 1);
        DeviceId did = DeviceId.of(dev);
        willDetach(did);
        Map<String, Integer> answers = new TreeMap<>();
        long faults = 0;
        long[] id = {0};
        try (FailNth nth = new FailNth(Aim.module("blksnap", 32))) {
            // A small limit: reserving the temporary file allocates a page per 4 KiB on tmpfs.
            faults += nth.sweep("create", 300, n -> outcome(() -> id[0] = snap.create(SCRATCH, 256 << 10, false)),
                    (n, fired, out) -> {
                        answers.merge("create: " + out, 1, Integer::sum);
                        assertTrue(out.equals("ok") || fired && Set.of("ENOMEM", "ENOSPC").contains(out),
                                "create with allocation " + n + " failing: " + out);
                        assertEquals(out.equals("ok") ? 1 : 0, snap.list().size());
                        if (fired && out.equals("ok")) {
                            snap.destroy(id[0]);
                        }
                    });
            faults += nth.sweep("add", 300, n -> outcome(() -> {
                int rc = snap.addRaw(id[0], did);
                if (rc != 0) {
                    throw new Snapshots.Failed("add", -rc);
                }
            }), (n, fired, out) -> {
                answers.merge("add: " + out, 1, Integer::sum);
                assertTrue(out.equals("ok") || fired && out.equals("ENOMEM"),
                        "add with allocation " + n + " failing: " + out);
                int count = snap.info(id[0]).devices().size();
                assertEquals(out.equals("ok") ? 1 : 0, count);
                if (fired && out.equals("ok")) {
                    snap.destroy(id[0]);
                    ctl.detach(did);
                    id[0] = snap.create(SCRATCH, 256 << 10, false);
                }
            });
            faults += nth.sweep("take", 300, n -> outcome(() -> snap.take(id[0], true)), (n, fired, out) -> {
                answers.merge("take: " + out, 1, Integer::sum);
                Snapshots.Info info = snap.info(id[0]);
                // The header: ENOMEM, or after the instant any error of creating the image
                // devices, which leaves the snapshot BROKEN (add_disk() answers EINVAL when
                // dev_set_name()'s allocation failed: device_add() finds no name).
                assertTrue(out.equals("ok") || fired && (out.equals("ENOMEM")
                                || info.state() == Uapi.SNAPSHOT_STATE_BROKEN),
                        "take with allocation " + n + " failing: " + out);
                // Failing before the instant leaves it to take again; creating the images after it breaks it.
                int want = out.equals("ok") ? Uapi.SNAPSHOT_STATE_TAKEN : info.state() == Uapi.SNAPSHOT_STATE_BROKEN
                        ? Uapi.SNAPSHOT_STATE_BROKEN : Uapi.SNAPSHOT_STATE_CREATED;
                assertEquals(want, info.state(), "state after take answered " + out);
                if (fired && (out.equals("ok") || want == Uapi.SNAPSHOT_STATE_BROKEN)) {
                    snap.destroy(id[0]);
                    ctl.detach(did);
                    id[0] = snap.create(SCRATCH, 256 << 10, false);
                    snap.add(id[0], dev);
                }
            });
            faults += nth.sweep("info", 300, n -> outcome(() -> snap.info(id[0])), (n, fired, out) -> {
                answers.merge("info: " + out, 1, Integer::sum);
                assertTrue(out.equals("ok") || fired && out.equals("ENOMEM"), "info: " + out);
            });
            faults += nth.sweep("list", 300, n -> outcome(snap::list), (n, fired, out) -> {
                answers.merge("list: " + out, 1, Integer::sum);
                assertTrue(out.equals("ok") || fired && out.equals("ENOMEM"), "list: " + out);
            });
            // WAIT_EVENT allocates nothing (events are queued in a ring when they are raised): no
            // allocation of it can fail, and it answers as without faults.
            int waitFaults = nth.sweep("wait_event", 300, n -> outcome(() -> snap.waitEvent(id[0], 0)),
                    (n, fired, out) -> {
                        answers.merge("wait_event: " + out, 1, Integer::sum);
                        assertEquals("ok", out, "wait_event with allocation " + n + " failing");
                    });
            assertEquals(0, waitFaults, "allocations under SNAPSHOT_WAIT_EVENT");
            // The image still shows the device as it was at take.
            long[] bad = {0};
            scan(snap.info(id[0]).devices().get(0).imagePath(), (s, g) -> bad[0] += g == 1 ? 0 : 1);
            assertEquals(0, bad[0], "image sectors after the sweeps");
            faults += nth.sweep("destroy", 300, n -> outcome(() -> snap.destroy(id[0])), (n, fired, out) -> {
                answers.merge("destroy: " + out, 1, Integer::sum);
                assertEquals("ok", out, "destroy with allocation " + n + " failing");
                if (fired) {
                    id[0] = snap.create(SCRATCH, 256 << 10, false);
                }
            });
        }
        // Create on a regular file takes another path (the file registry, fallocate) than on a directory.
        Path file = SCRATCH.resolve("fail-nth-storage.img");
        Files.write(file, new byte[0]);
        try (FailNth nth = new FailNth(Aim.module("blksnap", 32))) {
            faults += nth.sweep("create in a file", 300, n -> outcome(() -> id[0] = snap.create(file, 256 << 10,
                    false)), (n, fired, out) -> {
                        answers.merge("create in a file: " + out, 1, Integer::sum);
                        assertTrue(out.equals("ok") || fired && Set.of("ENOMEM", "ENOSPC").contains(out),
                                "create in a file with allocation " + n + " failing: " + out);
                        assertEquals(out.equals("ok") ? 1 : 0, snap.list().size());
                        if (out.equals("ok")) {
                            snap.destroy(id[0]);
                        }
                    });
        } finally {
            Files.deleteIfExists(file);
        }
        System.out.println("[faults] snapshot ioctls: " + faults + " faults injected, answers " + answers);
        assertTrue(faults > 0, "no allocation of the snapshot ioctls failed");
    }

    /**
     * ADD_STORAGE's storage kinds, swept in turn: a fresh storage of the
     * kind, its limit, and the answers an allocation failure may give.
     */
    private record StorageKind(String name, long limit, java.util.concurrent.Callable<Path> fresh,
            Set<String> failures) {
    }

    /**
     * ADD_STORAGE on a taken, writable snapshot whose origin and image are
     * written and read meanwhile by a thread of their own: each allocation
     * of the call fails once in turn, for a directory (an unnamed temporary
     * file), a regular file and a block device. Each run must answer 0 or
     * ENOMEM (or tmpfs's ENOSPC for a temporary file); the snapshot's limit grows by the storage's limit exactly when
     * the answer was 0; the snapshot stays taken (or, if it broke, says so
     * with an OVERFLOW or CORRUPTED event); the origin's writes all succeed
     * and the image shows what it must. After the sweeps, copies fill the
     * first storage and go on in the storages added, and both devices hold
     * what they must. A snapshot holding its most storages is replaced by a
     * new one (a run whose allocation failed may still succeed).
     */
    @Test
    @Order(3)
    void addStorageToATakenSnapshotUnderIoSurvivesEachOfItsAllocationsFailing(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        Path dev = loop("add-storage-nth", 16 * MIB);
        willDetach(DeviceId.of(dev));
        int[] made = {0};
        List<StorageKind> kinds = List.of(
                // tmpfs answers ENOSPC when the temporary file's inode cannot be allocated (shmem_get_inode()).
                new StorageKind("directory", 256 << 10, () -> SCRATCH, Set.of("ENOMEM", "ENOSPC")),
                new StorageKind("file", 256 << 10, () -> {
                    Path f = SCRATCH.resolve("add-storage-nth-" + made[0]++ + ".img");
                    Files.write(f, new byte[0]);
                    later(() -> Guest.run("rm", "-f", f.toString()));
                    return f;
                }, Set.of("ENOMEM")),
                new StorageKind("device", 0, () -> loop("add-storage-nth-dev" + made[0]++, 4 * MIB),
                        Set.of("ENOMEM")));
        Map<String, Integer> answers = new TreeMap<>();
        long faults = 0;
        int[] replaced = {0};
        AddStorageRig[] rig = {new AddStorageRig(dev, rnd.nextLong())};
        try {
            for (StorageKind kind : kinds) {
                Path[] storage = {kind.fresh().call()};
                long[] limitBefore = {snap.info(rig[0].id).storageLimit()};
                try (FailNth nth = new FailNth(Aim.module("blksnap", 32))) {
                    faults += nth.sweep("add storage (" + kind.name() + ")", 300, n -> {
                        int rc = snap.addStorage(rig[0].id, storage[0], kind.limit());
                        return rc == 0 ? "ok" : Errno.name(-rc);
                    }, (n, fired, out) -> {
                        answers.merge(kind.name() + ": " + out, 1, Integer::sum);
                        Snapshots.Info info = snap.info(rig[0].id);
                        boolean replace;
                        if (info.state() == Uapi.SNAPSHOT_STATE_BROKEN) {
                            rig[0].brokenWithAnEvent(info);
                            replace = true;
                        } else {
                            assertEquals(Uapi.SNAPSHOT_STATE_TAKEN, info.state(), "state after add storage ("
                                    + kind.name() + ") answered " + out);
                            assertTrue(out.equals("ok") || fired && kind.failures().contains(out), "add storage ("
                                    + kind.name() + ") with allocation " + n + " failing (" + fired + "): " + out);
                            long grown = !out.equals("ok") ? 0
                                    : kind.limit() != 0 ? kind.limit() : Guest.sizeSectors(storage[0]) * 512;
                            assertEquals(limitBefore[0] + grown, info.storageLimit(),
                                    "storage limit after add storage (" + kind.name() + ") answered " + out);
                            rig[0].healthy(info);
                            limitBefore[0] = info.storageLimit();
                            if (out.equals("ok")) {
                                rig[0].adds++;
                                if (fired) { // more runs follow: a storage is used by one snapshot only
                                    storage[0] = kind.fresh().call();
                                }
                            }
                            // A run whose allocation failed may still have succeeded: more runs follow.
                            replace = fired && rig[0].adds == Uapi.SNAPSHOT_MAX_STORAGES - 1;
                        }
                        if (replace) {
                            rig[0].close();
                            rig[0] = new AddStorageRig(dev, rnd.nextLong());
                            limitBefore[0] = snap.info(rig[0].id).storageLimit();
                            replaced[0]++;
                        }
                    });
                }
            }
            // The storages added take copies once the first is full.
            Snapshots.Info before = snap.info(rig[0].id);
            rig[0].fillPastTheFirstStorage();
            Snapshots.Info after = snap.info(rig[0].id);
            assertEquals(Uapi.SNAPSHOT_STATE_TAKEN, after.state(), "after filling past the first storage: " + after);
            assertTrue(after.storageUsed() > AddStorageRig.FIRST_LIMIT, "storage used " + after.storageUsed()
                    + " of " + after.storageLimit() + " (first storage " + AddStorageRig.FIRST_LIMIT + ", before "
                    + before.storageUsed() + ")");
        } finally {
            rig[0].close();
        }
        System.out.println("[faults] add storage to a taken snapshot under I/O: " + faults + " faults injected, "
                + replaced[0] + " snapshots replaced, answers " + answers + "; " + rig[0].summary());
        assertTrue(faults > 0, "no allocation of ADD_STORAGE failed");
    }

    /**
     * A writable snapshot of {@code dev} (stamped with generation 1 first)
     * taken on a directory of {@link #FIRST_LIMIT} bytes, and a thread that
     * writes pages of the origin's first 512 KiB and of the image's 512
     * KiB from 8 MiB, and reads random pages of the image, checking each
     * against what it must hold: at most 16 chunks of 64 KiB, well within
     * the first storage.
     */
    private final class AddStorageRig implements AutoCloseable {
        static final long FIRST_LIMIT = 2 * MIB;
        private static final long REGION = 512 << 10;
        private static final long IMAGE_FROM = 8 * MIB;
        private static final int PAGE = 4096;
        private static final int SECTORS = PAGE / Stamp.SECTOR;
        final long id;
        final Path image;
        int adds;
        private final Path dev;
        private final long[] origin;
        private final long[] shown;
        private final java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
        private final java.util.concurrent.atomic.AtomicReference<Throwable> failed =
                new java.util.concurrent.atomic.AtomicReference<>();
        private final java.util.concurrent.atomic.AtomicLong originWrites = new java.util.concurrent.atomic.AtomicLong();
        private final java.util.concurrent.atomic.AtomicLong imageWrites = new java.util.concurrent.atomic.AtomicLong();
        private final java.util.concurrent.atomic.AtomicLong imageReads = new java.util.concurrent.atomic.AtomicLong();
        private final java.util.concurrent.atomic.AtomicLong imageErrors = new java.util.concurrent.atomic.AtomicLong();
        private final Thread thread;
        private boolean closed;

        AddStorageRig(Path dev, long seed) throws IOException {
            this.dev = dev;
            stampAll(dev, 1);
            int sectors = (int) Guest.sizeSectors(dev);
            origin = new long[sectors];
            shown = new long[sectors];
            java.util.Arrays.fill(origin, 1);
            java.util.Arrays.fill(shown, 1);
            int sfd = Posix.open(SCRATCH, Posix.O_RDONLY);
            try {
                id = snap.createFd(sfd, FIRST_LIMIT, Uapi.SNAPSHOT_FLAG_WRITABLE);
            } finally {
                Posix.close(sfd);
            }
            add(id, dev);
            snap.take(id, false);
            image = snap.info(id).devices().get(0).imagePath();
            thread = Thread.ofPlatform().name("add-storage-io").start(() -> run(new SplittableRandom(seed)));
        }

        private void run(SplittableRandom rnd) {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment buf = Posix.aligned(a, PAGE);
                int fd = Posix.open(dev, Posix.O_RDWR | Posix.O_DIRECT);
                int ifd = Posix.open(image, Posix.O_RDWR | Posix.O_DIRECT);
                try {
                    for (long gen = 2; !stop.get(); gen++) {
                        int op = rnd.nextInt(3);
                        if (op == 0) {
                            long from = rnd.nextLong(REGION / PAGE) * SECTORS;
                            Stamp.fill(buf, from, SECTORS, gen);
                            Posix.pwrite(fd, buf, from * Stamp.SECTOR); // the origin's writes never fail
                            java.util.Arrays.fill(origin, (int) from, (int) from + SECTORS, gen);
                            originWrites.incrementAndGet();
                        } else if (op == 1) {
                            long from = (IMAGE_FROM + rnd.nextLong(REGION / PAGE) * PAGE) / Stamp.SECTOR;
                            Stamp.fill(buf, from, SECTORS, gen);
                            try {
                                Posix.pwrite(ifd, buf, from * Stamp.SECTOR);
                                java.util.Arrays.fill(shown, (int) from, (int) from + SECTORS, gen);
                                imageWrites.incrementAndGet();
                            } catch (IOException e) {
                                imageErrors.incrementAndGet(); // only a broken snapshot may: checked by healthy()
                            }
                        } else {
                            long from = rnd.nextLong(shown.length / SECTORS) * SECTORS;
                            try {
                                Posix.pread(ifd, buf, from * Stamp.SECTOR);
                            } catch (IOException e) {
                                imageErrors.incrementAndGet();
                                continue;
                            }
                            imageReads.incrementAndGet();
                            for (int s = 0; s < SECTORS; s++) {
                                long got = Stamp.read(buf, (long) s * Stamp.SECTOR, from + s);
                                if (got != shown[(int) from + s]) {
                                    throw new AssertionError("image sector " + (from + s) + " holds generation "
                                            + got + ", want " + shown[(int) from + s]);
                                }
                            }
                        }
                        Thread.sleep(1);
                    }
                } finally {
                    Posix.close(fd);
                    Posix.close(ifd);
                }
            } catch (Throwable t) {
                failed.set(t);
            }
        }

        /** Between runs: the thread still works, and image I/O failed only if the snapshot broke. */
        void healthy(Snapshots.Info info) {
            if (failed.get() != null) {
                throw new AssertionError("origin or image I/O during the sweep", failed.get());
            }
            assertTrue(thread.isAlive(), "the I/O thread stopped");
            assertEquals(0, imageErrors.get(), "image I/O failed while the snapshot says " + info.state());
        }

        /** A broken snapshot must have said why: OVERFLOW or CORRUPTED among its events. */
        void brokenWithAnEvent(Snapshots.Info info) {
            List<Integer> codes = new java.util.ArrayList<>();
            for (Snapshots.Event e; (e = snap.waitEvent(id, 0)) != null; ) {
                codes.add(e.code());
            }
            assertTrue(codes.contains(Uapi.EVENT_OVERFLOW) || codes.contains(Uapi.EVENT_CORRUPTED),
                    "broken (" + Errno.name(info.error()) + ") with events " + codes);
        }

        /** Stops the thread, then stores copies of 3 MiB of the origin (48 chunks), more than the first storage holds. */
        void fillPastTheFirstStorage() throws IOException {
            stopThread();
            long from = 2 * MIB / Stamp.SECTOR;
            long sectors = 3 * MIB / Stamp.SECTOR;
            stampRange(dev, from, sectors, 7);
            java.util.Arrays.fill(origin, (int) from, (int) (from + sectors), 7);
        }

        private void stopThread() {
            stop.set(true);
            while (thread.isAlive()) {
                try {
                    thread.join();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }

        String summary() {
            return String.format("last snapshot: %d origin writes, %d image writes, %d image reads, %d image errors",
                    originWrites.get(), imageWrites.get(), imageReads.get(), imageErrors.get());
        }

        /** Stops the thread, checks both devices against what was written, destroys the snapshot. */
        @Override
        public void close() throws IOException {
            if (closed) {
                return;
            }
            closed = true;
            stopThread();
            try {
                if (failed.get() != null) {
                    throw new AssertionError("origin or image I/O", failed.get());
                }
                long[] bad = {0};
                scan(dev, (s, g) -> bad[0] += g == origin[(int) s] ? 0 : 1);
                assertEquals(0, bad[0], "origin sectors not holding their last write");
                if (snap.info(id).state() == Uapi.SNAPSHOT_STATE_TAKEN) {
                    scan(image, (s, g) -> bad[0] += g == shown[(int) s] ? 0 : 1);
                    assertEquals(0, bad[0], "image sectors not holding the snapshot's data or the image's writes");
                }
            } finally {
                snap.destroy(id);
            }
        }
    }

    @Test
    @Order(2)
    void copyOnWriteUnderRandomAllocationFailuresNeverHarmsTheDevice(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        Path dev = loop("cow-faults", 32 * MIB);
        for (int probability : new int[] {5, 50}) {
            stampAll(dev, 1);
            long id = snap.create(SCRATCH, 32 * MIB, false);
            add(id, dev);
            snap.take(id, true);
            Path image = snap.info(id).devices().get(0).imagePath();
            long sectors = Guest.sizeSectors(dev);
            long[] model = new long[(int) sectors];
            java.util.Arrays.fill(model, 1);
            long faults;
            int imageErrors = 0;
            int fd = Posix.open(dev, Posix.O_RDWR | Posix.O_DIRECT);
            int ifd = Posix.open(image, Posix.O_RDONLY | Posix.O_DIRECT);
            try (Arena a = Arena.ofConfined(); FaultInjector f = FaultInjector.arm(Set.of(SLAB, PAGE_ALLOC),
                    Aim.module("blksnap", 32), probability)) {
                MemorySegment buf = Posix.aligned(a, 256 * 1024);
                for (int i = 0; i < 400; i++) {
                    long count = 1 + rnd.nextInt(256);
                    long from = rnd.nextLong(sectors - count);
                    MemorySegment part = buf.asSlice(0, count * Stamp.SECTOR);
                    if (rnd.nextInt(4) == 0) {
                        try {
                            Posix.pread(ifd, part, from * Stamp.SECTOR);
                            for (long s = 0; s < count; s++) {
                                assertEquals(1, Stamp.read(part, s * Stamp.SECTOR, from + s),
                                        "image sector " + (from + s) + " under faults");
                            }
                        } catch (java.io.IOException e) {
                            imageErrors++; // the snapshot broke: EIO is the contract
                        }
                        continue;
                    }
                    Stamp.fill(part, from, count, 2 + i);
                    Posix.pwrite(fd, part, from * Stamp.SECTOR);
                    java.util.Arrays.fill(model, (int) from, (int) (from + count), 2 + i);
                }
                faults = f.injected();
            } finally {
                Posix.close(fd);
                Posix.close(ifd);
            }
            long[] bad = {0};
            scan(dev, (s, g) -> bad[0] += g == model[(int) s] ? 0 : 1);
            assertEquals(0, bad[0], "device sectors not holding their last write after faults at " + probability
                    + "%");
            Snapshots.Info info = snap.info(id);
            if (info.state() == Uapi.SNAPSHOT_STATE_TAKEN) {
                scan(image, (s, g) -> bad[0] += g == 1 ? 0 : 1);
                assertEquals(0, bad[0], "a snapshot that says it is whole shows changed sectors");
            } else {
                assertEquals(Uapi.SNAPSHOT_STATE_BROKEN, info.state());
                assertTrue(List.of(Errno.ENOMEM, Errno.EIO).contains(info.error()), Errno.name(info.error()));
            }
            System.out.printf("[faults] copy-on-write at %d%%: %d faults injected, snapshot %s (%s), %d image"
                    + " reads failed%n", probability, faults, info.state() == Uapi.SNAPSHOT_STATE_TAKEN ? "whole"
                    : "broken", Errno.name(info.error()), imageErrors);
            snap.destroy(id);
        }
    }
}
