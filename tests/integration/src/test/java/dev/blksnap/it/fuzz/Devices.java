// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it.fuzz;

import dev.blksnap.DeviceId;
import dev.blksnap.internal.RawIoctl;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

/**
 * The block devices the fuzzer aims at, and the hot-unplug of some of them:
 * the scratch virtio disks (attached, read and marked, never removed) and
 * loop devices over tmpfs files, which the chaos thread detaches, removes
 * (LOOP_CTL_REMOVE: del_gendisk under a possible tracker), re-creates and
 * resizes while the fuzzing threads call the module.
 */
final class Devices {
    static final int LOOP_MAJOR = 7;
    /**
     * Majors whose driver creates a disk when a missing minor is opened
     * (the block layer's probe on open): loop, and md where it is built in
     * (the debug lane), so attaching to 9:0 creates md0.
     */
    private static final Set<Integer> CREATED_ON_OPEN = Set.of(LOOP_MAJOR, 9);
    private static final long LOOP_CTL_REMOVE = 0x4C81;
    private static final long MIB = 1 << 20;

    /** A device with its last known size; {@code blockCount} is learned from successful CBT_INFO calls. */
    static final class Target {
        final DeviceId id;
        volatile Path node;
        volatile long sectors;
        volatile long blockCount;

        Target(DeviceId id, Path node, long sectors) {
            this.id = id;
            this.node = node;
            this.sectors = sectors;
            this.blockCount = Math.max(1, (sectors * 512 + 65535) / 65536);
        }

        @Override
        public String toString() {
            return node + " (" + id + ", " + sectors + " sectors)";
        }
    }

    /** A loop device slot: its backing file and its current device node (null while unplugged). */
    private static final class Loop {
        final Path file;
        volatile Path node;

        Loop(Path file) {
            this.file = file;
        }
    }

    private final ConcurrentHashMap<DeviceId, Target> byId = new ConcurrentHashMap<>();
    private volatile Target[] targets = new Target[0];
    /** Every device number that named a block device at any time of the run. */
    private final Set<DeviceId> seen = ConcurrentHashMap.newKeySet();
    /** The device numbers before the run. */
    private final Set<DeviceId> initial;
    private final List<Loop> loops = new ArrayList<>();
    final AtomicLong unplugs = new AtomicLong();
    final AtomicLong resizes = new AtomicLong();
    final AtomicLong busy = new AtomicLong();
    final AtomicLong writes = new AtomicLong();
    final AtomicLong writeErrors = new AtomicLong();

    /** Finds the scratch disks that exist now and sets up {@code loopCount} loop devices. */
    Devices(List<Path> disks, int loopCount, Path dir) throws IOException {
        try (Stream<Path> s = Files.list(Path.of("/sys/class/block"))) {
            for (Path p : s.toList()) {
                seen.add(DeviceId.parse(Files.readString(p.resolve("dev")).trim()));
            }
        }
        initial = Set.copyOf(seen);
        for (Path d : disks) {
            if (Files.exists(d)) {
                add(d);
            }
        }
        Files.createDirectories(dir);
        for (int i = 0; i < loopCount; i++) {
            Loop l = new Loop(dir.resolve("fuzz-loop" + i + ".img"));
            try (RandomAccessFile f = new RandomAccessFile(l.file.toFile(), "rw")) {
                f.setLength((16 + 16L * i) * MIB + 512L * i); // odd sizes: partial last blocks
            }
            loops.add(l);
            plug(l);
        }
    }

    private synchronized Target add(Path node) throws IOException {
        DeviceId id = DeviceId.of(node);
        seen.add(id);
        Target t = byId.get(id);
        if (t == null) {
            t = new Target(id, node, sectors(node));
            byId.put(id, t);
            List<Target> all = new ArrayList<>(List.of(targets));
            all.add(t);
            targets = all.toArray(Target[]::new);
        } else {
            t.node = node;
            t.sectors = sectors(node);
        }
        return t;
    }

    private static long sectors(Path node) throws IOException {
        String name = node.toRealPath().getFileName().toString();
        return Long.parseLong(Files.readString(Path.of("/sys/class/block", name, "size")).trim());
    }

    /** The devices to aim at (some may be unplugged right now). */
    Target[] targets() {
        return targets;
    }

    Target target(DeviceId id) {
        return byId.get(id);
    }

