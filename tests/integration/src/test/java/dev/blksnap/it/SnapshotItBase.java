// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.DeviceId;
import dev.blksnap.NotTrackedException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
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

    protected Snapshots snap;
    private final List<DeviceId> added = new ArrayList<>();

    @BeforeEach
    void openSnapshots() {
        snap = new Snapshots();
        snap.destroyAll();
    }

    @AfterEach
    void closeSnapshots() throws Exception {
        if (snap == null) {
            return;
        }
        try {
            List<Long> left = snap.list();
            snap.destroyAll();
            snap.close();
            snap = null;
            for (DeviceId id : added) {
                try {
                    ctl.detach(id);
                } catch (NotTrackedException gone) {
                    // removed with its device
                }
            }
            assertEquals(List.of(), left, "snapshots left after the test");
        } finally {
            added.clear();
        }
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

    /** Writes stamps of generation {@code gen} over a whole device, 1 MiB at a time, with O_DIRECT. */
    static void stampAll(Path dev, long gen) throws IOException {
        long sectors = Guest.sizeSectors(dev);
        int fd = Posix.open(dev, Posix.O_RDWR | Posix.O_DIRECT);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = Posix.aligned(a, 1 << 20);
            for (long s = 0; s < sectors; s += 2048) {
                long n = Math.min(2048, sectors - s);
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
        long sectors = Guest.sizeSectors(dev);
        int fd = Posix.open(dev, Posix.O_RDONLY | Posix.O_DIRECT);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = Posix.aligned(a, 1 << 20);
            for (long s = 0; s < sectors; s += 2048) {
                long n = Math.min(2048, sectors - s);
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
