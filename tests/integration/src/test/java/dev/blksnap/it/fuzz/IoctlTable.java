// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it.fuzz;

import dev.blksnap.DeviceId;
import dev.blksnap.internal.Ioc;
import dev.blksnap.internal.Layouts;
import dev.blksnap.internal.Uapi;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.function.ToLongFunction;

import static dev.blksnap.internal.Errno.E2BIG;
import static dev.blksnap.internal.Errno.EALREADY;
import static dev.blksnap.internal.Errno.EBADF;
import static dev.blksnap.internal.Errno.EBUSY;
import static dev.blksnap.internal.Errno.EDEADLK;
import static dev.blksnap.internal.Errno.EFAULT;
import static dev.blksnap.internal.Errno.EFBIG;
import static dev.blksnap.internal.Errno.EINTR;
import static dev.blksnap.internal.Errno.EINVAL;
import static dev.blksnap.internal.Errno.EIO;
import static dev.blksnap.internal.Errno.ENODEV;
import static dev.blksnap.internal.Errno.ENOENT;
import static dev.blksnap.internal.Errno.ENOMEM;
import static dev.blksnap.internal.Errno.ENOSPC;
import static dev.blksnap.internal.Errno.ENOTTY;
import static dev.blksnap.internal.Errno.EOPNOTSUPP;
import static dev.blksnap.internal.Errno.ERANGE;
import static dev.blksnap.internal.Errno.EROFS;
import static dev.blksnap.internal.Errno.ETIMEDOUT;
import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;

/**
 * What the fuzzer knows about each ioctl of include/uapi/linux/blksnap.h:
 * ONE entry per ioctl in {@link #ALL}, with its layout from {@link
 * Layouts}, a generator per member and the errnos the header allows. The
 * list of ioctls, their request numbers and the numbers the module must
 * refuse as unknown come from the header itself ({@link UapiHeader}); a
 * new ioctl in the header fails IoctlFuzzTest until it has its entry here
 * (generators and errnos are knowledge no header parse gives).
 */
final class IoctlTable {
    /** Writes one member: {@code size} bytes at {@code off} of the structure {@code s}. */
    interface Gen {
        void put(Call c, MemorySegment s, long off, long size);
    }

    /** Checks the kernel's answer to a call that returned 0; a text saying what is wrong, or null. */
    interface Check {
        String verify(Call c, MemorySegment answer);
    }

    /** One member of a structure and how to fill it; members are filled in the order given. */
    record Field(String name, long offset, long size, Gen gen) {
    }

    /**
     * One ioctl.
     *
     * @param name     the request's name without BLKSNAP_IOCTL_
     * @param request  the request number; for the unknown-request entry, a generator of numbers
     * @param layout   the argument structure (its size is the request's size)
     * @param errnos   the errnos the header allows for it (besides 0)
     * @param weight   relative frequency in the mix
     * @param fields   the members and their generators
     * @param check    the checks of a successful answer
     */
    record IoctlSpec(String name, ToLongFunction<SplittableRandom> request, StructLayout layout,
            Set<Integer> errnos, int weight, List<Field> fields, Check check) {
        boolean unknown() {
            return layout == null;
        }
    }

    private IoctlTable() {
    }

    private static Field f(StructLayout layout, String member, Gen gen) {
        if (member == null) {
            return new Field("(whole)", 0, layout.byteSize(), gen);
        }
        MemoryLayout m = layout.select(groupElement(member));
        return new Field(member, layout.byteOffset(groupElement(member)), m.byteSize(), gen);
    }

    /** The request number of BLKSNAP_IOCTL_{@code name}, as the header defines it. */
    private static ToLongFunction<SplittableRandom> header(String name) {
        UapiHeader.Ioctl ioctl = UapiHeader.IOCTLS.get(name);
        if (ioctl == null) {
            throw new IllegalStateException("IoctlTable has an entry for BLKSNAP_IOCTL_" + name
                    + ", which the header does not define");
        }
        long request = ioctl.request();
        return r -> request;
    }

    // ---- member generators ----

    /** Out-only members and anything the kernel must ignore. */
    static final Gen GARBAGE = Call::garbage;

    /** A reserved member or flags: mostly zero; anything else makes the call fail. */
    static final Gen RESERVED = (c, s, off, size) -> {
        if (!c.oneIn(10)) {
            return;
        }
        if (size == 4) {
            int v = c.u32();
            if (v == 0) {
                v = Integer.MIN_VALUE;
            }
            s.set(JAVA_INT_UNALIGNED, off, v);
            c.mustFail("reserved/flags " + Integer.toUnsignedString(v, 16) + " at offset " + off);
        } else {
            long i = c.rnd.nextLong(size);
            byte v = (byte) (1 + c.rnd.nextInt(255));
            s.set(JAVA_BYTE, off + i, v);
            c.mustFail("reserved byte " + (off + i) + " is " + (v & 0xff));
        }
    };

