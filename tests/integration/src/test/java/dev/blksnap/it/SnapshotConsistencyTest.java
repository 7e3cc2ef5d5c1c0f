// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.CbtMap;
import dev.blksnap.DeviceId;
import dev.blksnap.internal.Uapi;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.BitSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * One instant for several devices, and file systems that come out of the
 * image whole: a writer alternating between two devices leaves the two
 * images a consistent pair, and the change numbers take closes split that
 * writer's blocks exactly where the images do; ext4 and xfs under a write
 * load are frozen at take, and their images mount read-only, hold every
 * file as it was and pass fsck.
 */
@Order(22)
class SnapshotConsistencyTest extends SnapshotItBase {
    private static final long MIB = 1 << 20;
    private static final int BLOCK = 4096;
    private static final int SECTORS = BLOCK / Stamp.SECTOR;

    /** The generation of block {@code b}: all its sectors must agree, or CORRUPT. */
    private static long blockGen(MemorySegment seg, long off, long b) {
        long gen = Stamp.read(seg, off, b * SECTORS);
        for (int i = 1; i < SECTORS; i++) {
            if (Stamp.read(seg, off + (long) i * Stamp.SECTOR, b * SECTORS + i) != gen) {
                return Stamp.CORRUPT;
            }
        }
        return gen;
    }

