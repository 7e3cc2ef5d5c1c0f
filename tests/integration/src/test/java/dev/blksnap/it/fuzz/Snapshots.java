// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it.fuzz;

import dev.blksnap.internal.RawIoctl;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The snapshots the fuzzer makes with real storage: a small tmpfs of its
 * own holding a directory (the module makes an O_TMPFILE there) and one
 * regular file, open for the whole run; which snapshots are alive, whose
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
    /** Live snapshots made here: id -> owning worker, or -1 for BLKSNAP_SNAPSHOT_FLAG_KEEP. */
    private final Map<Long, Integer> live = new ConcurrentHashMap<>();
    /** Destroyed by SNAPSHOT_DESTROY. */
    private final Set<Long> gone = ConcurrentHashMap.newKeySet();
    /** Live snapshots plus creates in flight that may make one. */
    private final AtomicInteger slots = new AtomicInteger();
    final AtomicLong createdInDirectory = new AtomicLong();
    final AtomicLong createdInFile = new AtomicLong();
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

    Snapshots(Path dir, long calls) throws IOException {
        realCreateOneIn = (int) Math.max(5, calls / 40000);
        mount = Files.createDirectories(dir.resolve("storage"));
        Native.runOk("mount", "-t", "tmpfs", "-o", "size=" + TMPFS_SIZE, "blksnap-fuzz", mount.toString());
        Path files = Files.createDirectories(mount.resolve("dir"));
        Path file = mount.resolve("storage.img");
        Files.write(file, new byte[0]);
        storageDir = RawIoctl.open(files, RawIoctl.O_RDONLY);
        storageFile = RawIoctl.open(file, RawIoctl.O_RDWR);
        if (storageDir < 0 || storageFile < 0) {
            throw new IOException("cannot open the storage in " + mount + ": " + storageDir + ", " + storageFile);
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
    synchronized void created(long id, int owner, boolean keep, boolean inDirectory) {
        (inDirectory ? createdInDirectory : createdInFile).incrementAndGet();
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
        List<Path> images = new ArrayList<>();
        try (DirectoryStream<Path> d = Files.newDirectoryStream(Path.of("/dev"), "blksnap-image*")) {
            d.forEach(images::add);
        } catch (IOException e) {
            return;
        }
        if (images.isEmpty()) {
            return;
        }
        Path image = images.get(rnd.nextInt(images.size()));
        boolean write = rnd.nextInt(8) == 0;
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
        return String.format("snapshots with real storage (one create in %d): %d created (%d in the directory, %d in the file),"
                + " %d destroyed by ioctl, %d by closing their control file, at most %d alive at once;"
                + " image reads %d (%d failed), image writes refused %d, to writable images %d",
                realCreateOneIn, createdInDirectory.get()
                + createdInFile.get(), createdInDirectory.get(), createdInFile.get(), destroyedByIoctl.get(),
                destroyedByClose.get(), peakLive.get(), imageReads.get(), imageReadErrors.get(),
                imageWritesRefused.get(), imageWritesToWritable.get());
    }

    /** Closes the storage and unmounts its tmpfs: every snapshot must be gone by now. */
    void close() {
        RawIoctl.close(storageDir);
        RawIoctl.close(storageFile);
        Native.runOk("umount", mount.toString());
    }
}