    /**
     * A struct blksnap_bdev: mostly one of the targets, else numbers that
     * name nothing or do not fit a dev_t (MKDEV would alias them to another
     * device if the module did not check).
     */
    static final Gen DEVICE = (c, s, off, size) -> {
        Devices.Target[] ts = c.devices.targets();
        Devices.Target t = ts[c.rnd.nextInt(ts.length)];
        int major = t.id.major();
        int minor = t.id.minor();
        if (c.oneIn(4)) {
            switch (c.rnd.nextInt(10)) {
                case 0 -> { major = 0; minor = 0; }
                case 1 -> { major = -1; minor = -1; }
                case 2 -> { major = DeviceId.MAX_MAJOR; minor = DeviceId.MAX_MINOR; }
                case 3 -> { major = DeviceId.MAX_MAJOR + 1; minor = 0; }
                case 4 -> minor += DeviceId.MAX_MINOR + 1;
                case 5 -> major += DeviceId.MAX_MAJOR + 1;
                case 6 -> minor = c.u32();
                case 7 -> { major = Devices.LOOP_MAJOR; minor = c.rnd.nextInt(16); }
                case 8 -> major = c.u32();
                default -> { major = c.u32(); minor = c.u32(); }
            }
        }
        s.set(JAVA_INT_UNALIGNED, off, major);
        s.set(JAVA_INT_UNALIGNED, off + 4, minor);
        c.major = major;
        c.minor = minor;
        c.mayExist = c.devices.mayExist(major, minor);
        c.target = c.mayExist && major >= 0 && minor >= 0 && major <= DeviceId.MAX_MAJOR
                && minor <= DeviceId.MAX_MINOR ? c.devices.target(new DeviceId(major, minor)) : null;
    };

    /** The device of an ioctl that needs a tracker: a number that names no device cannot have one. */
    static final Gen TRACKED_DEVICE = (c, s, off, size) -> {
        DEVICE.put(c, s, off, size);
        if (!c.mayExist) {
            c.mustFail("device " + Integer.toUnsignedString(c.major) + ":" + Integer.toUnsignedString(c.minor)
                    + " names no block device, so it has no tracker");
        }
    };

    static final Gen LIST_CAPACITY = (c, s, off, size) -> {
        long v = switch (c.rnd.nextInt(10)) {
            case 0 -> 0;
            case 1, 2 -> 1 + c.rnd.nextInt(8);
            case 3 -> Uapi.TRACKER_LIST_MAX;
            case 4 -> Uapi.TRACKER_LIST_MAX + 1;
            case 5 -> Uapi.TRACKER_LIST_MAX - 1;
            case 6 -> c.rnd.nextInt(64);
            default -> c.u32() & 0xffffffffL;
        };
        s.set(JAVA_INT_UNALIGNED, off, (int) v);
        c.count = v;
        if (v > Uapi.TRACKER_LIST_MAX) {
            c.mustFail("capacity " + v + " above BLKSNAP_TRACKER_LIST_MAX");
        }
    };

    static final Gen LIST_DEVICES = (c, s, off, size) -> {
        long p = c.count == 0 && c.rnd.nextBoolean() ? 0 : c.pointer(c.count * Layouts.BDEV.byteSize());
        s.set(JAVA_LONG_UNALIGNED, off, p);
        if (c.count != 0 && p == 0) {
            c.mustFail("capacity " + c.count + " with a NULL array");
        }
    };

    private static long blockCount(Call c) {
        return c.target != null ? c.target.blockCount : 1 + c.rnd.nextInt(1 << 16);
    }

    static final Gen READ_OFFSET = (c, s, off, size) -> {
        long v = c.oneIn(3) ? 0 : c.near(blockCount(c));
        s.set(JAVA_INT_UNALIGNED, off, (int) v);
    };

    static final Gen READ_LENGTH = (c, s, off, size) -> {
        long v = switch (c.rnd.nextInt(8)) {
            case 0 -> 0;
            case 1 -> 1 + c.rnd.nextInt(64);
            case 2, 3 -> c.near(blockCount(c));
            case 4 -> 0xffffffffL;
            default -> c.u32() & 0xffffffffL;
        };
        s.set(JAVA_INT_UNALIGNED, off, (int) v);
        c.count = v & 0xffffffffL;
        if (c.count == 0) {
            c.mustFail("length 0");
        }
    };

    static final Gen READ_BUFFER = (c, s, off, size) -> s.set(JAVA_LONG_UNALIGNED, off, c.pointer(c.count));

    /** CBT_READ_HOLES: a block that must be a multiple of 8, mostly one. */
    static final Gen HOLES_OFFSET = (c, s, off, size) -> {
        long v = c.oneIn(3) ? 0 : c.near(blockCount(c));
        if (!c.oneIn(4)) {
            v &= ~7L;
        }
        s.set(JAVA_INT_UNALIGNED, off, (int) v);
        if ((v & 7) != 0) {
            c.mustFail("hole offset " + v + " not a multiple of 8");
        }
    };

    /** CBT_READ_HOLES: eight blocks to a byte. */
    static final Gen HOLES_BUFFER = (c, s, off, size) -> s.set(JAVA_LONG_UNALIGNED, off,
            c.pointer((c.count + 7) / 8));

    static final Gen MARK_COUNT = (c, s, off, size) -> {
        long v = switch (c.rnd.nextInt(50)) {
            case 0 -> 0;
            case 1 -> Uapi.MARK_DIRTY_MAX_RANGES;
            case 2 -> Uapi.MARK_DIRTY_MAX_RANGES + 1;
            case 3 -> 0xffffffffL;
            case 4 -> c.u32() & 0xffffffffL;
            case 5, 6 -> 256 + c.rnd.nextInt(4096);
            default -> 1 + c.rnd.nextInt(c.oneIn(2) ? 2 : 32);
        };
        s.set(JAVA_INT_UNALIGNED, off, (int) v);
        c.count = v;
        if (v == 0) {
            c.mustFail("count 0");
        } else if (v > Uapi.MARK_DIRTY_MAX_RANGES) {
            c.mustFail("count " + v + " above BLKSNAP_MARK_DIRTY_MAX_RANGES");
        }
    };

    /** No device here has this many sectors: a range ending beyond it is out of range for sure. */
    private static final long NO_DEVICE_IS_THAT_LARGE = 1L << 40;

