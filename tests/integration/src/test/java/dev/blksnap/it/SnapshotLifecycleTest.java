// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.BlksnapControl;
import dev.blksnap.CbtMap;
import dev.blksnap.DeviceBusyException;
import dev.blksnap.DeviceId;
import dev.blksnap.internal.Errno;
import dev.blksnap.internal.Uapi;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A snapshot's life and its contract: every kind of storage, every refusal
 * the header documents for the snapshot ioctls, overflow, the change number
 * take closes, and what closing the control file does.
 */
@Order(21)
class SnapshotLifecycleTest extends SnapshotItBase {
    private static final long MIB = 1 << 20;

    private static void expectErrno(int errno, Runnable call, String what) {
        Snapshots.Failed f = assertThrows(Snapshots.Failed.class, call::run, what);
        assertEquals(Errno.name(errno), Errno.name(f.errno), what);
    }

    /** Writes stamps of {@code gen} over {@code count} sectors from {@code sector}. */
    private static void stamp(Path dev, long sector, long count, long gen) throws Exception {
        stampAs(dev, sector, count, gen, sector);
    }

    /**
     * As {@link #stamp}, the stamps numbered from {@code number}: the sector's number on the
     * device that holds it (a whole disk, for a write through a partition or dm-linear).
     */
    private static void stampAs(Path dev, long sector, long count, long gen, long number) throws Exception {
        int fd = Posix.open(dev, Posix.O_RDWR | Posix.O_DIRECT);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = Posix.aligned(a, count * Stamp.SECTOR);
            Stamp.fill(buf, number, count, gen);
            Posix.pwrite(fd, buf, sector * Stamp.SECTOR);
        } finally {
            Posix.close(fd);
        }
    }

    /** The number of sectors of a device not holding generation {@code gen}. */
    private static long notHolding(Path dev, long gen) throws Exception {
        long[] bad = {0};
        scan(dev, (s, g) -> bad[0] += g == gen ? 0 : 1);
        return bad[0];
    }

    /** Takes a snapshot of a stamped loop device on {@code storage}, writes, and checks the image. */
    private void snapshotOn(String what, Path storage, long limit, SplittableRandom rnd) throws Exception {
        // Smaller on the debug lane (KASAN: several times slower, and its time budget).
        Path dev = loop("origin-" + what, (debugLane() ? 4 : 16) * MIB);
        stampAll(dev, 1);
        long sectors = Guest.sizeSectors(dev);
        long id = snap.create(storage, limit, false);
        add(id, dev);
        snap.take(id, true);
        Snapshots.Info info = snap.info(id);
        Path image = info.devices().get(0).imagePath();
        for (int i = 0; i < (debugLane() ? 50 : 200); i++) {
            stamp(dev, rnd.nextLong(sectors - 64), 1 + rnd.nextInt(64), 2);
        }
        assertEquals(0, notHolding(image, 1), what + ": image sectors changed by writes after take");
        info = snap.info(id);
        System.out.printf("[storage] %s: kind %d on %s, %d bytes used of %d, %d chunks stored%n", what,
                info.storageKind(), info.storageDev(), info.storageUsed(), info.storageLimit(),
                info.devices().get(0).chunksStored());
        assertEquals(Uapi.SNAPSHOT_STATE_TAKEN, info.state(), what + ": error " + info.error());
        countersAgree(id, info, what);
        snap.destroy(id);
    }

    /** The debugfs counters (module/README.md) say what info says, for a snapshot at rest. */
    private static void countersAgree(long id, Snapshots.Info info, String what) throws Exception {
        String text = Files.readString(Path.of("/sys/kernel/debug/blksnap/snapshots"));
        String kind = switch (info.storageKind()) {
            case Uapi.STORAGE_BDEV -> "bdev";
            case Uapi.STORAGE_FILE -> "file";
            default -> "tmpfile";
        };
        String head = String.format("snapshot %d: taken, error 0, storage %s %d:%d used %d of %d bytes%n", id, kind,
                info.storageDev().major(), info.storageDev().minor(), info.storageUsed(), info.storageLimit());
        Snapshots.Device d = info.devices().get(0);
        String device = String.format("  %d:%d image %d:%d chunk %d writes_held %d chunks_copied %d chunks_stored %d"
                + " discards_dropped %d image_reads ", d.origin().major(), d.origin().minor(), d.image().major(),
                d.image().minor(), d.chunkSize(), d.writesHeld(), d.chunksCopied(), d.chunksStored(),
                d.discardsDropped());
        assertTrue(text.startsWith("cow memory: "), what + ": debugfs counters:\n" + text);
        assertTrue(text.contains(head), what + ": no line '" + head.strip() + "' in the debugfs counters:\n" + text);
        int at = text.indexOf(device);
        assertTrue(at >= 0, what + ": no line '" + device + "' in the debugfs counters:\n" + text);
        String rest = text.substring(at + device.length());
        long imageReads = Long.parseLong(rest.substring(0, rest.indexOf(' ')));
        // The image was read whole (notHolding) in bios of at most 1 MiB.
        assertTrue(imageReads >= d.capacitySectors() * Stamp.SECTOR / MIB, what + ": image_reads " + imageReads);
    }

    @Test
    void everyKindOfStorageKeepsTheImageAndBadRequestsAreRefused(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        Path disk = Guest.disk(2);
        Files.createDirectories(SCRATCH);

        // Kinds: a block device, a file and a directory on tmpfs, both on ext4.
        snapshotOn("bdev", disk, 64 * MIB, rnd);
        Path tmpfsFile = SCRATCH.resolve("storage.img");
        Files.write(tmpfsFile, new byte[0]);
        snapshotOn("tmpfs-file", tmpfsFile, 64 * MIB, rnd);
        snapshotOn("tmpfs-dir", SCRATCH, 64 * MIB, rnd);
        Guest.runOk("mkfs.ext4", "-q", "-F", disk.toString());
        Path fs = mount(disk, "ext4", "");
        Path ext4File = fs.resolve("storage.img");
        try (var raf = new java.io.RandomAccessFile(ext4File.toFile(), "rw")) {
            raf.setLength(64 * MIB); // limit 0: the file's size
        }
        snapshotOn("ext4-file", ext4File, 0, rnd);
        snapshotOn("ext4-dir", fs, 64 * MIB, rnd);
        assertEquals(java.util.Set.of("storage.img", "lost+found"), java.util.Set.copyOf(listDir(fs)),
                "the temporary file must leave no name behind");

        // CREATE refusals.
        Path origin = loop("refusals", 16 * MIB);
        int ro = Posix.open(tmpfsFile, Posix.O_RDONLY);
        try {
            expectErrno(Errno.EBADF, () -> snap.createFd(ro, 0, 0), "a file open read-only");
        } finally {
            Posix.close(ro);
        }
        expectErrno(Errno.EBADF, () -> snap.createFd(-1, MIB, 0), "fd -1");
        expectErrno(Errno.EOPNOTSUPP, () -> snap.create(Path.of("/dev/null"), MIB, false), "/dev/null");
        expectErrno(Errno.EINVAL, () -> snap.create(SCRATCH, 0, false), "a directory with limit 0");
        expectErrno(Errno.EINVAL, () -> snap.create(SCRATCH, 100, false), "a limit below 4096");
        int mounted;
        try {
            mounted = Posix.open(disk, Posix.O_RDWR);
        } catch (java.io.IOException e) {
            // A kernel that refuses writers to mounted devices (no BLK_DEV_WRITE_MOUNTED: the debug lane).
            mounted = -1;
            assertTrue(e.getMessage().endsWith("errno " + Errno.EBUSY), e.getMessage());
        }
        if (mounted >= 0) {
            int fd = mounted;
            try {
                expectErrno(Errno.EBUSY, () -> snap.createFd(fd, 0, 0), "a mounted device");
            } finally {
                Posix.close(fd);
            }
        }
        expectErrno(Errno.ENOSPC, () -> snap.create(origin, 17 * MIB, false), "a limit above the device");
        expectErrno(Errno.EINVAL, () -> snap.createFd(0, MIB, 4), "an unknown flag");

        // ADD, TAKE, DESTROY refusals.
        long id = snap.create(tmpfsFile, 16 * MIB, false);
        expectErrno(Errno.EBUSY, () -> snap.create(tmpfsFile, 16 * MIB, false),
                "a file that is another snapshot's storage");
        expectErrno(Errno.EINVAL, () -> snap.take(id, true), "take with no device");
        assertEquals(-Errno.ENOENT, snap.addRaw(id + 1000, DeviceId.of(origin)), "add to no snapshot");
        assertEquals(-Errno.ENODEV, snap.addRaw(id, new DeviceId(4094, 12345)), "add no device");
        add(id, origin);
        assertEquals(-Errno.EBUSY, snap.addRaw(id, DeviceId.of(origin)), "the same device twice");
        assertThrows(DeviceBusyException.class, () -> ctl.detach(DeviceId.of(origin)),
                "detaching the tracker of a device in a snapshot");
        long other = snap.create(SCRATCH, 16 * MIB, false);
        assertEquals(-Errno.EBUSY, snap.addRaw(other, DeviceId.of(origin)), "a device in another snapshot");
        snap.destroy(other);
        Path onDisk = loop("on-ext4", 16 * MIB); // another loop, storage on the ext4 of disk
        long onFs = snap.create(fs, 8 * MIB, false);
        assertEquals(-Errno.EDEADLK, snap.addRaw(onFs, DeviceId.of(disk)), "the device holding the storage");
        snap.destroy(onFs);
        expectErrno(Errno.EDEADLK, () -> snap.create(origin, 0, false), "storage on a device in a snapshot");
        snap.take(id, false);
        Path image = snap.info(id).devices().get(0).imagePath();
        assertEquals(-Errno.EALREADY, snap.addRaw(id, DeviceId.of(onDisk)), "add after take");
        expectErrno(Errno.EALREADY, () -> snap.take(id, false), "take twice");
        long imgSnap = snap.create(SCRATCH, 16 * MIB, false);
        assertEquals(-Errno.EOPNOTSUPP, snap.addRaw(imgSnap, DeviceId.of(image)), "an image");
        snap.destroy(imgSnap);
        Path readOnly = loop("read-only", 16 * MIB);
        int rw = Posix.open(readOnly, Posix.O_RDWR);
        try {
            Guest.runOk("blockdev", "--setro", readOnly.toString());
            expectErrno(Errno.EROFS, () -> snap.createFd(rw, 0, 0), "a read-only device");
        } finally {
            Posix.close(rw);
            Guest.runOk("blockdev", "--setrw", readOnly.toString());
        }
        snap.destroy(id);
        assertEquals(-Errno.ENOENT, snap.destroyRaw(id), "destroy twice");
        Guest.waitUntil(image + " to go away", java.time.Duration.ofSeconds(10), () -> !Files.exists(image));
        ctl.detach(DeviceId.of(origin)); // no longer in a snapshot
    }

    private static List<String> listDir(Path dir) throws Exception {
        try (var s = Files.list(dir)) {
            return new ArrayList<>(s.map(p -> p.getFileName().toString()).toList());
        }
    }

    /** The image_reads counter of a device in the debugfs counters (module/README.md). */
    private static long imageReads(Snapshots.Device d) throws Exception {
        String head = "  " + d.origin().major() + ":" + d.origin().minor() + " image ";
        for (String line : Files.readAllLines(Path.of("/sys/kernel/debug/blksnap/snapshots"))) {
            if (line.startsWith(head)) {
                java.util.regex.Matcher m = java.util.regex.Pattern.compile(" image_reads (\\d+) ").matcher(line);
                assertTrue(m.find(), "no image_reads in '" + line + "'");
                return Long.parseLong(m.group(1));
            }
        }
        throw new AssertionError("no debugfs line for " + d.origin());
    }

    /** One O_DIRECT read of {@code count} image sectors from {@code sector}: every one must be pre-take. */
    private static void readPreTake(Path image, long sector, long count) throws Exception {
        int fd = Posix.open(image, Posix.O_RDONLY | Posix.O_DIRECT);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = Posix.aligned(a, count * Stamp.SECTOR);
            Posix.pread(fd, buf, sector * Stamp.SECTOR);
            for (long i = 0; i < count; i++) {
                assertEquals(1, Stamp.read(buf, i * Stamp.SECTOR, sector + i), "image sector " + (sector + i));
            }
        } finally {
            Posix.close(fd);
        }
    }

    /**
     * An image read sends each run of chunks not copied yet to the device as
     * one bio (not one per chunk: each costs a request there), and reads a
     * copied chunk from the copies: a 1 MiB read is served in as many parts
     * as it has runs and copied chunks (module/README.md), each with the data
     * of the instant of take.
     */
    @Test
    void anImageReadSendsEachRunOfChunksNotCopiedAsOneBio() throws Exception {
        Path dev = loop("runs", 4 * MIB);
        stampAll(dev, 1);
        long id = snap.create(SCRATCH, 16 * MIB, false);
        add(id, dev);
        snap.take(id, true);
        Snapshots.Device d = snap.info(id).devices().get(0);
        Path image = d.imagePath();
        long chunk = d.chunkSize() / Stamp.SECTOR;
        long mib = MIB / Stamp.SECTOR;
        assertTrue(mib / chunk >= 5, "chunks of " + d.chunkSize() + " bytes: fewer than 5 in a MiB");

        long before = imageReads(d);
        readPreTake(image, 0, mib);
        assertEquals(1, imageReads(d) - before, "parts of a 1 MiB read of chunks none of which is copied");

        // Chunks 1 and 3 of the second MiB copied: runs {0}, {2} and {4..} around them.
        stamp(dev, mib + chunk + 5, 1, 2);
        stamp(dev, mib + 3 * chunk, 1, 2);
        before = imageReads(d);
        readPreTake(image, mib, mib);
        assertEquals(5, imageReads(d) - before, "parts of a 1 MiB read: 3 runs of chunks not copied, 2 copied");
        // Not aligned: the last run takes in the first chunk of the next MiB too.
        before = imageReads(d);
        readPreTake(image, mib + 1, mib);
        assertEquals(5, imageReads(d) - before, "parts of a 1 MiB read from sector " + (mib + 1));
        snap.destroy(id);
    }

    @Test
    void overflowBreaksTheSnapshotAndNeverTheDevice(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        SmallStorage small = takenOnSmallStorage("overflow", 16 * MIB, 2 * MIB);
        Path dev = small.dev();
        long id = small.id();
        Snapshots.Device d = snap.info(id).devices().get(0);
        long chunk = d.chunkSize() / Stamp.SECTOR;
        Path image = d.imagePath();
        // Every chunk written once: 32 chunks of 64 KiB fill the storage.
        long chunks = Guest.sizeSectors(dev) / chunk;
        java.util.Set<Long> second = new java.util.HashSet<>();
        for (long c = 0; c < chunks; c++) {
            long s = c * chunk + rnd.nextLong(chunk);
            stamp(dev, s, 1, 2);
            second.add(s);
        }
        Snapshots.Info info = snap.info(id);
        assertEquals(Uapi.SNAPSHOT_STATE_BROKEN, info.state(), "after " + chunks + " chunks into 2 MiB");
        assertEquals(Errno.ENOSPC, info.error(), Errno.name(info.error()));
        assertTrue(info.storageUsed() <= info.storageLimit(), info.toString());
        // Writes went on; later ones too.
        stamp(dev, 0, 2048, 3);
        long[] bad = {0};
        scan(dev, (s, g) -> bad[0] += g == (s < 2048 ? 3 : second.contains(s) ? 2 : 1) ? 0 : 1);
        assertEquals(0, bad[0], "device sectors lost by the overflow");
        int fd = Posix.open(image, Posix.O_RDONLY | Posix.O_DIRECT);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = Posix.aligned(a, 4096);
            java.io.IOException e = assertThrows(java.io.IOException.class, () -> Posix.pread(fd, buf, 0),
                    "an image read of a broken snapshot");
            System.out.println("[overflow] image read: " + e.getMessage() + "; " + info);
        } finally {
            Posix.close(fd);
        }
        snap.destroy(id);
    }

    @Test
    void takeClosesTheChangeNumberOfEveryDevice(TestInfo ti) throws Exception {
        SplittableRandom rnd = Seeds.forTest(ti);
        Path dev = Guest.disk(0);
        DeviceId id0 = DeviceId.of(dev);
        long id = snap.create(Guest.disk(1), 0, false);
        add(id, dev);
        int blockSize = ctl.cbtInfo(id0).blockSize();
        long blocks = Guest.sizeSectors(dev) * 512 / blockSize;
        try (DiskIo io = new DiskIo(dev)) {
            for (int i = 0; i < 50; i++) { // before take: carry the number take closes
                io.direct(rnd.nextLong(blocks) * blockSize, blockSize, rnd);
            }
            Snapshots.Take take = snap.take(id, true);
            Snapshots.Device d = snap.info(id).device(id0);
            assertTrue(d.closedNumber() >= 1, "closed " + d.closedNumber());
            BitSet after = new BitSet();
            for (int i = 0; i < 300; i++) {
                long b = rnd.nextLong(blocks);
                io.direct(b * blockSize, blockSize, rnd);
                after.set((int) b);
            }
            CbtMap map = ctl.readMap(id0);
            assertEquals(d.generation(), java.util.HexFormat.of().formatHex(uuidBytes(map)),
                    "generation at take");
            assertEquals(Uapi.FREEZE_NO_FILESYSTEM, d.freeze());
            BitSet changed = Blocks.changed(map, d.closedNumber());
            assertEquals(after, changed, "blocks changed since the number take closed, held "
                    + take.holdNs() / 1000 + " us");
        }
        snap.destroy(id);
    }

    private static byte[] uuidBytes(CbtMap map) {
        java.util.UUID u = map.info().generation();
        return java.nio.ByteBuffer.allocate(16).putLong(u.getMostSignificantBits())
                .putLong(u.getLeastSignificantBits()).array();
    }

    /** Reads one sector of a device and returns its generation. */
    private static long sectorGen(Path dev, long sector) throws Exception {
        return sectorGenAs(dev, sector, sector);
    }

    /** As {@link #sectorGen}, for a stamp numbered {@code number} (see {@link #stampAs}). */
    private static long sectorGenAs(Path dev, long sector, long number) throws Exception {
        int fd = Posix.open(dev, Posix.O_RDONLY | Posix.O_DIRECT);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = Posix.aligned(a, 4096);
            Posix.pread(fd, buf, sector / 8 * 4096);
            return Stamp.read(buf, sector % 8 * Stamp.SECTOR, number);
        } finally {
            Posix.close(fd);
        }
    }

    @Test
    void partitionsWholeDisksStackedDevicesResizeAndZonedDevices() throws Exception {
        // A disk stamped whole (numbered as its sectors), then given two partitions.
        Path disk = loop("parted", 48 * MIB, true);
        stampAll(disk, 1);
        Guest.runOk("sh", "-c", "printf 'start=2048, size=40960\\nstart=43008, size=40960\\n' | sfdisk -q "
                + disk);
        Path p1 = Path.of(disk + "p1");
        Path p2 = Path.of(disk + "p2");
        Guest.waitUntil(p2 + " to appear", java.time.Duration.ofSeconds(10), () -> Files.exists(p2));

        // A partition in a snapshot, written through its whole disk.
        long id = snap.create(SCRATCH, 16 * MIB, false);
        add(id, p1);
        snap.take(id, true);
        Path img1 = snap.info(id).devices().get(0).imagePath();
        stamp(disk, 2048 + 100, 8, 2);          // inside p1, sent to the disk
        stamp(disk, 43008 + 5, 8, 2);           // inside p2: not p1's business
        assertEquals(2, sectorGen(disk, 2048 + 100));
        assertEquals(1, sectorGenAs(img1, 100, 2048 + 100), "p1's image changed by a write sent to its whole disk");
        snap.destroy(id);

        // A whole disk in a snapshot, written through a partition.
        id = snap.create(SCRATCH, 16 * MIB, false);
        add(id, disk);
        snap.take(id, true);
        Path img = snap.info(id).devices().get(0).imagePath();
        stampAs(p2, 100, 8, 3, 43008 + 100);  // sectors the first half left alone
        assertEquals(3, sectorGen(disk, 43008 + 100));
        assertEquals(1, sectorGen(img, 43008 + 100), "the disk's image changed by a write to its partition");

        // A stacked device over the disk: its writes arrive inside dm's submit_bio.
        Guest.modprobe("dm_mod");
        Guest.runOk("dmsetup", "create", "blksnap-it-linear", "--table", "0 8192 linear " + disk + " 16384");
        later(() -> Guest.run("dmsetup", "remove", "blksnap-it-linear"));
        // No udev makes /dev/mapper links: the node devtmpfs made, by minor.
        Path linear = Path.of("/dev/dm-" + Guest.runOk("dmsetup", "info", "-c", "--noheadings", "-o", "minor",
                "blksnap-it-linear").trim());
        stampAs(linear, 10, 16, 4, 16384 + 10);
        assertEquals(4, sectorGen(disk, 16384 + 10));
        assertEquals(1, sectorGen(img, 16384 + 10), "the disk's image changed by a write through dm-linear");
        assertEquals(Uapi.SNAPSHOT_STATE_TAKEN, snap.info(id).state());
        Guest.runOk("dmsetup", "remove", "blksnap-it-linear");
        snap.destroy(id);

        // One write sent to a whole disk over three partitions in a snapshot: more devices than
        // the bio path notes while it counts (two), so its copy-on-write walks the registry. The
        // chunks it covers in the first two are copied before, so that they let it pass at once
        // (a write they held would come back through the full walk and hide a third left out).
        Path small = loop("parts3", 8 * MIB, true);
        stampAll(small, 1);
        Guest.runOk("sh", "-c", "printf 'start=2048, size=2048\\nstart=4096, size=64\\nstart=4160, size=2048\\n'"
                + " | sfdisk -q " + small);
        List<Path> parts = List.of(Path.of(small + "p1"), Path.of(small + "p2"), Path.of(small + "p3"));
        long[] starts = { 2048, 4096, 4160 };
        long[] sizes = { 2048, 64, 2048 };
        Guest.waitUntil(parts.get(2) + " to appear", java.time.Duration.ofSeconds(10),
                () -> Files.exists(parts.get(2)));
        long three = snap.create(SCRATCH, 16 * MIB, false);
        for (Path part : parts) {
            add(three, part);
        }
        snap.take(three, true);
        stamp(small, 4090, 6, 6);               // p1's end: its chunk is copied
        stamp(small, 4096, 64, 6);              // all of p2
        stamp(small, 4090, 80, 7);              // sectors 4090..4169: the end of p1, all of p2, p3's start
        assertEquals(7, sectorGen(small, 4090));
        assertEquals(7, sectorGen(small, 4169));
        Snapshots.Info threeInfo = snap.info(three);
        assertEquals(Uapi.SNAPSHOT_STATE_TAKEN, threeInfo.state());
        for (int i = 0; i < parts.size(); i++) {
            DeviceId origin = DeviceId.of(parts.get(i));
            Path image = threeInfo.devices().stream().filter(d -> d.origin().equals(origin)).findFirst()
                    .orElseThrow().imagePath();
            long first = Math.max(4090, starts[i]);
            long last = Math.min(4169, starts[i] + sizes[i] - 1);
            assertEquals(1, sectorGenAs(image, first - starts[i], first), parts.get(i) + "'s image at " + first);
            assertEquals(1, sectorGenAs(image, last - starts[i], last), parts.get(i) + "'s image at " + last);
        }
        snap.destroy(three);

        // A resize breaks the snapshot, never the device.
        Path grow = loop("grow", 16 * MIB);
        stampAll(grow, 1);
        id = snap.create(SCRATCH, 16 * MIB, false);
        add(id, grow);
        snap.take(id, true);
        try (var raf = new java.io.RandomAccessFile(SCRATCH.resolve("grow.img").toFile(), "rw")) {
            raf.setLength(32 * MIB);
        }
        Guest.runOk("losetup", "-c", grow.toString());
        stamp(grow, 40000, 8, 5);
        stamp(grow, 100, 8, 5);
        assertEquals(5, sectorGen(grow, 40000));
        assertEquals(5, sectorGen(grow, 100));
        Snapshots.Info info = snap.info(id);
        assertEquals(Uapi.SNAPSHOT_STATE_BROKEN, info.state(), "after a resize");
        assertEquals(Errno.ERANGE, info.error(), Errno.name(info.error()));
        snap.destroy(id);

        // A zoned device is refused (the debug kernel has no zoned block devices).
        if (!debugLane()) {
            Path zoned = nullbZoned("nbsnapzoned");
            long z = snap.create(SCRATCH, 16 * MIB, false);
            assertEquals(-Errno.EOPNOTSUPP, snap.addRaw(z, DeviceId.of(zoned)), "a zoned device");
            snap.destroy(z);
        }
    }

    @Test
    void closingTheControlFileDestroysUnlessKeptAndAKeptSnapshotBlocksUnload() throws Exception {
        Path dev = loop("owner", 16 * MIB);
        long id;
        try (Snapshots mine = new Snapshots()) {
            id = mine.create(SCRATCH, 8 * MIB, false);
            mine.add(id, dev);
            mine.take(id, true);
            assertTrue(snap.list().contains(id), "visible to another control file");
        }
        assertFalse(snap.list().contains(id), "a snapshot outlived the file that created it");
        ctl.detach(DeviceId.of(dev));

        long kept;
        try (Snapshots mine = new Snapshots()) {
            kept = mine.create(SCRATCH, 8 * MIB, true);
            mine.add(kept, dev);
            mine.take(kept, true);
        }
        assertEquals(List.of(kept), snap.list(), "a kept snapshot after its file closed");
        assertEquals(Uapi.SNAPSHOT_FLAG_KEEP, snap.info(kept).flags());
        // Our own control files hold the module too: close them to try.
        snap.close();
        snap = null;
        ctl.close();
        ctl = null;
        Guest.Result r = Guest.run("rmmod", "blksnap");
        assertNotEquals(0, r.exit(), "rmmod with a kept snapshot");
        assertTrue(Guest.moduleLoaded());
        System.out.println("[keep] rmmod refused: " + r.stderr().strip());
        ctl = BlksnapControl.open();
        snap = new Snapshots();
        snap.destroy(kept);
        ctl.detach(DeviceId.of(dev));
        snap.close();
        snap = null;
        ctl.close();
        ctl = null;
        Guest.runOk("rmmod", "blksnap");
        Guest.ensureModuleLoaded();
        ctl = BlksnapControl.open();
        snap = new Snapshots();
        assertEquals(List.of(), snap.list());
    }
}
