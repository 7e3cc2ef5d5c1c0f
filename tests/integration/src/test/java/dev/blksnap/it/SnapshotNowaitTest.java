// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.blksnap.CbtMap;
import dev.blksnap.DeviceId;
import dev.blksnap.internal.Errno;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Writers that must not wait (REQ_NOWAIT: io_uring's first try,
 * pwritev2(RWF_NOWAIT)): a write that a snapshot would hold at take or park
 * for a copy is ended with EAGAIN instead, the copies it needs are started,
 * and it passes when tried again; a write whose chunks were copied passes
 * at once. The image keeps the content of the instant of take, the device
 * every write, and CBT marks every block written.
 *
 * <p>Three writers on one disk, one after the other, each in its own region:
 * <ol>
 * <li>4 KiB blocks in sequence with RWF_NOWAIT, across take (each block
 * stamped with its own generation, so the image shows where the instant
 * fell: a prefix of the blocks);
 * <li>writes of 1 sector to 64 KiB at any sector with RWF_NOWAIT, then the
 * same writes again: the first pass must see EAGAIN, the second none;
 * <li>fio with io_uring (direct, random writes of 4 to 64 KiB, --verify):
 * io_uring retries an EAGAIN that completes in its submitting task from
 * a worker, without the flag, so fio sees no error; the module's counter
 * shows that its writes were refused.
 * </ol>
 * The RWF_NOWAIT writer is the test's own (pwritev2 through FFM) and tries
 * each write again until it is accepted: fio's pvsync2 engine with
 * --nowait=1 takes EAGAIN as an I/O error (the job fails, or with
 * --ignore_error the write is dropped, and its verify skips it), so it
 * cannot show that every write lands. No RWF_NOWAIT writer may ever be
 * held or parked: the device's writes_held stays 0 through stages 1 and 2.
 */
@Order(24)
class SnapshotNowaitTest extends SnapshotItBase {
    private static final long MIB = 1 << 20;
    private static final int BLOCK = 4096;
    private static final int SECTORS = BLOCK / Stamp.SECTOR;
    /** Longest a write may be refused: its chunks' copies start at the first refusal. */
    private static final Duration LANDS_WITHIN = Duration.ofSeconds(30);
    private static final Path COUNTERS = Path.of("/sys/kernel/debug/blksnap/snapshots");

    private final Path disk = Guest.disk(0);
    private final Path storage = Guest.disk(1);

    /** What a RWF_NOWAIT writer saw; one thread at a time. */
    private static final class Tries {
        long writes;
        long eagain;
        long refusedWrites;
    }

    /** pwritev2(RWF_NOWAIT) until it is accepted, counting each EAGAIN; any other error fails. */
    private static void writeNowait(int fd, MemorySegment buf, long offset, Tries t) throws IOException {
        long deadline = System.nanoTime() + LANDS_WITHIN.toNanos();
        boolean refused = false;
        for (;;) {
            long n = Posix.pwritev2Raw(fd, buf, offset, Posix.RWF_NOWAIT);
            if (n == buf.byteSize()) {
                break;
            }
            if (n != -Posix.EAGAIN) {
                throw new IOException("pwritev2(RWF_NOWAIT) of " + buf.byteSize() + " bytes at " + offset + ": "
                        + (n < 0 ? Errno.name((int) -n) : "returned " + n));
            }
            t.eagain++;
            refused = true;
            if (System.nanoTime() > deadline) {
                throw new AssertionError("a RWF_NOWAIT write of " + buf.byteSize() + " bytes at " + offset
                        + " refused with EAGAIN for " + LANDS_WITHIN.toSeconds() + " s: its chunks were never copied"
                        + " (or a page of the range is in the page cache)");
            }
            LockSupport.parkNanos(100_000);
        }
        t.writes++;
        if (refused) {
            t.refusedWrites++;
        }
    }

    /** The device's nowait_refused counter in debugfs (module/README.md). */
    private static long nowaitRefused(DeviceId dev) throws IOException {
        String text = Files.readString(COUNTERS);
        Matcher m = Pattern.compile("^  " + dev.major() + ":" + dev.minor()
                + " image .* nowait_refused (\\d+) error ", Pattern.MULTILINE).matcher(text);
        assertTrue(m.find(), "no nowait_refused for " + dev + " in the debugfs counters:\n" + text);
        return Long.parseLong(m.group(1));
    }

    /** Marks the blocks of {@code blockSize} that sectors [from, from + count) touch. */
    private static void touch(BitSet blocks, long from, long count, int blockSize) {
        long per = blockSize / Stamp.SECTOR;
        blocks.set((int) (from / per), (int) ((from + count - 1) / per) + 1);
    }