    static final Gen MARK_RANGES = (c, s, off, size) -> {
        long need = Math.min(c.count, Uapi.MARK_DIRTY_MAX_RANGES + 1) * Layouts.SECTOR_RANGE.byteSize();
        long p = c.pointer(need);
        s.set(JAVA_LONG_UNALIGNED, off, p);
        long fits = Math.min(c.count, c.bufferValid / 16);
        long cap = c.target != null ? c.target.sectors : 1 + c.rnd.nextLong(1 << 22);
        MemorySegment r = fits == 0 ? null : c.bufRegion.at(p, fits * 16);
        for (long i = 0; i < fits; i++) {
            long o, n;
            if (!c.oneIn(20)) {
                o = cap > 0 ? c.rnd.nextLong(cap) : 0;
                n = 1 + (cap - o > 1 ? c.rnd.nextLong(Math.min(cap - o, 4096)) : 0);
            } else {
                switch (c.rnd.nextInt(8)) {
                    case 0 -> { o = cap - 1; n = 1; }
                    case 1 -> { o = 0; n = cap; }
                    case 2 -> { o = cap; n = 1; }
                    case 3 -> { o = 0; n = 0; }
                    case 4 -> { o = -1L; n = 1; }
                    case 5 -> { o = 1; n = -1L; }
                    case 6 -> { o = cap - 1; n = Long.MIN_VALUE; }
                    default -> { o = c.u64(); n = c.u64(); }
                }
            }
            r.set(JAVA_LONG_UNALIGNED, i * 16, o);
            r.set(JAVA_LONG_UNALIGNED, i * 16 + 8, n);
            long end = o + n;
            if (n == 0 || Long.compareUnsigned(end, o) < 0 || Long.compareUnsigned(end, NO_DEVICE_IS_THAT_LARGE) > 0) {
                c.mustFail(String.format("range %d is %#x+%#x", i, o, n));
            }
        }
    };

    // ---- snapshot members ----

    /**
     * A snapshot identifier: mostly one this run made (alive, or gone: then
     * the call must fail, identifiers are never reused), else small numbers
     * (the module counts from 1) or boundary values; 0 names no snapshot.
     */
    static final Gen SNAPSHOT_ID = (c, s, off, size) -> {
        long id = c.oneIn(4) ? 0 : c.snapshots.pick(c.rnd);
        if (id == 0) {
            id = c.oneIn(2) ? c.rnd.nextInt(64) : c.u64();
        }
        s.set(JAVA_LONG_UNALIGNED, off, id);
        c.snapshotId = id;
        if (id == 0) {
            c.mustFail("snapshot id 0");
        } else if (c.snapshots.isGone(id)) {
            c.mustFail("snapshot " + id + " was destroyed");
        }
    };

    /** TAKE's identifier: a success is followed by writes to a writable image, if there is one. */
    static final Gen TAKEN_ID = (c, s, off, size) -> {
        SNAPSHOT_ID.put(c, s, off, size);
        long seed = c.rnd.nextLong();
        c.after = (call, rc) -> {
            if (rc == 0) {
                call.snapshots.taken(seed);
            }
        };
    };

    /** DESTROY's identifier: a success takes the snapshot out of the live ones. */
    static final Gen DESTROYED_ID = (c, s, off, size) -> {
        SNAPSHOT_ID.put(c, s, off, size);
        c.after = (call, rc) -> {
            if (rc == 0) {
                call.snapshots.destroyed(call.snapshotId);
            }
        };
    };

    private static final long CREATE_FLAGS = Layouts.SNAPSHOT_CREATE.byteOffset(groupElement("flags"));
    private static final long CREATE_ID = Layouts.SNAPSHOT_CREATE.byteOffset(groupElement("id"));

    /**
     * A storage descriptor: often the run's directory or regular file on
     * its small tmpfs or its loop device, else one that names no open file. Never another
     * small number: the JVM's own descriptors include writable files (its
     * standard output), which a module that accepts the call would
     * overwrite as difference storage.
     */
    private static int storage(Call c, boolean real) {
        if (real) {
            c.storage = switch (c.rnd.nextInt(5)) {
                case 0, 1 -> "directory";
                case 2, 3 -> "file";
                default -> "device";
            };
            return switch (c.storage) {
                case "directory" -> c.snapshots.storageDir;
                case "file" -> c.snapshots.storageFile;
                default -> c.snapshots.storageDevice;
            };
        }
        int fd = switch (c.rnd.nextInt(5)) {
            case 0 -> -1;
            case 1 -> Integer.MIN_VALUE;
            case 2 -> Integer.MAX_VALUE;
            case 3 -> 1 << 20;
            default -> -2 - c.rnd.nextInt(1000);
        };
        c.mustFail("storage_fd " + fd + " is not an open file");
        return fd;
    }

    /** ADD_STORAGE's storage: more room for a snapshot, on the run's tmpfs or loop device, or nowhere. */
    static final Gen STORAGE_FD = (c, s, off, size) -> s.set(JAVA_INT_UNALIGNED, off,
            storage(c, c.oneIn(5)));

    /**
     * CREATE's storage: real one time in {@link Snapshots#realCreateOneIn}
     * (a snapshot's create, take and destroy cost hundreds of error calls on
     * the debug lane) while fewer than
     * {@link Snapshots#MAX_LIVE} snapshots of the run are alive (a slot is
     * held until the answer).
     */
    static final Gen CREATE_STORAGE = (c, s, off, size) -> {
        boolean real = c.oneIn(c.snapshots.realCreateOneIn) && c.snapshots.reserve();
        s.set(JAVA_INT_UNALIGNED, off, storage(c, real));
        if (real) {
            c.after = (call, rc) -> {
                if (rc == 0 && call.placed != null) {
                    call.snapshots.created(call.placed.get(JAVA_LONG_UNALIGNED, CREATE_ID), call.worker,
                            (call.placed.get(JAVA_INT_UNALIGNED, CREATE_FLAGS) & Uapi.SNAPSHOT_FLAG_KEEP) != 0,
                            call.storage);
                } else {
                    call.snapshots.release();
                }
            };
        }
    };

