// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.blksnap.internal.Errno;
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
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Writable images (BLKSNAP_SNAPSHOT_FLAG_WRITABLE, issue 11 §2):
 * <ul>
 * <li>a crash-consistent snapshot (taken without freezing) of an ext4 (and an
 * xfs) being written mounts read-write from the image: the journal replays
 * (ext4's needs_recovery is set in the image before and gone after), a file
 * written there is read back after a remount, the files synced before take
 * are whole, and fsck finds the image clean; then fio writes the image with
 * random sizes from 512 bytes (partial pages of copied and not yet copied
 * chunks) and verifies every block, while another job reads the same
 * range;</li>
 * <li>all the while the origin's bytes do not change (its SHA-256 after the
 * writer stopped and at the end) and its file system is clean;</li>
 * <li>image writes take storage like copies: past the limit the snapshot
 * breaks with ENOSPC, the image fails, the origin is untouched; a snapshot
 * created without the flag keeps a read-only image.</li>
 * </ul>
 */
@Order(28)
class SnapshotWritableTest extends SnapshotItBase {
    private static final long MIB = 1 << 20;

    private long createWritable(Path storage, long limit) throws IOException {
        int sfd = Posix.open(storage, Files.isDirectory(storage) ? Posix.O_RDONLY : Posix.O_RDWR);
        try {
            return snap.createFd(sfd, limit, Uapi.SNAPSHOT_FLAG_WRITABLE);
        } finally {
            Posix.close(sfd);
        }
    }

    private static String sha(Path f) {
        return Guest.runOk("sha256sum", f.toString()).split(" ")[0];
    }

    private static boolean readOnly(Path image) {
        return Guest.sysfsLong(Path.of("/sys/class/block", image.getFileName().toString(), "ro")) != 0;
    }

    private static void writeFile(Path f, byte[] data) throws IOException {
        Files.write(f, data, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE, StandardOpenOption.DSYNC);
    }

    private void fileSystem(String type, Path storage, long limit, SplittableRandom rnd) throws Exception {
        boolean xfs = type.equals("xfs");
        // xfsprogs makes no file system below 300 MiB: sparse loop devices on tmpfs.
        Path dev = loop("wr-" + type, (xfs ? 320 : 96) * MIB);
        Guest.runOk(xfs ? "mkfs.xfs" : "mkfs.ext4", xfs ? "-f" : "-F", "-q", dev.toString());
        Path fs = mount(dev, type, "");
        List<byte[]> synced = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            byte[] data = new byte[1 + rnd.nextInt(200_000)];
            rnd.nextBytes(data);
            writeFile(fs.resolve("s" + i), data);
            synced.add(data);
        }
        Guest.runOk("sync");
        // A writer keeps the journal busy across take: metadata in flight, nothing frozen.
        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong ops = new AtomicLong();
        ConcurrentLinkedQueue<String> errors = new ConcurrentLinkedQueue<>();
        SplittableRandom lr = rnd.split();
        Thread load = Thread.ofPlatform().name("wr-load").start(() -> {
            try {
                Path d = Files.createDirectories(fs.resolve("load"));
                while (!stop.get()) {
                    Path g = d.resolve("g" + lr.nextInt(30));
                    if (lr.nextInt(4) == 0) {
                        Files.deleteIfExists(g);
                    } else {
                        byte[] b = new byte[1 + lr.nextInt(64_000)];
                        lr.nextBytes(b);
                        Files.write(g, b);
                    }
                    ops.incrementAndGet();
                }
            } catch (Throwable e) {
                errors.add("load: " + e);
            }
        });
        Guest.waitUntil("the load to run", Duration.ofSeconds(60), () -> ops.get() >= 20);
        long id = createWritable(storage, limit);
        add(id, dev);
        Snapshots.Take take = snap.take(id, false);
        assertEquals(0, take.frozen(), "taken without freezing");
        Thread.sleep(300);
        stop.set(true);
        load.join();
        assertEquals(List.of(), List.copyOf(errors));
        // The origin's last state: unmounted, so nothing of ours may change it from here on.
        Guest.runOk("umount", fs.toString());
        String origin = sha(dev);

