// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.DeviceId;
import dev.blksnap.internal.Errno;
import dev.blksnap.internal.RawIoctl;
import dev.blksnap.internal.Uapi;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;

import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The rule above all: an image equals its device at the instant of take,
 * byte for byte, whatever is written to the device afterwards, and the
 * device keeps every write.
 *
 * <p>Every sector of a disk is stamped (its number, a generation, a payload
 * and checksum derived from both), a snapshot is taken, and several threads
 * write to the disk at once: writes of 1 sector to 1 MiB at any sector
 * alignment, writes across chunk boundaries, rewrites of a few hot chunks,
 * discards and write-zeroes. Each write is read back at once. Meanwhile a
 * reader checks random ranges of the image, so image reads race with the
 * first copies of their chunks. At the end every sector of the image must
 * carry its pre-take stamp, and every sector of the disk the last write to
 * it (zeroes after write-zeroes; anything after a discard).
 *
 * <p>Overlapping writes are serialized by 4 KiB stripe locks (two writes in
 * flight to one sector have no defined result), so writes to different
 * parts of one chunk still race for its copy.
 *
 * <p>BLKSNAP_IT_COW_WRITES sets the number of writes (default 100000; 10000
 * on the debug lane, where KASAN makes each write several times slower).
 */
@Order(20)
class SnapshotCorruptionTest extends SnapshotItBase {
    private static final int THREADS = 8;
    private static final int STRIPE = 8; // sectors per lock
    private static final long UNKNOWN = -1;

    private final Path disk = Guest.disk(0);
    private final Path storage = Guest.disk(1);

    private static long writes() {
        String v = System.getenv("BLKSNAP_IT_COW_WRITES");
        if (v != null && !v.isBlank()) {
            return Long.parseLong(v.trim());
        }
        return "debug".equals(System.getenv("BLKSNAP_LANE")) ? 10_000 : 100_000;
    }

    /** The disk as the test believes it is: the generation of every sector. */
    private static final class Model {
        final long sectors;
        final long[] gen;
        final ReentrantLock[] stripes;
        final AtomicLong nextGen = new AtomicLong(2);

        Model(long sectors) {
            this.sectors = sectors;
            gen = new long[(int) sectors];
            Arrays.fill(gen, 1);
            stripes = new ReentrantLock[(int) ((sectors + STRIPE - 1) / STRIPE)];
            for (int i = 0; i < stripes.length; i++) {
                stripes[i] = new ReentrantLock();
            }
        }

        void lock(long from, long count) {
            for (long s = from / STRIPE; s <= (from + count - 1) / STRIPE; s++) {
                stripes[(int) s].lock();
            }
        }

        void unlock(long from, long count) {
            for (long s = from / STRIPE; s <= (from + count - 1) / STRIPE; s++) {
                stripes[(int) s].unlock();
            }
        }
    }

    private record Counts(AtomicLong verified, AtomicLong discards, AtomicLong zeroouts,
            AtomicLong imageReads, AtomicLong imageSectors) {
        Counts() {
            this(new AtomicLong(), new AtomicLong(), new AtomicLong(), new AtomicLong(), new AtomicLong());
        }
    }

