// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.DeviceId;
import dev.blksnap.internal.Errno;
import dev.blksnap.internal.Layouts;
import dev.blksnap.internal.RawIoctl;
import dev.blksnap.internal.Uapi;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The snapshot ioctls as the tests need them: straight from the UAPI
 * layouts, every call returning 0 or -errno (or throwing with the errno's
 * name), so a test can expect an exact errno. One control file per
 * instance: closing it destroys the snapshots it created without KEEP.
 */
final class Snapshots implements AutoCloseable {
    /** What take reported. */
    record Take(long holdNs, long freezeNs, int frozen, int freezeFailed) {
    }

    /** One device of {@link Info}. */
    record Device(DeviceId origin, DeviceId image, long capacitySectors, int chunkSize, int error,
            int freezeError, String generation, int closedNumber, int freeze, long writesHeld, long chunksCopied,
            long chunksStored, long discardsDropped) {
        /** The image's device node, /dev/blksnap-imageN. */
        Path imagePath() {
            try {
                for (String line : Files.readAllLines(Path.of("/sys/dev/block", image.major() + ":" + image.minor(),
                        "uevent"))) {
                    if (line.startsWith("DEVNAME=")) {
                        return Path.of("/dev", line.substring("DEVNAME=".length()));
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException("no image " + image, e);
            }
            throw new IllegalStateException("no DEVNAME for " + image);
        }
    }

    /** What info reported. */
    record Info(int state, int error, int flags, int storageKind, DeviceId storageDev, long storageUsed,
            long storageSize, long storageLimit, List<Device> devices) {
        Device device(DeviceId origin) {
            return devices.stream().filter(d -> d.origin().equals(origin)).findFirst().orElseThrow();
        }
    }

    /** A call that failed: the errno and its name. */
    static final class Failed extends RuntimeException {
        private static final long serialVersionUID = 1L;
        final int errno;

        Failed(String what, int errno) {
            super(what + ": " + Errno.name(errno));
            this.errno = errno;
        }
    }

    private final int fd;

    Snapshots() {
        fd = RawIoctl.openControl(Guest.CONTROL);
        if (fd < 0) {
            throw new IllegalStateException("open " + Guest.CONTROL + ": " + Errno.name(-fd));
        }
    }

    private static long off(StructLayout l, String member) {
        return l.byteOffset(groupElement(member));
    }

    private static void bdev(MemorySegment s, long off, DeviceId d) {
        s.set(JAVA_INT, off, d.major());
        s.set(JAVA_INT, off + 4, d.minor());
    }

    private static DeviceId bdev(MemorySegment s, long off) {
        return new DeviceId(s.get(JAVA_INT, off), s.get(JAVA_INT, off + 4));
    }

    /** The control file's descriptor, e.g. to poll() it. */
    int fd() {
        return fd;
    }

    private int ioctl(long request, MemorySegment arg) {
        return RawIoctl.ioctl(fd, request, arg);
    }

    private static void check(String what, int rc) {
        if (rc != 0) {
            throw new Failed(what, -rc);
        }
    }

    /** Opens the storage (a directory read-only, anything else read-write) and creates; 0/-errno in {@code rc}. */
    long create(Path storage, long limit, boolean keep) {
        int flags = Files.isDirectory(storage) ? Posix.O_RDONLY : Posix.O_RDWR;
        int sfd;
        try {
            sfd = Posix.open(storage, flags);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        try {
            return createFd(sfd, limit, keep ? Uapi.SNAPSHOT_FLAG_KEEP : 0);
        } finally {
            Posix.close(sfd);
        }
    }

    /** Creates with a descriptor as it is; throws {@link Failed}. */
    long createFd(int storageFd, long limit, int flags) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(Layouts.SNAPSHOT_CREATE);
            s.set(JAVA_INT, off(Layouts.SNAPSHOT_CREATE, "storage_fd"), storageFd);
            s.set(JAVA_INT, off(Layouts.SNAPSHOT_CREATE, "flags"), flags);
            s.set(JAVA_LONG, off(Layouts.SNAPSHOT_CREATE, "limit"), limit);
            check("SNAPSHOT_CREATE", ioctl(RawIoctl.SNAPSHOT_CREATE, s));
            return s.get(JAVA_LONG, off(Layouts.SNAPSHOT_CREATE, "id"));
        }
    }

    /** 0 or -errno. */
    int addRaw(long id, DeviceId dev) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(Layouts.SNAPSHOT_ADD);
            s.set(JAVA_LONG, off(Layouts.SNAPSHOT_ADD, "id"), id);
            bdev(s, off(Layouts.SNAPSHOT_ADD, "dev"), dev);
            return ioctl(RawIoctl.SNAPSHOT_ADD, s);
        }
    }

    void add(long id, Path dev) throws IOException {
        check("SNAPSHOT_ADD " + dev, addRaw(id, DeviceId.of(dev)));
    }

    Take take(long id, boolean freeze) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(Layouts.SNAPSHOT_TAKE);
            s.set(JAVA_LONG, off(Layouts.SNAPSHOT_TAKE, "id"), id);
            s.set(JAVA_INT, off(Layouts.SNAPSHOT_TAKE, "flags"), freeze ? 0 : Uapi.TAKE_FLAG_NO_FREEZE);
            check("SNAPSHOT_TAKE", ioctl(RawIoctl.SNAPSHOT_TAKE, s));
            return new Take(s.get(JAVA_LONG, off(Layouts.SNAPSHOT_TAKE, "hold_ns")),
                    s.get(JAVA_LONG, off(Layouts.SNAPSHOT_TAKE, "freeze_ns")),
                    s.get(JAVA_INT, off(Layouts.SNAPSHOT_TAKE, "frozen")),
                    s.get(JAVA_INT, off(Layouts.SNAPSHOT_TAKE, "freeze_failed")));
        }
    }

    /** What WAIT_EVENT returned. */
    record Event(int code, int error, DeviceId dev, long timeNs, long used, long limit, int lost) {
    }

    /** WAIT_EVENT: the event, or null on ETIMEDOUT; any other errno throws {@link Failed}. */
    Event waitEvent(long id, int timeoutMs) {
        StructLayout l = Layouts.SNAPSHOT_EVENT;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(l);
            s.set(JAVA_LONG, off(l, "id"), id);
            s.set(JAVA_INT, off(l, "timeout_ms"), timeoutMs);
            int rc = ioctl(RawIoctl.SNAPSHOT_WAIT_EVENT, s);
            if (rc == -Errno.ETIMEDOUT) {
                return null;
            }
            check("SNAPSHOT_WAIT_EVENT", rc);
            return new Event(s.get(JAVA_INT, off(l, "code")), s.get(JAVA_INT, off(l, "error")),
                    bdev(s, off(l, "dev")), s.get(JAVA_LONG, off(l, "time_ns")), s.get(JAVA_LONG, off(l, "used")),
                    s.get(JAVA_LONG, off(l, "limit")), s.get(JAVA_INT, off(l, "lost")));
        }
    }

    /** WAIT_EVENT with every input member given (the answer members zero): 0 or -errno. */
    int waitEventRaw(long id, int timeoutMs, int flags, int reserved) {
        StructLayout l = Layouts.SNAPSHOT_EVENT;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(l);
            s.set(JAVA_LONG, off(l, "id"), id);
            s.set(JAVA_INT, off(l, "timeout_ms"), timeoutMs);
            s.set(JAVA_INT, off(l, "flags"), flags);
            s.set(JAVA_INT, off(l, "reserved"), reserved);
            return ioctl(RawIoctl.SNAPSHOT_WAIT_EVENT, s);
        }
    }

    /** WAIT_EVENT on a structure at a raw address (a bad or read-only one): 0 or -errno. */
    int waitEventAt(long address) {
        return RawIoctl.ioctlAddress(fd, RawIoctl.SNAPSHOT_WAIT_EVENT, address);
    }

    /** ADD_STORAGE with every input member given: 0 or -errno. */
    int addStorageRaw(long id, int storageFd, int flags, long limit, long reserved) {
        StructLayout l = Layouts.SNAPSHOT_ADD_STORAGE;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(l);
            s.set(JAVA_LONG, off(l, "id"), id);
            s.set(JAVA_INT, off(l, "storage_fd"), storageFd);
            s.set(JAVA_INT, off(l, "flags"), flags);
            s.set(JAVA_LONG, off(l, "limit"), limit);
            s.set(JAVA_LONG, off(l, "reserved"), reserved);
            return ioctl(RawIoctl.SNAPSHOT_ADD_STORAGE, s);
        }
    }

    /** Opens the storage as {@link #create} does and adds it: 0 or -errno. */
    int addStorage(long id, Path storage, long limit) {
        int sfd;
        try {
            sfd = Posix.open(storage, Files.isDirectory(storage) ? Posix.O_RDONLY : Posix.O_RDWR);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        try {
            return addStorageRaw(id, sfd, 0, limit, 0);
        } finally {
            Posix.close(sfd);
        }
    }

    /** 0 or -errno. */
    int destroyRaw(long id) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(Layouts.SNAPSHOT_DESTROY);
            s.set(JAVA_LONG, off(Layouts.SNAPSHOT_DESTROY, "id"), id);
            return ioctl(RawIoctl.SNAPSHOT_DESTROY, s);
        }
    }

    void destroy(long id) {
        check("SNAPSHOT_DESTROY", destroyRaw(id));
    }

    List<Long> list() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ids = a.allocate(JAVA_LONG, Uapi.SNAPSHOT_LIST_MAX);
            MemorySegment s = a.allocate(Layouts.SNAPSHOT_LIST);
            s.set(JAVA_LONG, off(Layouts.SNAPSHOT_LIST, "ids"), ids.address());
            s.set(JAVA_INT, off(Layouts.SNAPSHOT_LIST, "capacity"), Uapi.SNAPSHOT_LIST_MAX);
            check("SNAPSHOT_LIST", ioctl(RawIoctl.SNAPSHOT_LIST, s));
            int n = s.get(JAVA_INT, off(Layouts.SNAPSHOT_LIST, "count"));
            List<Long> out = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                out.add(ids.getAtIndex(JAVA_LONG, i));
            }
            return out;
        }
    }

    Info info(long id) {
        StructLayout dl = Layouts.SNAPSHOT_DEVICE;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment devs = a.allocate(MemoryLayout.sequenceLayout(Uapi.SNAPSHOT_MAX_DEVICES, dl));
            MemorySegment s = a.allocate(Layouts.SNAPSHOT_INFO);
            StructLayout l = Layouts.SNAPSHOT_INFO;
            s.set(JAVA_LONG, off(l, "id"), id);
            s.set(JAVA_LONG, off(l, "devices"), devs.address());
            s.set(JAVA_INT, off(l, "capacity"), Uapi.SNAPSHOT_MAX_DEVICES);
            check("SNAPSHOT_INFO", ioctl(RawIoctl.SNAPSHOT_INFO, s));
            int count = s.get(JAVA_INT, off(l, "count"));
            List<Device> list = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                MemorySegment d = devs.asSlice(i * dl.byteSize(), dl.byteSize());
                byte[] gen = d.asSlice(off(dl, "generation_id"), Uapi.UUID_SIZE).toArray(JAVA_BYTE);
                list.add(new Device(bdev(d, off(dl, "origin")), bdev(d, off(dl, "image")),
                        d.get(JAVA_LONG, off(dl, "capacity")), d.get(JAVA_INT, off(dl, "chunk_size")),
                        d.get(JAVA_INT, off(dl, "error")), d.get(JAVA_INT, off(dl, "freeze_error")),
                        HexFormat.of().formatHex(gen), Byte.toUnsignedInt(d.get(JAVA_BYTE, off(dl, "closed_number"))),
                        Byte.toUnsignedInt(d.get(JAVA_BYTE, off(dl, "freeze"))),
                        d.get(JAVA_LONG, off(dl, "writes_held")), d.get(JAVA_LONG, off(dl, "chunks_copied")),
                        d.get(JAVA_LONG, off(dl, "chunks_stored")), d.get(JAVA_LONG, off(dl, "discards_dropped"))));
            }
            return new Info(s.get(JAVA_INT, off(l, "state")), s.get(JAVA_INT, off(l, "error")),
                    s.get(JAVA_INT, off(l, "flags")), s.get(JAVA_INT, off(l, "storage_kind")),
                    bdev(s, off(l, "storage_dev")), s.get(JAVA_LONG, off(l, "storage_used")),
                    s.get(JAVA_LONG, off(l, "storage_size")), s.get(JAVA_LONG, off(l, "storage_limit")), list);
        }
    }

    /** Destroys every snapshot there is (also those of other files and kept ones). */
    void destroyAll() {
        for (long id : list()) {
            destroyRaw(id);
        }
    }

    @Override
    public void close() {
        RawIoctl.close(fd);
    }
}
