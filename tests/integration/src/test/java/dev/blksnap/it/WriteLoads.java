// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Arrays;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The write loads the backup tests run while they back up: each on its own
 * thread, and an I/O error on the origin fails the test (the origin's I/O
 * must never fail because of a snapshot).
 */
final class WriteLoads {
    private WriteLoads() {
    }

    /** A writer on its own thread; an I/O error fails the test (the origin's I/O must never fail). */
    abstract static class Load {
        private final Thread thread;
        private final AtomicReference<Throwable> failure = new AtomicReference<>();
        final AtomicLong ops = new AtomicLong();
        private volatile boolean stop;
        private boolean closed;

        Load(String name) {
            thread = Thread.ofPlatform().name(name).daemon(true).unstarted(() -> {
                try {
                    while (!stop) {
                        step();
                        ops.incrementAndGet();
                    }
                } catch (Throwable t) {
                    failure.set(t);
                }
            });
        }

        abstract void step() throws Exception;

        void start() {
            thread.start();
        }

        /** Waits until {@code n} more steps were done. */
        void awaitProgress(int n) {
            long target = ops.get() + n;
            Guest.waitUntil(thread.getName() + " to make progress", Duration.ofSeconds(120),
                    () -> ops.get() >= target || failure.get() != null);
            check();
        }

        /** Stops it (again: nothing more), closes what it holds and reports its failure. */
        final void stop() throws Exception {
            stop = true;
            thread.join(60_000);
            if (!closed) {
                closed = true;
                close();
            }
            check();
        }

        /** Releases what the load holds, once, after its thread ended. */
        void close() throws IOException {
        }

        private void check() {
            if (failure.get() != null)
                throw new AssertionError(thread.getName() + " failed: a write to the origin failed", failure.get());
        }
    }

    /** Files of 4 KiB to 128 KiB written, rewritten and deleted in a mounted file system, fsync now and then. */
    static final class FileLoad extends Load {
        private final Path dir;
        private final SplittableRandom rnd;

        FileLoad(Path dir, SplittableRandom rnd) {
            super("file-load");
            this.dir = dir;
            this.rnd = rnd;
        }

        @Override
        void step() throws IOException, InterruptedException {
            Thread.sleep(25); // a steady load, not a flood: it shares two emulated CPUs with the backups
            Path f = dir.resolve("f" + rnd.nextInt(48));
            if (rnd.nextInt(8) == 0) {
                Files.deleteIfExists(f);
                return;
            }
            byte[] b = new byte[4096 * (1 + rnd.nextInt(32))];
            rnd.nextBytes(b);
            try (FileChannel ch = FileChannel.open(f, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer buf = ByteBuffer.wrap(b);
                while (buf.hasRemaining())
                    ch.write(buf);
                if (rnd.nextInt(4) == 0)
                    ch.force(true);
            }
        }
    }

    /**
     * Writes sequence number n to a slot of the first device, then to the
     * same slot of the second, n = 1, 2, ...: at any instant the two hold
     * the same latest number, or the first one more.
     */
    static final class PairWriter extends Load {
        private static final int SLOTS = 64;
        private final DiskIo a;
        private final DiskIo b;
        private long n;

        PairWriter(Path a, Path b) throws IOException {
            super("pair-writer");
            this.a = new DiskIo(a);
            this.b = new DiskIo(b);
        }

        @Override
        void step() throws IOException {
            n++;
            byte[] block = stamp(n);
            long at = (n % SLOTS) * DiskIo.PAGE;
            a.direct(at, block);
            b.direct(at, block);
        }

        @Override
        void close() throws IOException {
            a.close();
            b.close();
        }

        private static byte[] stamp(long n) {
            ByteBuffer s = ByteBuffer.allocate(DiskIo.PAGE);
            while (s.hasRemaining())
                s.putLong(n ^ 0x5a5a5a5a5a5a5a5aL);
            return s.array();
        }

        /** The highest sequence number in a restored image (0: none); deletes the file. */
        static long latest(Path image) throws IOException {
            long max = 0;
            try (FileChannel ch = FileChannel.open(image)) {
                ByteBuffer buf = ByteBuffer.allocate(DiskIo.PAGE);
                for (int slot = 0; slot < SLOTS; slot++) {
                    ch.read(buf.clear(), (long) slot * DiskIo.PAGE);
                    long v = buf.getLong(0) ^ 0x5a5a5a5a5a5a5a5aL;
                    if (v > 0 && v < (1L << 40) && Arrays.equals(buf.array(), stamp(v)))
                        max = Math.max(max, v);
                }
            } finally {
                Files.delete(image);
            }
            return max;
        }
    }

    /** Random 64 KiB O_DIRECT writes all over a device; remembers what each place holds last. */
    static final class BlockWriter extends Load {
        private static final int LEN = 64 << 10;
        private final Path dev;
        private final DiskIo io;
        private final SplittableRandom rnd;
        private final Map<Long, Long> seeds = new ConcurrentHashMap<>();
        private final long slots;

        BlockWriter(Path dev, SplittableRandom rnd) throws IOException {
            super("block-writer");
            this.dev = dev;
            this.io = new DiskIo(dev);
            this.rnd = rnd;
            this.slots = io.size() / LEN;
        }

        @Override
        void step() throws IOException {
            long slot = rnd.nextLong(slots);
            long seed = rnd.nextLong();
            io.direct(slot * LEN, LEN, new SplittableRandom(seed));
            seeds.put(slot, seed);
        }

        @Override
        void close() throws IOException {
            io.close();
        }

        /** Every place holds what was written there last (DiskIo fills a buffer with nextLong()s). */
        void assertReadsBack() throws IOException {
            Guest.settle(dev);
            try (FileChannel ch = FileChannel.open(dev)) {
                ByteBuffer got = ByteBuffer.allocate(LEN);
                ByteBuffer want = ByteBuffer.allocate(LEN);
                for (Map.Entry<Long, Long> e : seeds.entrySet()) {
                    ch.read(got.clear(), e.getKey() * LEN);
                    SplittableRandom r = new SplittableRandom(e.getValue());
                    want.clear();
                    while (want.hasRemaining())
                        want.putLong(r.nextLong());
                    assertEquals(want.flip(), got.flip(), "the device at " + e.getKey() * LEN + " after the overflow");
                }
            }
            System.out.println("[overflow] " + seeds.size() + " places written during the backup read back");
        }
    }
}