    /** One writer: random writes, discards and write-zeroes, each checked when it completes. */
    private void writer(Model m, SplittableRandom rnd, long target, Counts n, long chunkSectors,
            ConcurrentLinkedQueue<String> errors) throws IOException {
        int fd = Posix.open(disk, Posix.O_RDWR | Posix.O_DIRECT);
        long[] hot = new long[8];
        for (int i = 0; i < hot.length; i++) {
            hot[i] = rnd.nextLong(m.sectors / chunkSectors) * chunkSectors;
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = Posix.aligned(a, 1 << 20);
            MemorySegment back = Posix.aligned(a, 1 << 20);
            MemorySegment range = a.allocate(JAVA_LONG, 2);
            while (n.verified().get() < target && errors.isEmpty()) {
                int kind = rnd.nextInt(100);
                int size = rnd.nextInt(100);
                long count = size == 0 ? 257 + rnd.nextInt(1792)  // up to 1 MiB
                        : size < 10 ? 9 + rnd.nextInt(248)        // up to 128 KiB
                        : 1 + rnd.nextInt(8);
                long from;
                if (kind < 15) { // across a chunk boundary
                    long boundary = (1 + rnd.nextLong(m.sectors / chunkSectors - 1)) * chunkSectors;
                    from = boundary - 1 - rnd.nextLong(Math.min(count, boundary));
                    count = Math.max(count, boundary - from + 1);
                } else if (kind < 35) { // a hot chunk, again and again
                    from = hot[rnd.nextInt(hot.length)] + rnd.nextLong(chunkSectors);
                } else {
                    from = rnd.nextLong(m.sectors);
                }
                count = Math.min(count, m.sectors - from);
                m.lock(from, count);
                try {
                    if (kind >= 94) {
                        range.set(JAVA_LONG, 0, from * Stamp.SECTOR);
                        range.set(JAVA_LONG, 8, count * Stamp.SECTOR);
                        boolean zero = kind >= 97;
                        int rc = RawIoctl.ioctl(fd, zero ? BLKZEROOUT : BLKDISCARD, range);
                        if (rc != 0) {
                            errors.add((zero ? "BLKZEROOUT" : "BLKDISCARD") + " " + from + "+" + count + ": "
                                    + Errno.name(-rc));
                            return;
                        }
                        Arrays.fill(m.gen, (int) from, (int) (from + count), zero ? 0 : UNKNOWN);
                        (zero ? n.zeroouts() : n.discards()).incrementAndGet();
                        if (!zero) {
                            continue;
                        }
                        verify(fd, back, from, count, 0, errors);
                    } else {
                        long gen = m.nextGen.getAndIncrement();
                        MemorySegment part = buf.asSlice(0, count * Stamp.SECTOR);
                        Stamp.fill(part, from, count, gen);
                        Posix.pwrite(fd, part, from * Stamp.SECTOR);
                        Arrays.fill(m.gen, (int) from, (int) (from + count), gen);
                        verify(fd, back, from, count, gen, errors);
                    }
                    n.verified().incrementAndGet();
                } finally {
                    m.unlock(from, count);
                }
            }
        } finally {
            Posix.close(fd);
        }
    }

    private static void verify(int fd, MemorySegment back, long from, long count, long gen,
            ConcurrentLinkedQueue<String> errors) throws IOException {
        MemorySegment part = back.asSlice(0, count * Stamp.SECTOR);
        Posix.pread(fd, part, from * Stamp.SECTOR);
        for (long i = 0; i < count; i++) {
            long got = Stamp.read(part, i * Stamp.SECTOR, from + i);
            if (got != gen) {
                errors.add("disk sector " + (from + i) + " reads generation " + got + " right after writing "
                        + gen);
                return;
            }
        }
    }

