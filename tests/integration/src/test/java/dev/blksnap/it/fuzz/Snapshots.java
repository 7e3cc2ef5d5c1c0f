// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it.fuzz;

import dev.blksnap.BlksnapControl;
import dev.blksnap.BlksnapException;
import dev.blksnap.DeviceId;
import dev.blksnap.NoSuchSnapshotException;
import dev.blksnap.SnapshotDevice;
import dev.blksnap.SnapshotInfo;
import dev.blksnap.SnapshotState;
import dev.blksnap.internal.Errno;
import dev.blksnap.internal.RawIoctl;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The snapshots the fuzzer makes with real storage: a small tmpfs of its
 * own holding a directory (the module makes an O_TMPFILE there) and one
 * regular file, and a loop device (block-device storage, which one
 * snapshot at a time can hold), open for the whole run; which snapshots are alive, whose
 * control file owns them, and which are gone (identifiers are never
 * reused, so a call naming a gone one must fail). At most {@link #MAX_LIVE}
 * exist at once, so the run's cost per call stays that of the error paths:
 * a create that would pass the cap is sent with a descriptor that names no
 * file instead.
 */
final class Snapshots {
    /** Snapshots with real storage alive at once, at most. */
    static final int MAX_LIVE = 4;
    /** The storage tmpfs: small, so a snapshot can also fill it (LOW_FREE_SPACE, OVERFLOW). */
    private static final String TMPFS_SIZE = "48m";
    /** The storage loop device: sparse, as small as the tmpfs's storages. */
    private static final long STORAGE_DEVICE_SIZE = 16L << 20;

    /**
     * A create gets real storage one time in this many. A real snapshot's
     * create, take and destroy cost 100-380 ms on the debug lane and hold
     * the snapshot lock meanwhile; one in five up to 200000 calls, then
     * rarer, so a run makes about as many real snapshots as 200000 calls do
     * (the debug lane's 10^6 calls took 1556 s at one in five, 876 s
     * without real storage).
     */
    final int realCreateOneIn;

    private final Path mount;
    final int storageDir;
    final int storageFile;
    /** A loop device over a file outside the storage tmpfs, as block-device storage (one snapshot at a time). */
    final int storageDevice;
    private final Path deviceFile;
    private final Path deviceNode;
    /** Live snapshots made here: id -> owning worker, or -1 for BLKSNAP_SNAPSHOT_FLAG_KEEP. */
    private final Map<Long, Integer> live = new ConcurrentHashMap<>();
    /** Destroyed by SNAPSHOT_DESTROY. */
    private final Set<Long> gone = ConcurrentHashMap.newKeySet();
    /** Live snapshots plus creates in flight that may make one. */
    private final AtomicInteger slots = new AtomicInteger();
    final AtomicLong createdInDirectory = new AtomicLong();
    final AtomicLong createdInFile = new AtomicLong();
    final AtomicLong createdOnDevice = new AtomicLong();
    final AtomicLong destroyedByIoctl = new AtomicLong();
    final AtomicLong destroyedByClose = new AtomicLong();
    final AtomicInteger peakLive = new AtomicInteger();
    final AtomicLong imageReads = new AtomicLong();
    final AtomicLong imageReadErrors = new AtomicLong();
    final AtomicLong imageWritesRefused = new AtomicLong();
    /** Writes to writable images that succeeded. */
    final AtomicLong imageWritesToWritable = new AtomicLong();
    /** Writes to a read-only image that succeeded: any is a broken contract. */
    final List<String> imageWritesAccepted = java.util.Collections.synchronizedList(new ArrayList<>());
    /** Bursts of writes to writable images, and what their writes, reads and flushes answered. */
    final AtomicLong writeBursts = new AtomicLong();
    /** Bursts given up before their first write: the image went, or no snapshot had it any more. */
    final AtomicLong burstsMissed = new AtomicLong();
    final AtomicLong directWrites = new AtomicLong();
    final AtomicLong bufferedWrites = new AtomicLong();
    final AtomicLong flushes = new AtomicLong();
    final AtomicLong writesVerified = new AtomicLong();
    final AtomicLong misalignedRefused = new AtomicLong();
    /**
     * Image writes, reads or flushes that failed, the snapshot being
     * broken, or gone, when the failure was seen; of the broken ones, those
     * that broke only once a tracker call made the module look at an origin
     * resized meanwhile (ERANGE).
     */
    final AtomicLong burstErrors = new AtomicLong();
    final AtomicLong burstErrorsBroken = new AtomicLong();
    final AtomicLong burstErrorsGone = new AtomicLong();
    final AtomicLong burstErrorsResized = new AtomicLong();
    /** Direct image writes or reads answered ENOMEM (the module had no pages for them: not a break). */
    final AtomicLong burstNoMemory = new AtomicLong();
    /** Failures whose snapshot's state could not be read (SNAPSHOT_INFO failed otherwise than ENOENT). */
    final AtomicLong burstErrorsUnverified = new AtomicLong();
    /**
     * Image writes that succeeded and then read back otherwise (the read
     * succeeding), misaligned direct writes answered otherwise than EINVAL,
     * and image writes, reads or flushes that failed while their snapshot
     * was neither broken nor gone: any is a broken contract.
     */
    final List<String> imageWritesWrong = java.util.Collections.synchronizedList(new ArrayList<>());
    /**
     * Held while writing to an image: one writer at a time, so a write read
     * back finds its own bytes (workers write after a take, the writer
     * thread when it meets a writable image).
     */
    private final Object imageWriter = new Object();
    /** Reads the snapshots' state for the bursts; creates none, so closing it destroys nothing. */
    private final BlksnapControl ctl;

    Snapshots(Path dir, long calls) throws IOException {
        realCreateOneIn = (int) Math.max(5, calls / 40000);
        mount = Files.createDirectories(dir.resolve("storage"));
        Native.runOk("mount", "-t", "tmpfs", "-o", "size=" + TMPFS_SIZE, "blksnap-fuzz", mount.toString());
        Path files = Files.createDirectories(mount.resolve("dir"));
        Path file = mount.resolve("storage.img");
        Files.write(file, new byte[0]);
        deviceFile = dir.resolve("storage-device.img");
        try (var f = new java.io.RandomAccessFile(deviceFile.toFile(), "rw")) {
            f.setLength(STORAGE_DEVICE_SIZE);
        }
        deviceNode = Path.of(Native.runOk("losetup", "-f", "--show", deviceFile.toString()).trim());
        ctl = BlksnapControl.open();
        storageDir = RawIoctl.open(files, RawIoctl.O_RDONLY);
        storageFile = RawIoctl.open(file, RawIoctl.O_RDWR);
        storageDevice = RawIoctl.open(deviceNode, RawIoctl.O_RDWR);
        if (storageDir < 0 || storageFile < 0 || storageDevice < 0) {
            throw new IOException("cannot open the storage in " + mount + " and " + deviceNode + ": " + storageDir
                    + ", " + storageFile + ", " + storageDevice);
        }
    }

    /** Takes a slot for a create with real storage; false when {@link #MAX_LIVE} are taken. */
    boolean reserve() {
        while (true) {
            int n = slots.get();
            if (n >= MAX_LIVE) {
                return false;
            }
            if (slots.compareAndSet(n, n + 1)) {
                return true;
            }
        }
    }

    /** A create that held a slot failed. */
    void release() {
        slots.decrementAndGet();
    }

    /** A create that held a slot made {@code id}. */
    synchronized void created(long id, int owner, boolean keep, String storage) {
        (switch (storage) {
            case "directory" -> createdInDirectory;
            case "file" -> createdInFile;
            default -> createdOnDevice;
        }).incrementAndGet();
        if (gone.contains(id)) { // destroyed by a guessed id before this thread saw its answer
            release();
            return;
        }
        live.put(id, keep ? -1 : owner);
        peakLive.accumulateAndGet(live.size(), Math::max);
    }

    /** SNAPSHOT_DESTROY of {@code id} succeeded. */
    synchronized void destroyed(long id) {
        destroyedByIoctl.incrementAndGet();
        gone.add(id);
        if (live.remove(id) != null) {
            release();
        }
    }

    /**
     * Worker {@code owner} closed its control file: its snapshots without
     * KEEP are gone, unless a process the JVM was spawning at that moment
     * still held the file for a while; so they are not counted among the
     * ids that must fail (the check after the run, with every thread
     * stopped, sees whether they went).
     */
    synchronized void closed(int owner) {
        for (Map.Entry<Long, Integer> e : List.copyOf(live.entrySet())) {
            if (e.getValue() == owner) {
                live.remove(e.getKey());
                destroyedByClose.incrementAndGet();
                release();
            }
        }
    }

    boolean isGone(long id) {
        return gone.contains(id);
    }

    /** A snapshot made in the run: mostly a live one, sometimes a gone one; 0 when none was made. */
    long pick(SplittableRandom rnd) {
        Long[] ids = (rnd.nextInt(5) == 0 || live.isEmpty() ? gone : live.keySet()).toArray(Long[]::new);
        return ids.length == 0 ? 0 : ids[rnd.nextInt(ids.length)];
    }

    /** The live snapshots the fuzzer made, as far as it knows. */
    Set<Long> live() {
        return new TreeSet<>(live.keySet());
    }

    /**
     * Reads a page of a random snapshot image, or tries to write one (it
     * must be refused unless the image is writable, as its sysfs "ro" says
     * before and after: a minor reused meanwhile by a writable image does
     * not count): the images' read and write paths (chunks from the origin
     * or the storage) run while the fuzzer adds, takes and destroys.
     */
    void touchImage(SplittableRandom rnd, ByteBuffer page) {
        List<Path> images = images();
        if (images.isEmpty()) {
            return;
        }
        List<Path> writable = images.stream().filter(i -> !readOnly(i)).toList();
        if (!writable.isEmpty() && rnd.nextBoolean()) {
            writeBurst(rnd, writable.get(rnd.nextInt(writable.size())));
            return;
        }
        Path image = images.get(rnd.nextInt(images.size()));
        boolean write = rnd.nextInt(8) == 0;
        if (write) {
            synchronized (imageWriter) {
                touch(image, true, rnd, page);
            }
        } else {
            touch(image, false, rnd, page);
        }
    }

    /**
     * A SNAPSHOT_TAKE succeeded: a burst of writes to a writable image,
     * if there is one (most likely the one just taken). Images live for
     * a few hundred milliseconds between take and destroy, so the
     * writer thread alone rarely meets a writable one. The burst draws from
     * {@code seed} (drawn by the call's generator whatever the answer), so
     * the calling thread's own sequence does not depend on what it met.
     */
    void taken(long seed) {
        List<Path> writable = images().stream().filter(i -> !readOnly(i)).toList();
        if (!writable.isEmpty()) {
            SplittableRandom rnd = new SplittableRandom(seed);
            writeBurst(rnd, writable.get(rnd.nextInt(writable.size())));
        }
    }

    private static List<Path> images() {
        List<Path> images = new ArrayList<>();
        try (DirectoryStream<Path> d = Files.newDirectoryStream(Path.of("/dev"), "blksnap-image*")) {
            d.forEach(images::add);
        } catch (IOException e) {
            return List.of();
        }
        return images;
    }

    private void touch(Path image, boolean write, SplittableRandom rnd, ByteBuffer page) {
        boolean readOnly = readOnly(image);
        try (FileChannel ch = FileChannel.open(image, write ? StandardOpenOption.WRITE : StandardOpenOption.READ)) {
            long pages = Math.max(1, ch.size() / 4096);
            page.clear();
            if (write) {
                ch.write(page, rnd.nextLong(pages) * 4096);
                ch.force(false);
                if (readOnly && readOnly(image)) {
                    imageWritesAccepted.add(image.toString());
                } else {
                    imageWritesToWritable.incrementAndGet();
                }
            } else {
                ch.read(page, rnd.nextLong(pages) * 4096);
                imageReads.incrementAndGet();
            }
        } catch (IOException | RuntimeException e) {
            (write ? imageWritesRefused : imageReadErrors).incrementAndGet(); // refused, gone or broken
        }
    }

    /**
     * A few writes to a writable image (one burst at a time), each one of: a direct write of
     * 1-128 logical blocks at a block boundary (mostly not a page one),
     * read back at once; a direct write off the block boundary, which the
     * block layer must refuse with EINVAL; a buffered write of 1-8192 bytes
     * at any byte (the page cache reads the pages it covers in part), then
     * flushed and read back directly; a flush. A read back that succeeds
     * must show what was written (this thread is the images' only writer);
     * anything may fail once the snapshot broke or went.
     */
    private void writeBurst(SplittableRandom rnd, Path image) {
        synchronized (imageWriter) {
            burst(rnd, image);
        }
    }

    private void burst(SplittableRandom rnd, Path image) {
        String name = image.getFileName().toString();
        long block;
        long bytes;
        String diskseq;
        try {
            block = Long.parseLong(Files.readString(Path.of("/sys/class/block", name, "queue",
                    "logical_block_size")).trim());
            bytes = Long.parseLong(Files.readString(Path.of("/sys/class/block", name, "size")).trim()) * 512;
            diskseq = diskseq(name);
        } catch (IOException | NumberFormatException gone) {
            burstsMissed.incrementAndGet();
            return;
        }
        if (bytes < 128 * block + Native.PAGE) {
            return;
        }
        int direct = Native.open(image, Native.O_RDWR | Native.O_DIRECT);
        int buffered = Native.open(image, Native.O_RDWR);
        try (Arena a = Arena.ofConfined()) {
            if (direct < 0 || buffered < 0) {
                burstsMissed.incrementAndGet(); // gone meanwhile
                return;
            }
            long owner = owner(image, diskseq);
            if (owner == 0) {
                burstsMissed.incrementAndGet(); // gone meanwhile, the name perhaps another image's now
                return;
            }
            writeBursts.incrementAndGet();
            MemorySegment data = a.allocate(128 * block + Native.PAGE, Native.PAGE);
            MemorySegment back = a.allocate(128 * block + 2 * Native.PAGE, Native.PAGE);
            for (int ops = 1 + rnd.nextInt(4); ops > 0; ops--) {
                switch (rnd.nextInt(4)) {
                    case 0 -> {
                        long len = block * (1 + rnd.nextInt(128));
                        long off = block * rnd.nextLong((bytes - len) / block + 1);
                        MemorySegment w = fill(data.asSlice(0, len), rnd);
                        long rc = Native.pwrite(direct, w, off);
                        directWrites.incrementAndGet();
                        readBack(direct, w, off, off, back, image, owner, rc, "direct");
                    }
                    case 1 -> {
                        long off = block * rnd.nextLong(bytes / block - 1) + 1 + rnd.nextLong(block - 1);
                        long rc = Native.pwrite(direct, data.asSlice(0, block), off);
                        if (rc == -22) { // EINVAL
                            misalignedRefused.incrementAndGet();
                        } else if (rc >= 0) {
                            imageWritesWrong.add(image + ": a direct write of " + block + " bytes at byte " + off
                                    + " answered " + rc + ", want EINVAL");
                        } else {
                            // The block layer refuses it before the image sees it, unless the image went
                            // (ENOSPC past its capacity, zeroed by the removal).
                            failed(owner, image, rc, "a misaligned direct write of " + block + " bytes at byte "
                                    + off);
                        }
                    }
                    case 2 -> {
                        long len = 1 + rnd.nextInt(8192);
                        long off = rnd.nextLong(bytes - len + 1);
                        MemorySegment w = fill(data.asSlice(0, len), rnd);
                        long rc = Native.pwrite(buffered, w, off);
                        bufferedWrites.incrementAndGet();
                        if (rc == len) {
                            rc = Native.fsync(buffered);
                            flushes.incrementAndGet();
                            rc = rc == 0 ? len : rc;
                        }
                        // Read back the pages around the bytes, directly.
                        long from = off / Native.PAGE * Native.PAGE;
                        readBack(direct, w, off, from, back, image, owner, rc, "buffered");
                    }
                    default -> {
                        int rc = Native.fsync(direct);
                        flushes.incrementAndGet();
                        if (rc != 0) {
                            failed(owner, image, rc, "a flush");
                        }
                    }
                }
            }
        } finally {
            if (direct >= 0) {
                RawIoctl.close(direct);
            }
            if (buffered >= 0) {
                RawIoctl.close(buffered);
            }
        }
    }

    private static MemorySegment fill(MemorySegment seg, SplittableRandom rnd) {
        for (long i = 0; i < seg.byteSize(); i += 8) {
            long v = rnd.nextLong();
            for (long j = i; j < Math.min(i + 8, seg.byteSize()); j++) {
                seg.set(ValueLayout.JAVA_BYTE, j, (byte) (v >>> (8 * (j - i))));
            }
        }
        return seg;
    }

    /**
     * After a write of {@code w} at byte {@code off} that answered
     * {@code rc}: reads the image directly from {@code from} (a block
     * boundary at or before {@code off}) past the write's end, and checks
     * the written bytes when both succeeded. The read covers only chunks
     * the write covered (chunks are whole pages), so it ends inside the
     * image.
     */
    private void readBack(int direct, MemorySegment w, long off, long from, MemorySegment back, Path image,
            long owner, long rc, String how) {
        String what = "a " + how + " write of " + w.byteSize() + " bytes at byte " + off;
        if (rc != w.byteSize()) {
            failed(owner, image, rc, what);
            return;
        }
        long len = (off + w.byteSize() - from + Native.PAGE - 1) / Native.PAGE * Native.PAGE;
        MemorySegment r = back.asSlice(0, len);
        long got = Native.pread(direct, r, from);
        if (got < off + w.byteSize() - from) {
            failed(owner, image, got, "the direct read of " + len + " bytes at byte " + from + " after " + what);
            return;
        }
        long at = r.asSlice(off - from, w.byteSize()).mismatch(w);
        if (at >= 0) {
            imageWritesWrong.add(image + ": a " + how + " write of " + w.byteSize() + " bytes at byte " + off
                    + " reads back otherwise from byte " + (off + at));
        } else {
            writesVerified.incrementAndGet();
        }
    }

    /** The disk sequence number of the disk named {@code name}: a new one for every disk ever made. */
    private static String diskseq(String name) throws IOException {
        return Files.readString(Path.of("/sys/class/block", name, "diskseq")).trim();
    }

    /**
     * The snapshot whose image {@code image} is, found by its device
     * number; 0 when none has it now, or when the name no longer names the
     * disk of {@code diskseq} (read before the burst opened it). The name
     * naming the same disk before the descriptors were opened and after
     * the snapshot was found means that the snapshot's image is the disk
     * the descriptors reach: a destroyed image's minor goes to the next
     * image made, and the burst's writes would fail on a disk that is no
     * longer that snapshot's.
     */
    private long owner(Path image, String diskseq) {
        try {
            Optional<DeviceId> dev = Optional.of(DeviceId.of(image));
            for (long id : ctl.snapshots()) {
                SnapshotInfo info;
                try {
                    info = ctl.snapshotInfo(id);
                } catch (NoSuchSnapshotException gone) {
                    continue;
                }
                if (info.devices().stream().anyMatch(d -> d.image().equals(dev))) {
                    return diskseq.equals(diskseq(image.getFileName().toString())) ? id : 0;
                }
            }
        } catch (IOException | IllegalArgumentException gone) {
            // the node or its sysfs directory went meanwhile
        }
        return 0;
    }

    /**
     * An image write, read or flush of snapshot {@code owner} answered
     * {@code rc}: the snapshot must be broken or gone now. The module
     * marks a snapshot broken before it fails an image I/O for it, and
     * takes it off the list before it removes its images. One exception:
     * an origin resized meanwhile (the fuzzer's hot-plug resizes loop
     * devices) fails the image reads that reach it past its new end, and
     * the snapshot breaks (ERANGE) only once the module looks at the
     * origin, on its next write or tracker call; so a CBT_INFO of each
     * origin, and a second look. ENOMEM from a direct transfer is allowed:
     * the module could not get pages for it, which breaks nothing.
     */
    private void failed(long owner, Path image, long rc, String what) {
        if (rc == -Errno.ENOMEM) {
            burstNoMemory.incrementAndGet();
            return;
        }
        burstErrors.incrementAndGet();
        try {
            String state = brokenOrGone(owner);
            if (state == null) {
                for (SnapshotDevice d : ctl.snapshotInfo(owner).devices()) {
                    try {
                        ctl.cbtInfo(d.origin());
                    } catch (BlksnapException notTracked) {
                        // detached meanwhile: the second look tells
                    }
                }
                state = brokenOrGone(owner);
                if ("broken".equals(state)) {
                    burstErrorsResized.incrementAndGet();
                }
            }
            if (state == null) {
                imageWritesWrong.add(image + ": " + what + " answered " + rc + ", but snapshot " + owner
                        + " is neither broken nor gone: " + ctl.snapshotInfo(owner));
            } else {
                (state.equals("gone") ? burstErrorsGone : burstErrorsBroken).incrementAndGet();
            }
        } catch (NoSuchSnapshotException gone) {
            burstErrorsGone.incrementAndGet(); // destroyed between the looks
        } catch (BlksnapException e) {
            burstErrorsUnverified.incrementAndGet();
            System.out.println("[fuzz] " + image + ": " + what + " answered " + rc + "; snapshot " + owner
                    + "'s state unknown: " + e.getMessage());
        }
    }

    /** "broken", "gone", or null while the snapshot is taken and whole. */
    private String brokenOrGone(long id) throws BlksnapException {
        SnapshotInfo info;
        try {
            info = ctl.snapshotInfo(id);
        } catch (NoSuchSnapshotException gone) {
            return "gone";
        }
        boolean broken = info.state() == SnapshotState.BROKEN || info.error() != 0
                || info.devices().stream().anyMatch(d -> d.error() != 0);
        return broken ? "broken" : null;
    }

    /** Whether an image is read-only (true when it is gone: not writable as far as anyone knows). */
    private static boolean readOnly(Path image) {
        try {
            return !Files.readString(Path.of("/sys/class/block", image.getFileName().toString(), "ro")).trim()
                    .equals("0");
        } catch (IOException e) {
            return true;
        }
    }

    /** One line for the log: what the run did with snapshots. */
    String summary() {
        return String.format("snapshots with real storage (one create in %d): %d created (%d in the directory, %d in the file,"
                + " %d on the device), %d destroyed by ioctl, %d by closing their control file, at most %d alive at"
                + " once; image reads %d (%d failed), image writes refused %d, to writable images %d;"
                + " %d write bursts to writable images (%d more given up: the image went first): %d direct and %d buffered writes, %d flushes, %d read back"
                + " right, %d misaligned direct writes refused, %d failed (%d on a broken snapshot, %d of them"
                + " broken by a resize seen late; %d on a gone one; %d unverified), %d answered ENOMEM",
                realCreateOneIn, createdInDirectory.get() + createdInFile.get() + createdOnDevice.get(),
                createdInDirectory.get(), createdInFile.get(), createdOnDevice.get(), destroyedByIoctl.get(),
                destroyedByClose.get(), peakLive.get(), imageReads.get(), imageReadErrors.get(),
                imageWritesRefused.get(), imageWritesToWritable.get(), writeBursts.get(), burstsMissed.get(),
                directWrites.get(),
                bufferedWrites.get(), flushes.get(), writesVerified.get(), misalignedRefused.get(),
                burstErrors.get(), burstErrorsBroken.get(), burstErrorsResized.get(), burstErrorsGone.get(),
                burstErrorsUnverified.get(), burstNoMemory.get());
    }

    /** Closes the storage and unmounts its tmpfs: every snapshot must be gone by now. */
    void close() throws IOException {
        ctl.close();
        RawIoctl.close(storageDir);
        RawIoctl.close(storageFile);
        RawIoctl.close(storageDevice);
        Native.runOk("umount", mount.toString());
        Native.runOk("losetup", "-d", deviceNode.toString());
        Files.deleteIfExists(deviceFile);
    }
}