    /**
     * CREATE's flags; with real storage, writable half the time besides, so
     * that images are there to write while the fuzzer runs (the flags
     * alone make one in six writable).
     */
    static final Gen CREATE_FLAGS_GEN = (c, s, off, size) -> {
        flags(Uapi.SNAPSHOT_FLAG_KEEP | Uapi.SNAPSHOT_FLAG_WRITABLE).put(c, s, off, size);
        if (c.storage != null && c.rnd.nextBoolean()) {
            s.set(JAVA_INT_UNALIGNED, off, s.get(JAVA_INT_UNALIGNED, off) | Uapi.SNAPSHOT_FLAG_WRITABLE);
        }
    };

    /**
     * The storage limit: for real storage mostly a few pages to 16 MiB (the
     * storage tmpfs holds a few of those; a larger one fills it, which
     * the module must survive), else boundary values.
     */
    static final Gen STORAGE_LIMIT = (c, s, off, size) -> {
        long v = switch (c.rnd.nextInt(12)) {
            case 0 -> 0;
            case 1 -> c.u64();
            case 2 -> c.rnd.nextInt(4096);
            case 3 -> 4096L * (1 + c.rnd.nextInt(4096)) + c.rnd.nextInt(4096);
            default -> 4096L * (1 + c.rnd.nextInt(256));
        };
        s.set(JAVA_LONG_UNALIGNED, off, v);
        if (v != 0 && Long.compareUnsigned(v, 4096) < 0) {
            c.mustFail("limit " + v + " below 4096");
        } else if (v == 0 && "directory".equals(c.storage)) {
            c.mustFail("limit 0 for a directory");
        }
    };

    /** A flags member whose defined bits are {@code defined}: mostly zero, sometimes defined bits, rarely others. */
    static Gen flags(int defined) {
        return (c, s, off, size) -> {
            int v = c.oneIn(3) ? c.rnd.nextInt() & defined : 0;
            if (c.oneIn(10)) {
                v |= c.u32() & ~defined;
            }
            s.set(JAVA_INT_UNALIGNED, off, v);
            if ((v & ~defined) != 0) {
                c.mustFail("undefined flags " + Integer.toHexString(v & ~defined));
            }
        };
    }

    static Gen capacity(long max) {
        return (c, s, off, size) -> {
            long v = switch (c.rnd.nextInt(8)) {
                case 0 -> 0;
                case 1, 2 -> 1 + c.rnd.nextInt(8);
                case 3 -> max;
                case 4 -> max + 1;
                default -> c.u32() & 0xffffffffL;
            };
            s.set(JAVA_INT_UNALIGNED, off, (int) v);
            c.count = v;
            if (v > max) {
                c.mustFail("capacity " + v + " above " + max);
            }
        };
    }

    static Gen array(long entrySize) {
        return (c, s, off, size) -> {
            long p = c.count == 0 && c.rnd.nextBoolean() ? 0 : c.pointer(c.count * entrySize);
            s.set(JAVA_LONG_UNALIGNED, off, p);
            if (c.count != 0 && p == 0) {
                c.mustFail("capacity " + c.count + " with a NULL array");
            }
        };
    }

    /** Longest WAIT_EVENT timeout the fuzzer sends that the module accepts, in milliseconds. */
    static final int WAIT_EVENT_FUZZ_MAX_MS = 20;

    /**
     * WAIT_EVENT's timeout: 0 or a few milliseconds, never more than
     * {@link #WAIT_EVENT_FUZZ_MAX_MS}. A valid long timeout on an id that
     * names a live snapshot (one another class left behind) would hold a
     * thread for up to an hour; the bad values (above
     * BLKSNAP_EVENT_TIMEOUT_MAX_MS, up to 2^32-1) are refused before any wait.
     */
    static final Gen EVENT_TIMEOUT = (c, s, off, size) -> {
        long v = switch (c.rnd.nextInt(10)) {
            case 0, 1, 2 -> 0;
            case 3 -> Uapi.EVENT_TIMEOUT_MAX_MS + 1L;
            case 4 -> 0xffffffffL;
            case 5 -> Uapi.EVENT_TIMEOUT_MAX_MS + 1L + (c.u32() & 0xffffffffL) % (0xffffffffL - Uapi.EVENT_TIMEOUT_MAX_MS);
            default -> 1 + c.rnd.nextInt(WAIT_EVENT_FUZZ_MAX_MS);
        };
        s.set(JAVA_INT_UNALIGNED, off, (int) v);
        if (v > Uapi.EVENT_TIMEOUT_MAX_MS) {
            c.mustFail("timeout_ms " + v + " above BLKSNAP_EVENT_TIMEOUT_MAX_MS");
            c.exact = EINVAL;
        }
    };

    // ---- checks of successful answers ----

    static final Check NONE = (c, a) -> null;

    private static String trackedOnly(Call c) {
        return c.mayExist ? null : "succeeded for " + c.major + ":" + c.minor + ", which names no block device";
    }

    static final Check VERSION_CHECK = (c, a) -> {
        short major = a.get(JAVA_SHORT_UNALIGNED, 0);
        long features = a.get(JAVA_LONG_UNALIGNED, 8);
        return major == Uapi.VERSION_MAJOR && (features & Uapi.FEATURE_CBT) != 0 ? null
                : "version " + major + ", features " + Long.toHexString(features);
    };

