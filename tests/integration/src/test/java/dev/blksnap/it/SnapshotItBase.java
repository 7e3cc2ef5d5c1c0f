// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.BlksnapControl;
import dev.blksnap.DeviceId;
import dev.blksnap.NotTrackedException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Snapshot tests: a control file for the snapshot ioctls, and the cleanup
 * a snapshot test needs (snapshots destroyed, the trackers that adding
 * devices attached detached), so a failing test leaves nothing behind.
 */
abstract class SnapshotItBase extends ItBase {
    static final long BLKDISCARD = 0x1277;
    static final long BLKZEROOUT = 0x127f;

    static final Path SCRATCH = Path.of("/tmp/blksnap-it");
    private static final Path NULLB = Path.of("/sys/kernel/config/nullb");

    protected Snapshots snap;
    private final List<DeviceId> added = new ArrayList<>();
    /** Undo steps for the devices and mounts a test made, run last first. */
    private final Deque<Runnable> undo = new ArrayDeque<>();

    @BeforeEach
    void openSnapshots() {
        snap = new Snapshots();
        snap.destroyAll();
    }

    @AfterEach
    void closeSnapshots() throws Exception {
        List<Long> left = List.of();
        try {
            if (snap == null) {
                snap = new Snapshots();
            }
            left = snap.list();
            snap.destroyAll();
            snap.close();
            snap = null;
            BlksnapControl c = ctl != null ? ctl : BlksnapControl.open();
            try {
                for (DeviceId id : added) {
                    try {
                        c.detach(id);
                    } catch (NotTrackedException gone) {
                        // removed with its device
                    }
                }
            } finally {
                if (c != ctl) {
                    c.close();
                }
            }
        } finally {
            added.clear();
            while (!undo.isEmpty()) {
                try {
                    undo.pop().run();
                } catch (RuntimeException e) {
                    System.out.println("[cleanup] " + e);
                }
            }
        }
        assertEquals(List.of(), left, "snapshots left after the test");
    }

    /** Whether this is the debug-kernel lane (KASAN, lockdep, kmemleak: several times slower). */
    static boolean debugLane() {
        return "debug".equals(System.getenv("BLKSNAP_LANE"));
    }

    /** A loop device over a sparse file of {@code bytes} in the guest's tmpfs; removed after the test. */
    protected Path loop(String name, long bytes) throws IOException {
        return loop(name, bytes, false);
    }

