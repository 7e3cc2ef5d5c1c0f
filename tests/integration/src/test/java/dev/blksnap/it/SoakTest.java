// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.DeviceId;
import dev.blksnap.internal.Errno;
import dev.blksnap.internal.Uapi;
import dev.blksnap.it.fault.Aim;
import dev.blksnap.it.fault.FaultInjector;
import dev.blksnap.it.fault.FaultPoint;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.ReentrantReadWriteLock;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The soak (issue 11 §5; `make soak`, BLKSNAP_SOAK_MINUTES, the debug lane):
 * snapshot cycles on three devices for as long as asked, each device under
 * load all the while. The first half of a device is fio's, writing with
 * --verify (the origin's data must come back as written); the second half is
 * a stamp writer's, whose every write the test remembers.
 *
 * <p>A cycle snapshots a random subset of the devices on a random storage
 * (a directory, a file, a device), one cycle in four with a limit too small
 * for the load (an overflow), one in five with the module's allocations
 * failing at random (the debug lane's failslab). The stamp writers pause
 * around take only, so the test knows what each image must show there; fio
 * does not. An image must show exactly the stamps of the take in its second
 * half, and its first half must not change while fio goes on writing the
 * origin (read twice, a while apart). A snapshot broken by an overflow or a
 * fault must fail its image reads with EIO; the origins' writes never fail.
 * Skipped unless BLKSNAP_SOAK_MINUTES is set.
 */
@Order(40)
class SoakTest extends SnapshotItBase {
    private static final long MIB = 1 << 20;
    private static final int BLOCK = 4096;
    private static final int SECTORS = BLOCK / Stamp.SECTOR;
    private static final int DEVICES = 3;
    private static final long DEVICE_BYTES = 32 * MIB;
    private static final int BLOCKS = (int) (DEVICE_BYTES / BLOCK);
    /** The stamp writer's blocks: the second half. */
    private static final int FIRST_STAMPED = BLOCKS / 2;

    /** Writes stamps of rising generations at random blocks of the second half; remembers each block's last. */
    private static final class StampWriter {
        final Path dev;
        final AtomicLongArray last = new AtomicLongArray(BLOCKS);
        /** Held for each write; take holds the write side, so no write is in flight across it. */
        final ReentrantReadWriteLock pause = new ReentrantReadWriteLock();
        final AtomicLong writes = new AtomicLong();
        private final AtomicBoolean stop = new AtomicBoolean();
        private final ConcurrentLinkedQueue<Throwable> errors;
        private final Thread thread;

        StampWriter(Path dev, AtomicLong gens, SplittableRandom rnd, ConcurrentLinkedQueue<Throwable> errors) {
            this.dev = dev;
            this.errors = errors;
            thread = Thread.ofPlatform().name("stamps-" + dev.getFileName()).start(() -> run(gens, rnd));
        }

        private void run(AtomicLong gens, SplittableRandom rnd) {
            try (Arena a = Arena.ofConfined()) {
                int fd = Posix.open(dev, Posix.O_RDWR | Posix.O_DIRECT);
                MemorySegment buf = Posix.aligned(a, 16L * BLOCK);
                try {
                    while (!stop.get()) {
                        int n = 1 + rnd.nextInt(16);
                        int b = FIRST_STAMPED + rnd.nextInt(BLOCKS - FIRST_STAMPED - n);
                        pause.readLock().lock();
                        try {
                            long gen = gens.incrementAndGet();
                            Stamp.fill(buf.asSlice(0, (long) n * BLOCK), (long) b * SECTORS, (long) n * SECTORS, gen);
                            Posix.pwrite(fd, buf.asSlice(0, (long) n * BLOCK), (long) b * BLOCK);
                            for (int i = 0; i < n; i++) {
                                last.set(b + i, gen);
                            }
                        } finally {
                            pause.readLock().unlock();
                        }
                        writes.incrementAndGet();
                        Thread.sleep(rnd.nextInt(3));
                    }
                } finally {
                    Posix.close(fd);
                }
            } catch (Throwable t) {
                errors.add(new AssertionError("a write to the origin " + dev + " failed", t));
            }
        }

        void stop() throws InterruptedException {
            stop.set(true);
            thread.join();
        }
    }

    /** The generations of the second half's blocks as read from a device; CORRUPT where a block's sectors differ. */
    private static long[] stampedGens(Path dev) throws IOException {
        long[] out = new long[BLOCKS];
        int fd = Posix.open(dev, Posix.O_RDONLY | Posix.O_DIRECT);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = Posix.aligned(a, MIB);
            for (long b = FIRST_STAMPED; b < BLOCKS; b += MIB / BLOCK) {
                Posix.pread(fd, buf, b * BLOCK);
                for (int i = 0; i < MIB / BLOCK; i++) {
                    long gen = Stamp.read(buf, (long) i * BLOCK, (b + i) * SECTORS);
                    for (int s = 1; s < SECTORS && gen != Stamp.CORRUPT; s++) {
                        if (Stamp.read(buf, (long) i * BLOCK + (long) s * Stamp.SECTOR, (b + i) * SECTORS + s) != gen) {
                            gen = Stamp.CORRUPT;
                        }
                    }
                    out[(int) b + i] = gen;
                }
            }
        } finally {
            Posix.close(fd);
        }
        return out;
    }

    /** SHA-256 of the first half (fio's) of a device. */
    private static String fioHalfDigest(Path dev) throws Exception {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        int fd = Posix.open(dev, Posix.O_RDONLY | Posix.O_DIRECT);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = Posix.aligned(a, MIB);
            for (long off = 0; off < (long) FIRST_STAMPED * BLOCK; off += MIB) {
                Posix.pread(fd, buf, off);
                md.update(buf.asByteBuffer());
            }
        } finally {
            Posix.close(fd);
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /** The counts the closing line prints. */
    private static final class Counts {
        long cycles;
        long snapshots;
        long overflows;
        long brokenByFaults;
        long refusedByFaults;
        long faults;
        long verifiedBytes;
        long eioReads;
    }

    /*
     * Runs for BLKSNAP_SOAK_MINUTES, far past the suite's 300 s default; the
     * VM's timeout (tests/run-vm-suite adds the soak's minutes) stays the
     * hang detector.
     */
    @Test
    @Timeout(value = 24, unit = TimeUnit.HOURS)
    void snapshotCyclesUnderFioVerifyWithOverflowsAndFaults(TestInfo ti) throws Exception {
        long minutes = Long.parseLong(System.getenv().getOrDefault("BLKSNAP_SOAK_MINUTES", "0"));
        assumeTrue(minutes > 0, "BLKSNAP_SOAK_MINUTES unset: no soak (make soak)");
        boolean faults = FaultPoint.allAvailable();
        SplittableRandom rnd = Seeds.forTest(ti);
        Path[] devs = new Path[DEVICES];
        for (int i = 0; i < DEVICES; i++) {
            devs[i] = loop("soak" + i, DEVICE_BYTES);
            willDetach(DeviceId.of(devs[i])); // also when an add fails under faults
            stampAll(devs[i], 1);
        }
        Path storageFile = SCRATCH.resolve("soak-file-storage.img");
        Path storageDevice = loop("soak-device-storage", 112 * MIB);

        long deadline = System.nanoTime() + Duration.ofMinutes(minutes).toNanos();
        List<Process> fios = new ArrayList<>();
        for (Path d : devs) {
            fios.add(new ProcessBuilder("fio", "--name=soak", "--filename=" + d, "--offset=0",
                    "--size=" + (long) FIRST_STAMPED * BLOCK, "--rw=randwrite", "--bs=4k", "--ioengine=libaio",
                    "--iodepth=4", "--direct=1", "--verify=crc32c", "--verify_backlog=512",
                    "--verify_fatal=1", "--time_based", "--runtime=" + (minutes * 60 + 30), "--rate_iops=300")
                    .redirectErrorStream(true).redirectOutput(SCRATCH.resolve("fio-" + d.getFileName() + ".log")
                            .toFile()).start());
        }
        ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
        AtomicLong gens = new AtomicLong(1);
        List<StampWriter> writers = new ArrayList<>();
        for (Path d : devs) {
            writers.add(new StampWriter(d, gens, rnd.split(), errors));
        }
        Counts n = new Counts();
        try {
            while (System.nanoTime() < deadline && errors.isEmpty()) {
                cycle(rnd, devs, writers, storageFile, storageDevice, faults, n);
            }
        } finally {
            for (StampWriter w : writers) {
                w.stop();
            }
        }
        assertEquals(List.of(), List.copyOf(errors), "origin writes failed");
        for (int i = 0; i < DEVICES; i++) {
            Process p = fios.get(i);
            assertTrue(p.waitFor(5, TimeUnit.MINUTES), "fio on " + devs[i] + " did not end");
            String log = Files.readString(SCRATCH.resolve("fio-" + devs[i].getFileName() + ".log"));
            assertEquals(0, p.exitValue(), "fio --verify on " + devs[i] + ":\n" + log);
            long[] onOrigin = stampedGens(devs[i]);
            for (int b = FIRST_STAMPED; b < BLOCKS; b++) {
                long want = Math.max(1, writers.get(i).last.get(b));
                assertEquals(want, onOrigin[b], "origin " + devs[i] + " block " + b + " after the soak");
            }
        }
        long stamped = writers.stream().mapToLong(w -> w.writes.get()).sum();
        System.out.printf("[soak] %d min: %d cycles, %d snapshots, %d overflows, %d broken and %d refused under"
                + " faults, %d faults injected, %d MiB of images verified, %d image reads failed with EIO as"
                + " they must; origins: %d stamp writes exact, fio --verify 0 errors on %d devices%n", minutes,
                n.cycles, n.snapshots, n.overflows, n.brokenByFaults, n.refusedByFaults, n.faults,
                n.verifiedBytes / MIB, n.eioReads, stamped, DEVICES);
    }

    private void cycle(SplittableRandom rnd, Path[] devs, List<StampWriter> writers, Path storageFile,
            Path storageDevice, boolean faultsAvailable, Counts n) throws Exception {
        n.cycles++;
        long t0 = System.nanoTime();
        long[] at = new long[3]; // taken, checked, destroyed (ns since t0); 0 = not reached
        List<Integer> chosen = new ArrayList<>();
        for (int i = 0; i < DEVICES; i++) {
            if (rnd.nextBoolean()) {
                chosen.add(i);
            }
        }
        if (chosen.isEmpty()) {
            chosen.add(rnd.nextInt(DEVICES));
        }
        int kind = rnd.nextInt(3);
        boolean small = rnd.nextInt(4) == 0;
        boolean withFaults = faultsAvailable && rnd.nextInt(5) == 0;
        long limit = small ? (1 + rnd.nextInt(3)) * MIB : 128 * MIB;
        Path storage = switch (kind) {
            case 0 -> SCRATCH;
            case 1 -> {
                Files.deleteIfExists(storageFile);
                Files.write(storageFile, new byte[0]);
                yield storageFile;
            }
            default -> storageDevice;
        };
        FaultInjector f = withFaults
                ? FaultInjector.arm(Set.of(FaultPoint.SLAB), Aim.module("blksnap", 32), 2 + rnd.nextInt(8))
                : null;
        long id = -1;
        boolean faulted = withFaults;
        try {
            try {
                id = snap.create(storage, kind == 2 && !small ? 0 : limit, false);
                for (int i : chosen) {
                    add(id, devs[i]);
                }
            } catch (Snapshots.Failed e) {
                if (f != null && e.errno == Errno.ENOMEM) {
                    n.refusedByFaults++;
                    return;
                }
                throw e;
            }
            long[][] atTake = new long[DEVICES][];
            for (StampWriter w : writers) {
                w.pause.writeLock().lock();
            }
            try {
                try {
                    snap.take(id, false);
                } catch (Snapshots.Failed e) {
                    if (f != null && e.errno == Errno.ENOMEM) {
                        n.refusedByFaults++;
                        return;
                    }
                    throw e;
                }
                for (int i : chosen) {
                    atTake[i] = new long[BLOCKS];
                    for (int b = FIRST_STAMPED; b < BLOCKS; b++) {
                        atTake[i][b] = Math.max(1, writers.get(i).last.get(b));
                    }
                }
            } finally {
                for (StampWriter w : writers) {
                    w.pause.writeLock().unlock();
                }
            }
            n.snapshots++;
            at[0] = System.nanoTime() - t0;
            // Copies under faults while the origins are written; the checks after, without.
            Thread.sleep(rnd.nextInt(1500));
            if (f != null) {
                n.faults += f.injected();
                f.close();
                f = null;
                faulted = true;
            }
            Snapshots.Info info = snap.info(id);
            String[] firstDigests = new String[DEVICES];
            for (int round = 0; round < 2; round++) {
                for (int i : chosen) {
                    Path image = info.device(DeviceId.of(devs[i])).imagePath();
                    if (!checkImage(id, image, atTake[i], firstDigests, i, n)) {
                        break;
                    }
                }
                Thread.sleep(rnd.nextInt(1500));
            }
            at[1] = System.nanoTime() - t0;
            Snapshots.Info end = snap.info(id);
            if (end.state() == Uapi.SNAPSHOT_STATE_BROKEN) {
                if (end.error() == Errno.ENOSPC) {
                    n.overflows++;
                } else if (faulted) {
                    n.brokenByFaults++;
                } else {
                    throw new AssertionError("snapshot " + id + " broke with error " + end.error()
                            + " with no overflow and no fault");
                }
            } else {
                assertTrue(!small || end.storageUsed() <= limit, "storage used past the limit: " + end);
            }
        } finally {
            if (f != null) {
                n.faults += f.injected();
                f.close();
            }
            if (id >= 0) {
                snap.destroy(id);
                at[2] = System.nanoTime() - t0;
            }
            System.out.printf("[soak] cycle %d: devices %s, storage %s, limit %d MiB%s: taken at %d ms, checked at"
                    + " %d ms, destroyed at %d ms%n", n.cycles, chosen, kind == 0 ? "directory" : kind == 1 ? "file"
                    : "device", limit / MIB, withFaults ? ", faults" : "", at[0] / 1_000_000, at[1] / 1_000_000,
                    at[2] / 1_000_000);
        }
    }

    /**
     * Reads one image: the stamped half must be the take's, the fio half
     * the same as at the first read; false when the snapshot is broken and
     * the read failed with EIO, as it must then.
     */
    private boolean checkImage(long id, Path image, long[] atTake, String[] firstDigests, int i, Counts n)
            throws Exception {
        long[] gens;
        String digest;
        try {
            gens = stampedGens(image);
            digest = fioHalfDigest(image);
        } catch (IOException e) {
            assertEquals(Uapi.SNAPSHOT_STATE_BROKEN, snap.info(id).state(), "an image read failed (" + e.getMessage()
                    + ") of a snapshot that is not broken");
            n.eioReads++;
            return false;
        }
        if (snap.info(id).state() == Uapi.SNAPSHOT_STATE_BROKEN) {
            return false; // broken after the read began: what it returned need not be whole
        }
        for (int b = FIRST_STAMPED; b < BLOCKS; b++) {
            assertEquals(atTake[b], gens[b], "image " + image + " block " + b + " is not the take's");
        }
        if (firstDigests[i] == null) {
            firstDigests[i] = digest;
        } else {
            assertEquals(firstDigests[i], digest, "image " + image + ": fio's half changed between two reads");
        }
        n.verifiedBytes += DEVICE_BYTES;
        return true;
    }
}