    static final Check INFO_CHECK = (c, a) -> {
        if (a.get(JAVA_INT_UNALIGNED, 0) != c.major || a.get(JAVA_INT_UNALIGNED, 4) != c.minor) {
            return "dev changed in the answer";
        }
        long cap = a.get(JAVA_LONG_UNALIGNED, 8);
        long bs = a.get(JAVA_INT_UNALIGNED, 16) & 0xffffffffL;
        long bc = a.get(JAVA_INT_UNALIGNED, 20) & 0xffffffffL;
        int changes = a.get(JAVA_BYTE, 40) & 0xff;
        int flags = a.get(JAVA_BYTE, 41) & 0xff;
        if (bs < 512 || Long.bitCount(bs) != 1) {
            return "block_size " + bs;
        }
        if (changes < 1) {
            return "changes_number 0";
        }
        if ((flags & ~1) != 0) {
            return "unknown flags " + flags;
        }
        int reason = a.get(JAVA_BYTE, 42) & 0xff;
        if (reason > Uapi.CBT_GENERATION_HIBERNATION) {
            return "unknown generation_reason " + reason;
        }
        for (int i = 43; i < 48; i++) {
            if (a.get(JAVA_BYTE, i) != 0) {
                return "reserved byte " + i + " non-zero in the answer";
            }
        }
        if (bc * bs < cap * 512 || (bc > 0 && (bc - 1) * bs >= cap * 512)) {
            return "block_count " + bc + " x block_size " + bs + " does not cover capacity " + cap + " sectors";
        }
        if (c.target != null) {
            c.target.blockCount = Math.max(1, bc);
        }
        return trackedOnly(c);
    };

    static final Check LIST_CHECK = (c, a) -> {
        long count = a.get(JAVA_INT_UNALIGNED, 12) & 0xffffffffL;
        long written = Math.min(count, c.count);
        if (count > 4096) {
            return "count " + count;
        }
        if (written * 8 > c.bufferValid) {
            return written + " entries written to a " + c.bufferKind + " buffer with " + c.bufferValid
                    + " accessible bytes";
        }
        if (written > 0) {
            MemorySegment d = c.bufRegion.at(c.buffer, written * 8);
            for (long i = 0; i < written; i++) {
                int ma = d.get(JAVA_INT_UNALIGNED, i * 8);
                int mi = d.get(JAVA_INT_UNALIGNED, i * 8 + 4);
                if (!c.devices.mayExist(ma, mi)) {
                    return "entry " + i + " is " + ma + ":" + mi + ", which names no block device";
                }
            }
        }
        return null;
    };

    static final Check READ_CHECK = (c, a) -> {
        long got = a.get(JAVA_INT_UNALIGNED, 12) & 0xffffffffL;
        if (got == 0 || got > c.count) {
            return "length " + got + " for " + c.count + " asked";
        }
        if (got > c.bufferValid) {
            return got + " bytes copied to a " + c.bufferKind + " buffer with " + c.bufferValid + " accessible bytes";
        }
        return trackedOnly(c);
    };

    static final Check HOLES_CHECK = (c, a) -> {
        long got = a.get(JAVA_INT_UNALIGNED, 12) & 0xffffffffL;
        if (got == 0 || got > c.count) {
            return "length " + got + " for " + c.count + " asked";
        }
        if ((got + 7) / 8 > c.bufferValid) {
            return got + " hole bits copied to a " + c.bufferKind + " buffer with " + c.bufferValid
                    + " accessible bytes";
        }
        return trackedOnly(c);
    };

    static final Check MARK_CHECK = (c, a) -> {
        if (c.count * 16 > c.bufferValid) {
            return c.count + " ranges read from a " + c.bufferKind + " buffer with " + c.bufferValid
                    + " accessible bytes";
        }
        return trackedOnly(c);
    };

    static final Check CHECKPOINT_CHECK = (c, a) -> {
        int closed = a.get(JAVA_BYTE, 24) & 0xff;
        int changes = a.get(JAVA_BYTE, 25) & 0xff;
        if (changes < 1 || (changes != closed + 1 && changes != 1)) {
            return "closed_number " + closed + ", changes_number " + changes;
        }
        return trackedOnly(c);
    };

    static final Check ATTACH_CHECK = (c, a) -> trackedOnly(c);

    static final Check SNAPSHOT_CREATE_CHECK = (c, a) -> a.get(JAVA_LONG_UNALIGNED, 16) != 0 ? null
            : "snapshot id 0 returned";

    static final Check SNAPSHOT_LIST_CHECK = (c, a) -> {
        long count = a.get(JAVA_INT_UNALIGNED, 12) & 0xffffffffL;
        long written = Math.min(count, c.count);
        if (written * 8 > c.bufferValid) {
            return written + " ids written to a " + c.bufferKind + " buffer with " + c.bufferValid
                    + " accessible bytes";
        }
        return null;
    };

    static final Check SNAPSHOT_INFO_CHECK = (c, a) -> {
        long count = a.get(JAVA_INT_UNALIGNED, 20) & 0xffffffffL;
        int state = a.get(JAVA_INT_UNALIGNED, 24);
        if (count > Uapi.SNAPSHOT_MAX_DEVICES) {
            return "count " + count;
        }
        if (state < Uapi.SNAPSHOT_STATE_CREATED || state > Uapi.SNAPSHOT_STATE_BROKEN) {
            return "state " + state;
        }
        long written = Math.min(count, c.count);
        if (written * Layouts.SNAPSHOT_DEVICE.byteSize() > c.bufferValid) {
            return written + " devices written to a " + c.bufferKind + " buffer with " + c.bufferValid
                    + " accessible bytes";
        }
        return null;
    };