    @Test
    @Timeout(value = 10, unit = TimeUnit.MINUTES)
    void nowaitWritesAreRefusedNeverHeldAndAllLand(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        boolean debug = debugLane(); // KASAN: several times slower, and the lane's time budget
        // Regions from 1 MiB on (sector 0 is where a probe would read, and a cached page of the
        // range makes the kernel itself answer RWF_NOWAIT with EAGAIN).
        long seqFrom = 2048;
        int seqBlocks = debug ? 256 : 1024;
        long randFrom = seqFrom + (long) seqBlocks * SECTORS;
        long randSectors = (debug ? 4 : 8) * MIB / Stamp.SECTOR;
        int randWrites = debug ? 120 : 300;
        long fioFrom = randFrom + randSectors;
        long fioSectors = (debug ? 8 : 24) * MIB / Stamp.SECTOR;
        long end = fioFrom + fioSectors;
        stampRange(disk, 0, end, 1);

        long id = snap.create(storage, 0, false);
        add(id, disk); // also drops the disk's page cache
        DeviceId dev = DeviceId.of(disk);
        int fd = Posix.open(disk, Posix.O_RDWR | Posix.O_DIRECT);
        long[] model = new long[(int) end]; // the disk as the writers left it: a generation per sector
        Arrays.fill(model, 1);
        BitSet written = new BitSet(); // sectors written after take, as blocks of the CBT map below
        List<long[]> extents = new ArrayList<>();
        try (Arena a = Arena.ofShared()) {
            // 1. Blocks in sequence across take.
            AtomicLong seq = new AtomicLong();
            Tries seqTries = new Tries();
            AtomicReference<Throwable> seqFail = new AtomicReference<>();
            MemorySegment block = Posix.aligned(a, BLOCK);
            Thread seqWriter = Thread.ofPlatform().name("nowait-seq").start(() -> {
                try {
                    for (int i = 0; i < seqBlocks; i++) {
                        long s = seqFrom + (long) i * SECTORS;
                        Stamp.fill(block, s, SECTORS, 2 + i);
                        writeNowait(fd, block, s * Stamp.SECTOR, seqTries);
                        seq.incrementAndGet();
                    }
                } catch (Throwable e) {
                    seqFail.set(e);
                }
            });
            long before = 32 + rnd.nextInt(96);
            Guest.waitUntil("the RWF_NOWAIT writer to write " + before + " blocks", Duration.ofSeconds(120),
                    () -> seq.get() >= before || seqFail.get() != null);
            Snapshots.Take take = snap.take(id, false);
            long atTake = seq.get();
            seqWriter.join();
            if (seqFail.get() != null) {
                throw new AssertionError("the sequential RWF_NOWAIT writer failed", seqFail.get());
            }
            for (int i = 0; i < seqBlocks; i++) {
                Arrays.fill(model, (int) (seqFrom + (long) i * SECTORS), (int) (seqFrom + (long) (i + 1) * SECTORS),
                        2 + i);
            }
            long refusedSeq = nowaitRefused(dev);
            assertEquals(0, snap.info(id).device(dev).writesHeld(),
                    "RWF_NOWAIT writes were held at take or parked for copies");

            // 2. Writes of any size at any sector, then the same again over the chunks now copied.
            MemorySegment buf = Posix.aligned(a, 64 * 1024);
            for (int i = 0; i < randWrites; i++) {
                long len = 1 + rnd.nextInt(128);
                long s = randFrom + rnd.nextLong(randSectors - len + 1);
                extents.add(new long[] {s, len});
            }
            Tries first = new Tries();
            Tries again = new Tries();
            long gen = 1_000_000;
            for (Tries t : List.of(first, again)) {
                for (long[] e : extents) {
                    gen++;
                    MemorySegment part = buf.asSlice(0, e[1] * Stamp.SECTOR);
                    Stamp.fill(part, e[0], e[1], gen);
                    writeNowait(fd, part, e[0] * Stamp.SECTOR, t);
                    Arrays.fill(model, (int) e[0], (int) (e[0] + e[1]), gen);
                }
            }
            long refusedRand = nowaitRefused(dev) - refusedSeq;
            Snapshots.Device d = snap.info(id).device(dev);
            System.out.printf("[nowait] take after %d blocks (hold %d us); sequential: %d writes, %d EAGAIN (%d"
                    + " writes refused at least once); random: %d writes, %d EAGAIN (%d writes), again: %d EAGAIN;"
                    + " module refused %d + %d; %d chunks copied, writes held %d%n", atTake, take.holdNs() / 1000,
                    seqTries.writes, seqTries.eagain, seqTries.refusedWrites, first.writes, first.eagain,
                    first.refusedWrites, again.eagain, refusedSeq, refusedRand, d.chunksCopied(), d.writesHeld());
            assertEquals(0, d.writesHeld(), "RWF_NOWAIT writes were parked for copies");
            assertTrue(first.eagain > 0 && refusedRand > 0, "no RWF_NOWAIT write to a chunk not copied was refused"
                    + " (writer saw " + first.eagain + " EAGAIN, the module counted " + refusedRand + ")");
            assertTrue(refusedRand <= first.eagain, "the module counted " + refusedRand + " refusals, the writer saw "
                    + first.eagain + " EAGAIN");
            assertEquals(0, again.eagain, "writes to chunks already copied were refused");
            assertEquals(refusedSeq + refusedRand, nowaitRefused(dev), "the module refused writes to copied chunks");

            // 3. fio with io_uring, verified by fio.
            long refusedBefore = nowaitRefused(dev);
            long heldBefore = d.writesHeld();
            List<String> fio = List.of("fio", "--name=uring", "--filename=" + disk, "--ioengine=io_uring",
                    "--direct=1", "--hipri=0", "--rw=randwrite", "--bsrange=4k-64k", "--iodepth=8",
                    "--offset=" + fioFrom * Stamp.SECTOR, "--size=" + fioSectors * Stamp.SECTOR,
                    "--verify=crc32c", "--verify_fatal=1", "--randseed=" + (1 + rnd.nextInt(1 << 30)),
                    "--output-format=json");
            Guest.Result r = Guest.run(fio, Map.of());
            assertEquals(0, r.exit(), "fio io_uring during the snapshot: " + r.describe(fio));
            JsonNode job = new ObjectMapper().readTree(r.stdout()).path("jobs").path(0);
            long refusedUring = nowaitRefused(dev) - refusedBefore;
            d = snap.info(id).device(dev);
            System.out.printf("[nowait] fio io_uring: error %d, %d bytes written, %d read to verify; module refused"
                    + " %d, writes held %d%n", job.path("error").asInt(-1), job.path("write").path("io_bytes").asLong(),
                    job.path("read").path("io_bytes").asLong(), refusedUring, d.writesHeld() - heldBefore);
            assertEquals(0, job.path("error").asInt(-1), "fio's error");
            assertEquals(fioSectors * Stamp.SECTOR, job.path("write").path("io_bytes").asLong(), "bytes fio wrote");
            assertEquals(fioSectors * Stamp.SECTOR, job.path("read").path("io_bytes").asLong(), "bytes fio verified");
            assertTrue(refusedUring > 0, "no write of io_uring was refused (its first tries carry REQ_NOWAIT)");

            // The image: the instant of take, a prefix of the sequential writer, the rest as stamped.
            Path image = d.imagePath();
            long[] imageGen = new long[(int) end];
            scan(image, 0, end, (s, g) -> imageGen[(int) s] = g);
            int prefix = 0;
            while (prefix < seqBlocks && imageGen[(int) (seqFrom + (long) prefix * SECTORS)] == 2 + prefix) {
                prefix++;
            }
            for (long s = 0; s < end; s++) {
                long i = (s - seqFrom) / SECTORS;
                long want = s >= seqFrom && i < prefix ? 2 + i : 1;
                assertEquals(want, imageGen[(int) s], "image sector " + s + " (the instant after " + prefix
                        + " sequential blocks)");
            }
            assertTrue(prefix >= before && prefix <= atTake + 1, "the instant " + prefix + " is not inside take ("
                    + before + ".." + atTake + ")");
            // The device: every write of stages 1 and 2 (fio verified its own).
            scan(disk, 0, fioFrom, (s, g) -> assertEquals(model[(int) s], g, "disk sector " + s));

            // CBT: every block written after take is changed since the closed number (more may be).
            CbtMap map = ctl.readMap(dev);
            int bs = map.info().blockSize();
            touch(written, seqFrom + (long) prefix * SECTORS, (long) (seqBlocks - prefix) * SECTORS, bs);
            for (long[] e : extents) {
                touch(written, e[0], e[1], bs);
            }
            touch(written, fioFrom, fioSectors, bs);
            BitSet missing = (BitSet) written.clone();
            missing.andNot(Blocks.changed(map, d.closedNumber()));
            assertEquals(new BitSet(), missing, "blocks written after take but not changed since the closed number "
                    + d.closedNumber() + " (blocks of " + bs + " bytes)");
        } finally {
            Posix.close(fd);
        }
        snap.destroy(id);
    }
}