    /** As {@link #loop(String, long)}, with partitions scanned when {@code partitions}. */
    protected Path loop(String name, long bytes, boolean partitions) throws IOException {
        Files.createDirectories(SCRATCH);
        Path file = SCRATCH.resolve(name + ".img");
        Files.deleteIfExists(file);
        try (var raf = new java.io.RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(bytes);
        }
        Guest.modprobe("loop");
        Path node = Path.of((partitions ? Guest.runOk("losetup", "-f", "--show", "-P", file.toString())
                : Guest.runOk("losetup", "-f", "--show", file.toString())).trim());
        undo.push(() -> {
            Guest.run("losetup", "-d", node.toString());
            try {
                Files.deleteIfExists(file);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        return node;
    }

    /**
     * A memory-backed null_blk device of {@code mib} MiB made through
     * configfs, /dev/{@code name}; {@link #powerOff} removes it
     * (del_gendisk) even while open.
     */
    protected Path nullb(String name, int mib) throws IOException {
        return nullb(name, mib, false);
    }

    /** A zoned null_blk device (zones of 4 MiB), as {@link #nullb}. */
    protected Path nullbZoned(String name) throws IOException {
        return nullb(name, 64, true);
    }

    private Path nullb(String name, int mib, boolean zoned) throws IOException {
        if (!Files.isDirectory(NULLB)) {
            Guest.runOk("modprobe", "-d", Guest.env("BLKSNAP_LANE_ROOT"), "null_blk", "nr_devices=0");
        }
        Path dir = NULLB.resolve(name);
        Files.createDirectories(dir);
        undo.push(() -> {
            try {
                powerOff(dir);
                Files.deleteIfExists(dir);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        Files.writeString(dir.resolve("size"), Integer.toString(mib));
        Files.writeString(dir.resolve("memory_backed"), "1");
        Files.writeString(dir.resolve("blocksize"), zoned ? "4096" : "512");
        if (zoned) {
            Files.writeString(dir.resolve("zoned"), "1");
            Files.writeString(dir.resolve("zone_size"), "4");
        }
        Files.writeString(dir.resolve("power"), "1");
        // Disks made through configfs are named after their directory.
        Path node = Path.of("/dev", name);
        Guest.waitUntil(node + " to appear", Duration.ofSeconds(10), () -> Files.exists(node));
        return node;
    }

    /** Removes a null_blk device made by {@link #nullb}: its disk is deleted at once. */
    protected static void powerOff(Path dir) throws IOException {
        if (Files.exists(dir.resolve("power")) && Files.readString(dir.resolve("power")).trim().equals("1")) {
            Files.writeString(dir.resolve("power"), "0");
        }
    }

    protected static Path nullbDir(String name) {
        return NULLB.resolve(name);
    }

    /** Mounts {@code dev} (options may be empty) on a new directory; unmounted after the test. */
    protected Path mount(Path dev, String type, String options) throws IOException {
        Path dir = Files.createDirectories(SCRATCH.resolve("mnt-" + Guest.kernelName(dev)));
        Guest.modprobe(type);
        List<String> cmd = Guest.list("mount", "-t", type);
        if (!options.isEmpty()) {
            cmd.addAll(List.of("-o", options));
        }
        cmd.addAll(List.of(dev.toString(), dir.toString()));
        Guest.Result r = Guest.run(cmd, java.util.Map.of());
        if (r.exit() != 0) {
            throw new IllegalStateException("mount failed: " + r.describe(cmd));
        }
        undo.push(() -> Guest.run("umount", dir.toString()));
        return dir;
    }

    /** Runs an undo step after the test (before the devices it made are removed). */
    protected void later(Runnable step) {
        undo.push(step);
    }

    /** Adds a device; its tracker is detached after the test. */
    protected void add(long id, Path dev) throws IOException {
        Guest.settle(dev);
        snap.add(id, dev);
        DeviceId d = DeviceId.of(dev);
        if (!added.contains(d)) {
            added.add(d);
        }
    }

    /** A loop device and the taken snapshot of it that {@link #takenOnSmallStorage} made. */
    record SmallStorage(Path dev, long id) {
    }

    /**
     * A loop device {@code name} of {@code devBytes} stamped with generation 1, in a
     * snapshot taken without freezing on a regular file of {@code limit} bytes: a
     * storage to fill.
     */
    protected SmallStorage takenOnSmallStorage(String name, long devBytes, long limit) throws IOException {
        Path dev = loop(name, devBytes);
        stampAll(dev, 1);
        Path storage = SCRATCH.resolve(name + "-storage.img");
        Files.write(storage, new byte[0]);
        long id = snap.create(storage, limit, false);
        add(id, dev);
        snap.take(id, true);
        return new SmallStorage(dev, id);
    }

    /** Detaches a device's tracker after the test (a test that adds it itself). */
    protected void willDetach(DeviceId d) {
        if (!added.contains(d)) {
            added.add(d);
        }
    }

    /** Writes stamps of generation {@code gen} over a whole device, 1 MiB at a time, with O_DIRECT. */
    static void stampAll(Path dev, long gen) throws IOException {
        stampRange(dev, 0, Guest.sizeSectors(dev), gen);
    }

    /** Writes stamps of generation {@code gen} over sectors [from, from + sectors) of a device, then fsync. */
    static void stampRange(Path dev, long from, long sectors, long gen) throws IOException {
        long end = from + sectors;
        int fd = Posix.open(dev, Posix.O_RDWR | Posix.O_DIRECT);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = Posix.aligned(a, 1 << 20);
            for (long s = from; s < end; s += 2048) {
                long n = Math.min(2048, end - s);
                MemorySegment part = buf.asSlice(0, n * Stamp.SECTOR);
                Stamp.fill(part, s, n, gen);
                Posix.pwrite(fd, part, s * Stamp.SECTOR);
            }
            Posix.fsync(fd);
        } finally {
            Posix.close(fd);
        }
    }

    /** Calls {@code check} for every sector of a device with the generation found there. */
    static void scan(Path dev, SectorCheck check) throws IOException {
        scan(dev, 0, Guest.sizeSectors(dev), check);
    }

    /** As {@link #scan(Path, SectorCheck)}, for sectors [from, from + sectors) only. */
    static void scan(Path dev, long from, long sectors, SectorCheck check) throws IOException {
        long end = from + sectors;
        int fd = Posix.open(dev, Posix.O_RDONLY | Posix.O_DIRECT);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = Posix.aligned(a, 1 << 20);
            for (long s = from; s < end; s += 2048) {
                long n = Math.min(2048, end - s);
                MemorySegment part = buf.asSlice(0, n * Stamp.SECTOR);
                Posix.pread(fd, part, s * Stamp.SECTOR);
                for (long i = 0; i < n; i++) {
                    check.sector(s + i, Stamp.read(part, i * Stamp.SECTOR, s + i));
                }
            }
        } finally {
            Posix.close(fd);
        }
    }

    @FunctionalInterface
    interface SectorCheck {
        void sector(long sector, long gen);
    }
}