    static final Check WAIT_EVENT_CHECK = (c, a) -> {
        int code = a.get(JAVA_INT_UNALIGNED, 16);
        int error = a.get(JAVA_INT_UNALIGNED, 20);
        int reserved = a.get(JAVA_INT_UNALIGNED, 60);
        if (code < Uapi.EVENT_LOW_FREE_SPACE || code > Uapi.EVENT_CORRUPTED) {
            return "code " + code;
        }
        if (code == Uapi.EVENT_LOW_FREE_SPACE ? error != 0 : code == Uapi.EVENT_OVERFLOW ? error != ENOSPC
                : error <= 0 || error == ENOSPC) {
            return "error " + error + " with code " + code;
        }
        if (Long.compareUnsigned(a.get(JAVA_LONG_UNALIGNED, 40), a.get(JAVA_LONG_UNALIGNED, 48)) > 0) {
            return "used above the limit";
        }
        return reserved == 0 ? null : "reserved " + reserved + " in the answer";
    };

    // ---- unknown requests ----

    /** Every request number of the header. */
    private static final Set<Long> KNOWN = UapiHeader.IOCTLS.values().stream().map(UapiHeader.Ioctl::request)
            .collect(java.util.stream.Collectors.toUnmodifiableSet());

    /**
     * Request numbers the module does not know: new numbers of its magic,
     * its numbers with a wrong size or direction, other magics near its own.
     * Magics the VFS handles itself (0, 'T', 'X', 'f', 0x94, 0x15) are not used.
     */
    static long unknownRequest(SplittableRandom r) {
        while (true) {
            int dir = r.nextInt(4);
            int type = switch (r.nextInt(6)) {
                case 0 -> 0xBF;
                case 1 -> 0xBD;
                default -> Uapi.IOCTL_MAGIC;
            };
            int nr = r.nextBoolean() ? r.nextInt(8) : r.nextInt(256);
            long size = switch (r.nextInt(4)) {
                case 0 -> r.nextInt(1 << 14);
                case 1 -> 0;
                default -> 8L * r.nextInt(8);
            };
            long req = Ioc.ioc(dir, type, nr, size);
            if (!KNOWN.contains(req)) {
                return req;
            }
        }
    }

    private static final Set<Integer> COMMON = Set.of(EFAULT);

    private static Set<Integer> errnos(Integer... more) {
        Set<Integer> s = new java.util.HashSet<>(COMMON);
        s.addAll(List.of(more));
        return Set.copyOf(s);
    }