        Snapshots.Device d = snap.info(id).devices().get(0);
        Path image = d.imagePath();
        assertTrue(!readOnly(image), "a writable snapshot's image is read-write");
        if (!xfs) {
            assertTrue(Guest.runOk("dumpe2fs", "-h", image.toString()).contains("needs_recovery"),
                    "the image of a mounted ext4 taken without freezing needs its journal replayed");
        }
        Path m = Files.createDirectories(SCRATCH.resolve("wr-image-" + type));
        String opts = xfs ? "nouuid" : "";
        List<String> mountCmd = new ArrayList<>(List.of("mount", "-t", type));
        if (!opts.isEmpty()) {
            mountCmd.addAll(List.of("-o", opts));
        }
        mountCmd.addAll(List.of(image.toString(), m.toString()));
        Guest.runOk(mountCmd.toArray(String[]::new));
        byte[] mine = new byte[300_000 + rnd.nextInt(300_000)];
        rnd.nextBytes(mine);
        try {
            for (int i = 0; i < synced.size(); i++) {
                assertTrue(java.util.Arrays.equals(synced.get(i), Files.readAllBytes(m.resolve("s" + i))),
                        type + " image: s" + i + " synced before take");
            }
            writeFile(m.resolve("written-in-image"), mine);
        } finally {
            Guest.runOk("umount", m.toString());
        }
        if (!xfs) {
            assertTrue(!Guest.runOk("dumpe2fs", "-h", image.toString()).contains("needs_recovery"),
                    "the journal was replayed in the image");
        }
        String fsck = xfs ? "xfs_repair" : "e2fsck";
        List<String> check = xfs ? List.of("xfs_repair", "-n", image.toString())
                : List.of("e2fsck", "-fn", image.toString());
        Guest.Result r = Guest.run(check, Map.of());
        assertEquals(0, r.exit(), fsck + " of the image after the replay: " + r.describe(check));
        Guest.runOk(mountCmd.toArray(String[]::new));
        try {
            assertTrue(java.util.Arrays.equals(mine, Files.readAllBytes(m.resolve("written-in-image"))),
                    type + " image: the file written there, after a remount");
        } finally {
            Guest.runOk("umount", m.toString());
        }

        // fio: 512 B .. 64 KiB writes, so partial pages of chunks copied or not, verified; a second job
        // reads the same range meanwhile (image reads in flight to the chunks being written).
        long fioOffset = (xfs ? 64 : 32) * MIB;
        List<String> fio = List.of("fio", "--output-format=json", "--filename=" + image, "--ioengine=psync",
                "--direct=1", "--size=" + 8 * MIB, "--offset=" + fioOffset,
                "--name=image", "--rw=randwrite", "--bsrange=512-64k", "--blockalign=512", "--verify=crc32c",
                "--verify_fatal=1", "--randseed=" + (1 + rnd.nextInt(1 << 30)),
                "--name=reader", "--rw=randread", "--bs=4k", "--time_based", "--runtime=2");
        r = Guest.run(fio, Map.of());
        assertEquals(0, r.exit(), "fio on the image: " + r.describe(fio));
        JsonNode job = new ObjectMapper().readTree(r.stdout()).path("jobs").path(0);
        long wrote = job.path("write").path("io_bytes").asLong();
        assertEquals(0, job.path("error").asInt(-1), "fio's error");
        assertEquals(wrote, job.path("read").path("io_bytes").asLong(), "bytes fio verified");
        assertTrue(wrote >= 8 * MIB, "bytes fio wrote: " + wrote);
        JsonNode reader = new ObjectMapper().readTree(r.stdout()).path("jobs").path(1);
        assertEquals(0, reader.path("error").asInt(-1), "the reader's error");
        long readMeanwhile = reader.path("read").path("io_bytes").asLong();
        assertTrue(readMeanwhile > 0, "the reader read nothing");