    /** Reads random ranges of the image while the writers run: all must be pre-take. */
    private static void imageReader(Path image, long sectors, SplittableRandom rnd, AtomicBoolean stop, Counts n,
            ConcurrentLinkedQueue<String> errors) throws IOException {
        int fd = Posix.open(image, Posix.O_RDONLY | Posix.O_DIRECT);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = Posix.aligned(a, 1 << 20);
            while (!stop.get() && errors.isEmpty()) {
                long count = 1 + rnd.nextLong(rnd.nextBoolean() ? 16 : 2048);
                long from = rnd.nextLong(sectors - count + 1);
                MemorySegment part = buf.asSlice(0, count * Stamp.SECTOR);
                Posix.pread(fd, part, from * Stamp.SECTOR);
                for (long i = 0; i < count; i++) {
                    long got = Stamp.read(part, i * Stamp.SECTOR, from + i);
                    if (got != 1) {
                        errors.add("image sector " + (from + i) + " reads generation " + got
                                + " during the writes, want 1 (pre-take)");
                        return;
                    }
                }
                n.imageReads().incrementAndGet();
                n.imageSectors().addAndGet(count);
            }
        } finally {
            Posix.close(fd);
        }
    }

    @Test
    @Timeout(value = 20, unit = TimeUnit.MINUTES)
    void imageHoldsThePreTakeStampsWhileWritersHammerTheDisk(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        long sectors = Guest.sizeSectors(disk);
        long target = writes();
        stampAll(disk, 1);

        long id = snap.create(storage, 0, false);
        add(id, disk);
        Snapshots.Take take = snap.take(id, true);
        Snapshots.Device dev = snap.info(id).device(DeviceId.of(disk));
        Path image = dev.imagePath();
        long chunkSectors = dev.chunkSize() / Stamp.SECTOR;
        System.out.printf("[corruption] %s: %d sectors, chunks of %d bytes, image %s, writes held %d us at take%n",
                disk, sectors, dev.chunkSize(), image, take.holdNs() / 1000);
        assertEquals(sectors, dev.capacitySectors());
        assertEquals(Uapi.FREEZE_NO_FILESYSTEM, dev.freeze(), "nothing is mounted on " + disk);

        Model m = new Model(sectors);
        Counts n = new Counts();
        ConcurrentLinkedQueue<String> errors = new ConcurrentLinkedQueue<>();
        AtomicBoolean stop = new AtomicBoolean();
        List<Thread> writers = new ArrayList<>();
        long t0 = System.nanoTime();
        for (int i = 0; i < THREADS; i++) {
            SplittableRandom r = rnd.split();
            writers.add(Thread.ofPlatform().name("cow-writer-" + i).start(() -> {
                try {
                    writer(m, r, target, n, chunkSectors, errors);
                } catch (Throwable e) {
                    errors.add("writer: " + e);
                }
            }));
        }
        SplittableRandom rr = rnd.split();
        Thread reader = Thread.ofPlatform().name("cow-image-reader").start(() -> {
            try {
                imageReader(image, sectors, rr, stop, n, errors);
            } catch (Throwable e) {
                errors.add("image reader: " + e);
            }
        });
        for (Thread t : writers) {
            t.join();
        }
        stop.set(true);
        reader.join();
        double secs = (System.nanoTime() - t0) / 1e9;
        assertEquals(List.of(), List.copyOf(errors).subList(0, Math.min(errors.size(), 10)));

        long[] bad = {0, -1, -1};
        scan(image, (s, gen) -> {
            if (gen != 1 && bad[0]++ == 0) {
                bad[1] = s;
                bad[2] = gen;
            }
        });
        assertEquals(0, bad[0], "image sectors not pre-take, first " + bad[1] + " (generation " + bad[2] + ")");
        scan(disk, (s, gen) -> {
            long want = m.gen[(int) s];
            if (want != UNKNOWN && gen != want && bad[0]++ == 0) {
                bad[1] = s;
                bad[2] = gen;
            }
        });
        assertEquals(0, bad[0], "disk sectors not holding their last write, first " + bad[1] + " (generation "
                + bad[2] + ", want " + (bad[1] >= 0 ? m.gen[(int) bad[1]] : 0) + ")");

        Snapshots.Info info = snap.info(id);
        Snapshots.Device after = info.device(DeviceId.of(disk));
        System.out.printf("[corruption] %d verified writes (%d discards, %d write-zeroes) in %.1f s from %d threads;"
                + " %d image reads (%d sectors) checked meanwhile; %d writes held, %d chunks copied, %d stored,"
                + " %d discards dropped, %d bytes of storage%n", n.verified().get(), n.discards().get(),
                n.zeroouts().get(), secs, THREADS, n.imageReads().get(), n.imageSectors().get(),
                after.writesHeld(), after.chunksCopied(), after.chunksStored(), after.discardsDropped(),
                info.storageUsed());
        assertEquals(Uapi.SNAPSHOT_STATE_TAKEN, info.state(), "snapshot state, error " + info.error());
        assertTrue(n.verified().get() >= target, "only " + n.verified().get() + " of " + target + " writes");
        assertTrue(after.chunksCopied() > 0 && after.writesHeld() > 0, "no copy-on-write happened: " + after);
        assertTrue(n.imageReads().get() > 0, "the image was never read during the writes");
        snap.destroy(id);
        assertEquals(List.of(), snap.list());
    }
}