    /** The table. Adding an ioctl to the contract = adding its entry here. */
    static final List<IoctlSpec> ALL = List.of(
            new IoctlSpec("VERSION", header("VERSION"), Layouts.VERSION, errnos(), 3,
                    List.of(f(Layouts.VERSION, null, GARBAGE)), VERSION_CHECK),
            new IoctlSpec("TRACKER_ATTACH", header("TRACKER_ATTACH"), Layouts.TRACKER_ATTACH,
                    errnos(EINVAL, ENODEV, EALREADY, ENOMEM), 14,
                    List.of(f(Layouts.TRACKER_ATTACH, "dev", DEVICE), f(Layouts.TRACKER_ATTACH, "flags", RESERVED),
                            f(Layouts.TRACKER_ATTACH, "reserved", RESERVED)),
                    ATTACH_CHECK),
            new IoctlSpec("TRACKER_DETACH", header("TRACKER_DETACH"), Layouts.BDEV, errnos(ENOENT, EBUSY), 8,
                    List.of(f(Layouts.BDEV, null, TRACKED_DEVICE)), (c, a) -> trackedOnly(c)),
            new IoctlSpec("TRACKER_LIST", header("TRACKER_LIST"), Layouts.TRACKER_LIST,
                    errnos(E2BIG, ENOMEM), 10,
                    List.of(f(Layouts.TRACKER_LIST, "capacity", LIST_CAPACITY),
                            f(Layouts.TRACKER_LIST, "devices", LIST_DEVICES),
                            f(Layouts.TRACKER_LIST, "count", GARBAGE)),
                    LIST_CHECK),
            new IoctlSpec("CBT_INFO", header("CBT_INFO"), Layouts.CBT_INFO, errnos(EINVAL, ENOENT), 14,
                    List.of(f(Layouts.CBT_INFO, "dev", TRACKED_DEVICE),
                            f(Layouts.CBT_INFO, "device_capacity", GARBAGE),
                            f(Layouts.CBT_INFO, "block_size", GARBAGE), f(Layouts.CBT_INFO, "block_count", GARBAGE),
                            f(Layouts.CBT_INFO, "generation_id", GARBAGE),
                            f(Layouts.CBT_INFO, "changes_number", GARBAGE), f(Layouts.CBT_INFO, "flags", GARBAGE),
                            f(Layouts.CBT_INFO, "generation_reason", RESERVED),
                            f(Layouts.CBT_INFO, "reserved", RESERVED)),
                    INFO_CHECK),
            new IoctlSpec("CBT_READ", header("CBT_READ"), Layouts.CBT_READ,
                    errnos(EINVAL, ENOENT, ERANGE, ENOMEM), 16,
                    List.of(f(Layouts.CBT_READ, "dev", TRACKED_DEVICE), f(Layouts.CBT_READ, "offset", READ_OFFSET),
                            f(Layouts.CBT_READ, "length", READ_LENGTH), f(Layouts.CBT_READ, "buffer", READ_BUFFER),
                            f(Layouts.CBT_READ, "generation_id", GARBAGE)),
                    READ_CHECK),
            new IoctlSpec("CBT_READ_HOLES", header("CBT_READ_HOLES"), Layouts.CBT_READ,
                    errnos(EINVAL, ENOENT, ERANGE, ENOMEM), 8,
                    List.of(f(Layouts.CBT_READ, "dev", TRACKED_DEVICE), f(Layouts.CBT_READ, "offset", HOLES_OFFSET),
                            f(Layouts.CBT_READ, "length", READ_LENGTH), f(Layouts.CBT_READ, "buffer", HOLES_BUFFER),
                            f(Layouts.CBT_READ, "generation_id", GARBAGE)),
                    HOLES_CHECK),
            new IoctlSpec("CBT_MARK_DIRTY", header("CBT_MARK_DIRTY"), Layouts.CBT_MARK_DIRTY,
                    errnos(EINVAL, ENOENT, E2BIG, ERANGE, ENOMEM), 16,
                    List.of(f(Layouts.CBT_MARK_DIRTY, "dev", TRACKED_DEVICE),
                            f(Layouts.CBT_MARK_DIRTY, "count", MARK_COUNT),
                            f(Layouts.CBT_MARK_DIRTY, "reserved", RESERVED),
                            f(Layouts.CBT_MARK_DIRTY, "ranges", MARK_RANGES)),
                    MARK_CHECK),
            new IoctlSpec("CBT_CHECKPOINT", header("CBT_CHECKPOINT"), Layouts.CBT_CHECKPOINT,
                    errnos(EINVAL, ENOENT), 10,
                    List.of(f(Layouts.CBT_CHECKPOINT, "dev", TRACKED_DEVICE),
                            f(Layouts.CBT_CHECKPOINT, "generation_id", GARBAGE),
                            f(Layouts.CBT_CHECKPOINT, "closed_number", GARBAGE),
                            f(Layouts.CBT_CHECKPOINT, "changes_number", GARBAGE),
                            f(Layouts.CBT_CHECKPOINT, "reserved", RESERVED)),
                    CHECKPOINT_CHECK),
            new IoctlSpec("SNAPSHOT_CREATE", header("SNAPSHOT_CREATE"), Layouts.SNAPSHOT_CREATE,
                    errnos(EBADF, EOPNOTSUPP, EINVAL, ENOSPC, EFBIG, EBUSY, EDEADLK, EROFS, EINTR, EIO, ENOMEM), 6,
                    List.of(f(Layouts.SNAPSHOT_CREATE, "storage_fd", CREATE_STORAGE),
                            f(Layouts.SNAPSHOT_CREATE, "flags", CREATE_FLAGS_GEN),
                            f(Layouts.SNAPSHOT_CREATE, "limit", STORAGE_LIMIT),
                            f(Layouts.SNAPSHOT_CREATE, "id", GARBAGE),
                            f(Layouts.SNAPSHOT_CREATE, "reserved", RESERVED)),
                    SNAPSHOT_CREATE_CHECK),
            new IoctlSpec("SNAPSHOT_DESTROY", header("SNAPSHOT_DESTROY"), Layouts.SNAPSHOT_DESTROY,
                    errnos(EINVAL, ENOENT), 4,
                    List.of(f(Layouts.SNAPSHOT_DESTROY, "id", DESTROYED_ID),
                            f(Layouts.SNAPSHOT_DESTROY, "flags", RESERVED),
                            f(Layouts.SNAPSHOT_DESTROY, "reserved", RESERVED)),
                    NONE),
            new IoctlSpec("SNAPSHOT_ADD", header("SNAPSHOT_ADD"), Layouts.SNAPSHOT_ADD,
                    errnos(EINVAL, ENOENT, ENODEV, EALREADY, EBUSY, E2BIG, EOPNOTSUPP, EDEADLK, ENOMEM), 6,
                    List.of(f(Layouts.SNAPSHOT_ADD, "id", SNAPSHOT_ID), f(Layouts.SNAPSHOT_ADD, "dev", TRACKED_DEVICE),
                            f(Layouts.SNAPSHOT_ADD, "flags", RESERVED),
                            f(Layouts.SNAPSHOT_ADD, "reserved", RESERVED)),
                    NONE),
            new IoctlSpec("SNAPSHOT_TAKE", header("SNAPSHOT_TAKE"), Layouts.SNAPSHOT_TAKE,
                    errnos(EINVAL, ENOENT, EALREADY, EINTR, ENOSPC, ENOMEM), 4,
                    List.of(f(Layouts.SNAPSHOT_TAKE, "id", TAKEN_ID),
                            f(Layouts.SNAPSHOT_TAKE, "flags", flags(Uapi.TAKE_FLAG_NO_FREEZE)),
                            f(Layouts.SNAPSHOT_TAKE, "reserved", RESERVED),
                            f(Layouts.SNAPSHOT_TAKE, "hold_ns", GARBAGE),
                            f(Layouts.SNAPSHOT_TAKE, "freeze_ns", GARBAGE),
                            f(Layouts.SNAPSHOT_TAKE, "frozen", GARBAGE),
                            f(Layouts.SNAPSHOT_TAKE, "freeze_failed", GARBAGE)),
                    NONE),
            new IoctlSpec("SNAPSHOT_LIST", header("SNAPSHOT_LIST"), Layouts.SNAPSHOT_LIST,
                    errnos(E2BIG, ENOMEM), 6,
                    List.of(f(Layouts.SNAPSHOT_LIST, "capacity", capacity(Uapi.SNAPSHOT_LIST_MAX)),
                            f(Layouts.SNAPSHOT_LIST, "ids", array(8)),
                            f(Layouts.SNAPSHOT_LIST, "count", GARBAGE)),
                    SNAPSHOT_LIST_CHECK),
            new IoctlSpec("SNAPSHOT_INFO", header("SNAPSHOT_INFO"), Layouts.SNAPSHOT_INFO,
                    errnos(EINVAL, ENOENT, E2BIG, ENOMEM), 8,
                    List.of(f(Layouts.SNAPSHOT_INFO, "id", SNAPSHOT_ID),
                            f(Layouts.SNAPSHOT_INFO, "capacity", capacity(Uapi.SNAPSHOT_MAX_DEVICES)),
                            f(Layouts.SNAPSHOT_INFO, "devices", array(Layouts.SNAPSHOT_DEVICE.byteSize())),
                            f(Layouts.SNAPSHOT_INFO, "count", GARBAGE), f(Layouts.SNAPSHOT_INFO, "state", GARBAGE),
                            f(Layouts.SNAPSHOT_INFO, "error", GARBAGE), f(Layouts.SNAPSHOT_INFO, "flags", GARBAGE),
                            f(Layouts.SNAPSHOT_INFO, "storage_kind", GARBAGE),
                            f(Layouts.SNAPSHOT_INFO, "storage_dev", GARBAGE),
                            f(Layouts.SNAPSHOT_INFO, "storage_used", GARBAGE),
                            f(Layouts.SNAPSHOT_INFO, "storage_size", GARBAGE),
                            f(Layouts.SNAPSHOT_INFO, "storage_limit", GARBAGE),
                            f(Layouts.SNAPSHOT_INFO, "reserved", RESERVED)),
                    SNAPSHOT_INFO_CHECK),
            new IoctlSpec("SNAPSHOT_WAIT_EVENT", header("SNAPSHOT_WAIT_EVENT"), Layouts.SNAPSHOT_EVENT,
                    errnos(EINVAL, ENOENT, ETIMEDOUT, EINTR), 6,
                    List.of(f(Layouts.SNAPSHOT_EVENT, "id", SNAPSHOT_ID),
                            f(Layouts.SNAPSHOT_EVENT, "timeout_ms", EVENT_TIMEOUT),
                            f(Layouts.SNAPSHOT_EVENT, "flags", RESERVED),
                            f(Layouts.SNAPSHOT_EVENT, "code", GARBAGE), f(Layouts.SNAPSHOT_EVENT, "error", GARBAGE),
                            f(Layouts.SNAPSHOT_EVENT, "dev", GARBAGE), f(Layouts.SNAPSHOT_EVENT, "time_ns", GARBAGE),
                            f(Layouts.SNAPSHOT_EVENT, "used", GARBAGE), f(Layouts.SNAPSHOT_EVENT, "limit", GARBAGE),
                            f(Layouts.SNAPSHOT_EVENT, "lost", GARBAGE),
                            f(Layouts.SNAPSHOT_EVENT, "reserved", RESERVED)),
                    WAIT_EVENT_CHECK),
            new IoctlSpec("SNAPSHOT_ADD_STORAGE", header("SNAPSHOT_ADD_STORAGE"), Layouts.SNAPSHOT_ADD_STORAGE,
                    errnos(ENOENT, EALREADY, E2BIG, EINVAL, EBADF, EOPNOTSUPP, ENOSPC, EFBIG, EBUSY, EDEADLK, EROFS,
                            EINTR, EIO, ENOMEM), 4,
                    List.of(f(Layouts.SNAPSHOT_ADD_STORAGE, "id", SNAPSHOT_ID),
                            f(Layouts.SNAPSHOT_ADD_STORAGE, "storage_fd", STORAGE_FD),
                            f(Layouts.SNAPSHOT_ADD_STORAGE, "flags", RESERVED),
                            f(Layouts.SNAPSHOT_ADD_STORAGE, "limit", STORAGE_LIMIT),
                            f(Layouts.SNAPSHOT_ADD_STORAGE, "reserved", RESERVED)),
                    NONE),
            new IoctlSpec("(unknown request)", IoctlTable::unknownRequest, null, Set.of(ENOTTY), 5,
                    List.of(), NONE));