        Snapshots.Info info = snap.info(id);
        assertEquals(Uapi.SNAPSHOT_STATE_TAKEN, info.state(), "the snapshot is whole");
        assertEquals(origin, sha(dev), "the origin's bytes changed");
        check = xfs ? List.of("xfs_repair", "-n", dev.toString()) : List.of("e2fsck", "-fn", dev.toString());
        r = Guest.run(check, Map.of());
        assertEquals(0, r.exit(), fsck + " of the origin: " + r.describe(check));
        System.out.printf("[writable] %s: %d load ops across take (not frozen), journal replayed in the image,"
                + " %d bytes written there and read back, fio %d bytes verified (%d read meanwhile); %d chunks"
                + " copied, %d bytes of storage; origin unchanged%n", type, ops.get(), mine.length, wrote,
                readMeanwhile, info.devices().get(0).chunksCopied(), info.storageUsed());
        snap.destroy(id);
    }

    @Test
    void crashConsistentFileSystemsReplayInTheImageAndTheOriginStays(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        // A block device storage (flushes go to its cache) for ext4, a file for xfs.
        fileSystem("ext4", Guest.disk(1), 0, rnd);
        if (!debugLane()) { // file system code more than ours, and the debug lane's time budget
            Path storage = SCRATCH.resolve("wr-storage.img");
            Files.write(storage, new byte[0]);
            later(() -> {
                try {
                    Files.deleteIfExists(storage);
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            fileSystem("xfs", storage, 128 * MIB, rnd);
        }
    }

    @Test
    void imageWritesTakeStorageAndOverflowBreaksOnlyTheSnapshot() throws Exception {
        Path dev = loop("wr-small", 32 * MIB);
        stampAll(dev, 1);
        String origin = sha(dev);
        Path storage = SCRATCH.resolve("wr-small-storage.img");
        Files.write(storage, new byte[0]);
        long id = createWritable(storage, 4 * MIB);
        add(id, dev);
        snap.take(id, false);
        Path image = snap.info(id).devices().get(0).imagePath();

        int fd = Posix.open(image, Posix.O_RDWR | Posix.O_DIRECT);
        long written = 0;
        long failedAt = -1;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = Posix.aligned(a, MIB);
            buf.fill((byte) 0x5a);
            for (long off = 0; off < 32 * MIB; off += MIB) {
                long n = Posix.pwriteRaw(fd, buf, off);
                if (n < 0) {
                    assertEquals(-Errno.EIO, n, "an image write past the limit");
                    failedAt = off;
                    break;
                }
                written += n;
            }
        } finally {
            Posix.close(fd);
        }
        Snapshots.Info info = snap.info(id);
        assertTrue(failedAt >= 0, "32 MiB of image writes fit in 4 MiB of storage");
        assertTrue(written >= 2 * MIB, "image writes stopped early: " + written);
        assertEquals(Uapi.SNAPSHOT_STATE_BROKEN, info.state(), "overflow breaks the snapshot");
        assertEquals(Errno.ENOSPC, info.error(), "overflow's errno");
        Guest.Result r = Guest.run("dd", "if=" + image, "of=/dev/null", "bs=4096", "count=1", "iflag=direct");
        assertNotEquals(0, r.exit(), "a broken snapshot's image must fail reads");
        assertEquals(origin, sha(dev), "the origin's bytes changed");
        snap.destroy(id);

        // Without the flag: read-only, writes refused.
        long ro = snap.create(storage, 4 * MIB, false);
        add(ro, dev);
        snap.take(ro, false);
        Path roImage = snap.info(ro).devices().get(0).imagePath();
        assertTrue(readOnly(roImage), "an image is read-only without the flag");
        r = Guest.run("dd", "if=/dev/zero", "of=" + roImage, "bs=4096", "count=1", "oflag=direct");
        assertNotEquals(0, r.exit(), "a write to a read-only image succeeded");
        assertEquals(origin, sha(dev), "the origin's bytes changed");
        snap.destroy(ro);
        System.out.printf("[writable] overflow: %d bytes written to the image before EIO at %d MiB of 4 MiB"
                + " storage; ENOSPC; origin unchanged; without the flag read-only%n", written, failedAt / MIB);
    }
}