    /** The generations of blocks [0, n) of a device. */
    private static long[] blockGens(Path dev, int n) throws IOException {
        long[] out = new long[n];
        int fd = Posix.open(dev, Posix.O_RDONLY | Posix.O_DIRECT);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = Posix.aligned(a, (long) n * BLOCK);
            Posix.pread(fd, buf, 0);
            for (int b = 0; b < n; b++) {
                out[b] = blockGen(buf, (long) b * BLOCK, b);
            }
        } finally {
            Posix.close(fd);
        }
        return out;
    }

    /** How many leading blocks hold the alternating writer's generation (2 + block), checking the rest are pre-take. */
    private static int prefix(long[] gens, String what) {
        int n = 0;
        while (n < gens.length && gens[n] == 2 + n) {
            n++;
        }
        for (int b = n; b < gens.length; b++) {
            assertEquals(1, gens[b], what + ": block " + b + " after the written prefix of " + n);
        }
        return n;
    }

    @Test
    void twoDevicesFromOneInstantAndTheirChangeNumbers(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        // Three takes under load; one, on smaller devices, on the debug lane (KASAN: several times
        // slower, and its time budget).
        long size = (debugLane() ? 16 : 32) * MIB;
        int rounds = debugLane() ? 1 : 3;
        Path a = loop("pair-a", size);
        Path b = loop("pair-b", size);
        int blocks = (int) (size / BLOCK);
        int pairBlocks = blocks / 2; // the alternating writer's region; noise writers use the rest
        for (int round = 0; round < rounds; round++) {
            stampAll(a, 1);
            stampAll(b, 1);
            long id = snap.create(SCRATCH, 128 * MIB, false);
            add(id, a);
            add(id, b);
            AtomicBoolean stop = new AtomicBoolean();
            AtomicLong pairs = new AtomicLong();
            ConcurrentLinkedQueue<String> errors = new ConcurrentLinkedQueue<>();
            Thread writer = Thread.ofPlatform().name("pair-writer").start(() -> {
                try (Arena ar = Arena.ofConfined()) {
                    int fa = Posix.open(a, Posix.O_RDWR | Posix.O_DIRECT);
                    int fb = Posix.open(b, Posix.O_RDWR | Posix.O_DIRECT);
                    MemorySegment buf = Posix.aligned(ar, BLOCK);
                    for (int i = 0; i < pairBlocks && !stop.get(); i++) {
                        Stamp.fill(buf, (long) i * SECTORS, SECTORS, 2 + i);
                        Posix.pwrite(fa, buf, (long) i * BLOCK);
                        Posix.pwrite(fb, buf, (long) i * BLOCK);
                        pairs.incrementAndGet();
                    }
                    Posix.close(fa);
                    Posix.close(fb);
                } catch (Throwable e) {
                    errors.add("pair writer: " + e);
                }
            });
            SplittableRandom nr = rnd.split();
            Thread noise = Thread.ofPlatform().name("noise-writer").start(() -> {
                try (DiskIo ia = new DiskIo(a); DiskIo ib = new DiskIo(b)) {
                    while (!stop.get()) {
                        long blk = pairBlocks + nr.nextInt(blocks - pairBlocks - 16);
                        (nr.nextBoolean() ? ia : ib).direct(blk * BLOCK, BLOCK * (1 + nr.nextInt(16)), nr);
                    }
                } catch (Throwable e) {
                    errors.add("noise writer: " + e);
                }
            });
            long before = 50 + rnd.nextInt(400);
            Guest.waitUntil("the pair writer to write " + before + " pairs", Duration.ofSeconds(120),
                    () -> pairs.get() >= before || !errors.isEmpty());
            Snapshots.Take take = snap.take(id, false);
            long atTake = pairs.get();
            Guest.waitUntil("more pairs after take", Duration.ofSeconds(120),
                    () -> pairs.get() >= atTake + 200 || !errors.isEmpty());
            stop.set(true);
            writer.join();
            noise.join();
            assertEquals(List.of(), List.copyOf(errors));
            long written = pairs.get();

            Snapshots.Info info = snap.info(id);
            Snapshots.Device da = info.device(DeviceId.of(a));
            Snapshots.Device db = info.device(DeviceId.of(b));
            int pa = prefix(blockGens(da.imagePath(), pairBlocks), "image of " + a);
            int pb = prefix(blockGens(db.imagePath(), pairBlocks), "image of " + b);
            System.out.printf("[pair] round %d: take after %d pairs held writes %d us; image of a has %d, of b %d;"
                    + " %d pairs in all; %d + %d writes held for copies%n", round, atTake,
                    take.holdNs() / 1000, pa, pb, written, da.writesHeld(), db.writesHeld());
            assertTrue(pb == pa || pb == pa - 1, "images from different instants: a has " + pa
                    + " writes, b has " + pb);
            assertTrue(pa >= before && pa <= atTake + 1, "the instant " + pa + " is not inside take ("
                    + before + ".." + atTake + ")");

            // The closed numbers split the writer's blocks where the images do.
            for (Snapshots.Device d : List.of(da, db)) {
                int inImage = d == da ? pa : pb;
                CbtMap map = ctl.readMap(d.origin());
                assertEquals(4096, map.info().blockSize(), "the suite tracks 4 KiB blocks");
                BitSet after = Blocks.changed(map, d.closedNumber());
                BitSet want = new BitSet();
                want.set(inImage, (int) written);
                after.clear(pairBlocks, blocks);
                assertEquals(want, after, "blocks changed since the closed number " + d.closedNumber() + " of "
                        + d.origin() + " (image has " + inImage + " of " + written + ")");
            }
            snap.destroy(id);
        }
    }

    private static String sha(Path f) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(f)));
    }

    private static void writeFile(Path f, int size, SplittableRandom rnd, boolean sync) throws IOException {
        byte[] data = new byte[size];
        rnd.nextBytes(data);
        Files.write(f, data, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE);
        if (sync) {
            try (var ch = java.nio.channels.FileChannel.open(f, StandardOpenOption.WRITE)) {
                ch.force(true);
            }
        }
    }

    private void fileSystem(String type, SplittableRandom rnd) throws Exception {
        // xfsprogs makes no file system below 300 MiB: sparse loop devices on tmpfs.
        Path dev = loop("fs-" + type, (type.equals("xfs") ? 320 : 128) * MIB);
        Guest.runOk(type.equals("xfs") ? "mkfs.xfs" : "mkfs.ext4", type.equals("xfs") ? "-f" : "-F", "-q",
                dev.toString());
        Path fs = mount(dev, type, "");
        Map<String, String> files = new TreeMap<>();
        for (int i = 0; i < 80; i++) {
            Path f = fs.resolve("f" + i);
            writeFile(f, 1 + rnd.nextInt(300_000), rnd, false);
            files.put(f.getFileName().toString(), sha(f));
        }
        Guest.runOk("sync");
        AtomicBoolean stop = new AtomicBoolean();
        ConcurrentLinkedQueue<String> errors = new ConcurrentLinkedQueue<>();
        AtomicLong loadOps = new AtomicLong();
        SplittableRandom lr = rnd.split();
        Thread load = Thread.ofPlatform().name("fs-load").start(() -> {
            try {
                Files.createDirectories(fs.resolve("load"));
                while (!stop.get()) {
                    Path g = fs.resolve("load").resolve("g" + lr.nextInt(40));
                    switch (lr.nextInt(4)) {
                        case 0 -> Files.deleteIfExists(g);
                        case 1 -> Files.write(g, new byte[1 + lr.nextInt(8192)], StandardOpenOption.CREATE,
                                StandardOpenOption.APPEND);
                        default -> writeFile(g, 1 + lr.nextInt(200_000), lr, lr.nextBoolean());
                    }
                    loadOps.incrementAndGet();
                }
            } catch (Throwable e) {
                errors.add("load: " + e);
            }
        });
        Guest.waitUntil("the load to run", Duration.ofSeconds(60), () -> loadOps.get() >= 20);
        long id = snap.create(Guest.disk(1), 0, false);
        add(id, dev);
        Snapshots.Take take = snap.take(id, true);
        Snapshots.Device d = snap.info(id).devices().get(0);
        assertEquals(1, take.frozen(), type + " must be frozen at take");
        assertEquals(Uapi.FREEZE_FROZEN, d.freeze(), type + " freeze result");
        // Change the files the image must keep.
        int i = 0;
        for (String name : files.keySet()) {
            Path f = fs.resolve(name);
            switch (i++ % 3) {
                case 0 -> Files.delete(f);
                case 1 -> writeFile(f, 1 + rnd.nextInt(300_000), rnd, true);
                default -> Files.write(f, new byte[4096], StandardOpenOption.APPEND);
            }
        }
        Thread.sleep(1000);
        stop.set(true);
        load.join();
        assertEquals(List.of(), List.copyOf(errors));
        Guest.runOk("sync");

        Path image = d.imagePath();
        String fsck = type.equals("xfs") ? "xfs_repair -n" : "e2fsck -fn";
        Guest.Result check;
        if (type.equals("xfs")) {
            // A frozen xfs keeps its last changes in a covered log, and its lazy counters
            // there: xfs_repair -n judges a copy of the image after the log was replayed.
            Path copy = SCRATCH.resolve("image-copy.img");
            Guest.runOk("cp", "--sparse=always", image.toString(), copy.toString());
            Path l = Path.of(Guest.runOk("losetup", "-f", "--show", copy.toString()).trim());
            try {
                Path m = Files.createDirectories(SCRATCH.resolve("replay"));
                Guest.runOk("mount", "-t", "xfs", "-o", "nouuid", l.toString(), m.toString());
                Guest.runOk("umount", m.toString());
                check = Guest.run(List.of("xfs_repair", "-n", l.toString()), Map.of());
            } finally {
                Guest.run("losetup", "-d", l.toString());
                Files.deleteIfExists(copy);
            }
        } else {
            check = Guest.run(List.of("e2fsck", "-fn", image.toString()), Map.of());
        }
        assertEquals(0, check.exit(), fsck + " of the image: " + check.stdout() + check.stderr());
        Path img = Files.createDirectories(SCRATCH.resolve("image-" + type));
        Guest.runOk("mount", "-t", type, "-o", type.equals("xfs") ? "ro,norecovery,nouuid" : "ro,noload",
                image.toString(), img.toString());
        try {
            for (Map.Entry<String, String> e : files.entrySet()) {
                assertEquals(e.getValue(), sha(img.resolve(e.getKey())), type + " image: " + e.getKey());
            }
        } finally {
            Guest.runOk("umount", img.toString());
        }
        Snapshots.Info info = snap.info(id);
        System.out.printf("[fs] %s: %d files as before take, %s clean; held %d us, frozen %d us; %d load ops;"
                + " %d chunks copied, %d bytes of storage%n", type, files.size(), fsck, take.holdNs() / 1000,
                take.freezeNs() / 1000, loadOps.get(), info.devices().get(0).chunksCopied(), info.storageUsed());
        snap.destroy(id);
    }

    @Test
    void ext4AndXfsUnderLoadComeOutWholeFromTheImage(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        fileSystem("ext4", rnd);
        if (!debugLane()) { // file system code more than ours, and the debug lane's time budget
            fileSystem("xfs", rnd);
        }
    }
}