    /**
     * The feature bit (BLKSNAP_FEATURE_*) a module must report before it
     * implements an ioctl; a module without it answers ENOTTY. Ioctls not
     * named here are in every module.
     */
    private static final Map<String, Long> FEATURE = Map.of("SNAPSHOT_CREATE", Uapi.FEATURE_SNAPSHOT,
            "SNAPSHOT_DESTROY", Uapi.FEATURE_SNAPSHOT, "SNAPSHOT_ADD", Uapi.FEATURE_SNAPSHOT,
            "SNAPSHOT_TAKE", Uapi.FEATURE_SNAPSHOT, "SNAPSHOT_LIST", Uapi.FEATURE_SNAPSHOT,
            "SNAPSHOT_INFO", Uapi.FEATURE_SNAPSHOT, "CBT_READ_HOLES", Uapi.FEATURE_CBT_HOLES,
            "SNAPSHOT_WAIT_EVENT", Uapi.FEATURE_EVENTS, "SNAPSHOT_ADD_STORAGE", Uapi.FEATURE_ADD_STORAGE);

    /** Whether a module reporting {@code features} implements the entry's ioctl. */
    static boolean offered(IoctlSpec spec, long features) {
        long need = FEATURE.getOrDefault(spec.name(), 0L);
        return (features & need) == need;
    }

    /** The ioctl number (_IOC_NR) of an entry's request; -1 for the unknown-request entry. */
    static int nr(IoctlSpec spec) {
        return spec.unknown() ? -1 : (int) (spec.request().applyAsLong(new SplittableRandom(0)) & 0xff);
    }

    /** Picks an entry by weight. */
    static int pick(SplittableRandom r) {
        int total = 0;
        for (IoctlSpec s : ALL) {
            total += s.weight();
        }
        int x = r.nextInt(total);
        for (int i = 0; i < ALL.size(); i++) {
            x -= ALL.get(i).weight();
            if (x < 0) {
                return i;
            }
        }
        throw new AssertionError();
    }

    static List<String> names() {
        List<String> n = new ArrayList<>();
        for (IoctlSpec s : ALL) {
            n.add(s.name());
        }
        return n;
    }
}