    /**
     * Whether a device number may name a block device (now or earlier in the
     * run): only such a number can get a tracker. The whole loop major
     * counts, since the chaos thread creates loop devices at any time, and
     * so does every major whose devices appear on open.
     */
    boolean mayExist(int major, int minor) {
        return major >= 0 && minor >= 0 && major <= DeviceId.MAX_MAJOR && minor <= DeviceId.MAX_MINOR
                && (CREATED_ON_OPEN.contains(major) || seen.contains(new DeviceId(major, minor)));
    }

    private void plug(Loop l) throws IOException {
        Path node = Path.of(Native.runOk("losetup", "-f", "--show", l.file.toString()).trim());
        add(node);
        l.node = node;
    }

    /** Unplugs a loop device: detach its file, then delete the disk (retried while something holds it open). */
    private void unplug(Loop l) throws InterruptedException {
        Path node = l.node;
        l.node = null;
        Native.run("losetup", "-d", node.toString());
        int minor;
        try {
            minor = DeviceId.of(node).minor();
        } catch (IOException gone) {
            return;
        }
        int fd = RawIoctl.openControl(Path.of("/dev/loop-control"));
        if (fd < 0) {
            throw new IllegalStateException("open /dev/loop-control: errno " + -fd);
        }
        try {
            for (int i = 0; i < 50; i++) {
                int rc = RawIoctl.ioctlAddress(fd, LOOP_CTL_REMOVE, minor);
                if (rc >= 0) {
                    unplugs.incrementAndGet();
                    return;
                }
                busy.incrementAndGet();
                Thread.sleep(10);
            }
        } finally {
            RawIoctl.close(fd);
        }
    }

    /** One hot-plug event on a random loop device: unplug and re-plug it, or resize it. */
    void chaos(SplittableRandom rnd) throws IOException, InterruptedException {
        Loop l = loops.get(rnd.nextInt(loops.size()));
        if (rnd.nextInt(3) == 0) {
            long size = (4 + rnd.nextInt(60)) * MIB + 512L * rnd.nextInt(8);
            try (RandomAccessFile f = new RandomAccessFile(l.file.toFile(), "rw")) {
                f.setLength(size);
            }
            Path node = l.node;
            Native.run("losetup", "-c", node.toString());
            Target t = byId.get(DeviceId.of(node));
            if (t != null) {
                t.sectors = sectors(node);
            }
            resizes.incrementAndGet();
        } else {
            unplug(l);
            Thread.sleep(rnd.nextInt(50));
            plug(l);
        }
    }

    /** A few O_DSYNC writes to a random loop device, so that bios pass the filter during the chaos. */
    void write(SplittableRandom rnd, ByteBuffer page) {
        Path node = loops.get(rnd.nextInt(loops.size())).node;
        if (node == null) {
            return;
        }
        DeviceId id = seenId(node);
        Target t = id == null ? null : byId.get(id);
        long pages = t == null ? 1 : Math.max(1, t.sectors / 8);
        try (FileChannel ch = FileChannel.open(node, StandardOpenOption.WRITE, StandardOpenOption.DSYNC)) {
            for (int i = 0; i < 8; i++) {
                page.clear();
                ch.write(page, rnd.nextLong(pages) * 4096);
                writes.incrementAndGet();
            }
        } catch (IOException | UncheckedIOException gone) {
            writeErrors.incrementAndGet(); // the device was unplugged or shrunk under the writer
        }
    }

    private static DeviceId seenId(Path node) {
        try {
            return DeviceId.of(node);
        } catch (IOException e) {
            return null;
        }
    }

    /**
     * Removes the loop devices and their files, and the loop devices that
     * opening random loop numbers created on the way (the loop driver makes
     * one on first open of its number).
     */
    void close() throws InterruptedException, IOException {
        for (Loop l : loops) {
            if (l.node != null) {
                unplug(l);
            }
            Files.deleteIfExists(l.file);
        }
        int fd = RawIoctl.openControl(Path.of("/dev/loop-control"));
        try (Stream<Path> s = Files.list(Path.of("/sys/class/block"))) {
            for (Path p : s.filter(p -> p.getFileName().toString().startsWith("loop")).toList()) {
                DeviceId id = DeviceId.parse(Files.readString(p.resolve("dev")).trim());
                if (id.major() == LOOP_MAJOR && !initial.contains(id)) {
                    RawIoctl.ioctlAddress(fd, LOOP_CTL_REMOVE, id.minor()); // EBUSY: in use, leave it
                }
            }
        } finally {
            RawIoctl.close(fd);
        }
    }
}
