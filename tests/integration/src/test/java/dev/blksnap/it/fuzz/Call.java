// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it.fuzz;

import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

/**
 * One fuzzing thread's state for the call being built: its random source,
 * its memory, and what the generators learned about the call (the target
 * device, the sizes they chose, why the call cannot succeed). Reused for
 * every call of the thread; {@link #reset} starts a new one.
 */
final class Call {
    /** Bad user addresses: NULL, low page, kernel direct map, non-canonical, top of the address space. */
    static final long[] BAD_ADDRESSES = {0L, 0x10L, 0xffff888000000000L, 0x0000800000000000L, -16L};

    final SplittableRandom rnd;
    final Devices devices;
    final Snapshots snapshots;
    /** The fuzzing thread this call belongs to (the owner of the snapshots it creates without KEEP). */
    final int worker;
    /** The argument structure: built at the base, placed as {@link #argAddress} says. */
    final Native.Region argRegion;
    /** User buffers the structures point to. */
    final Native.Region bufRegion;

    long request;
    /** The structure as generated, at {@code argRegion.base()}. */
    MemorySegment scratch;
    /** The pointer passed to ioctl(2). */
    long argAddress;
    /** Where the kernel's answer can be read when the pointer was good, else null. */
    MemorySegment placed;
    String argKind;
    /** Why the call must fail (any allowed errno), or null. */
    String mustFail;
    /** The one errno the call must give, or 0. */
    int exact;

    int major;
    int minor;
    /** The aimed-at device when the numbers name one of the targets, else null. */
    Devices.Target target;
    /** Whether the device numbers may name a block device at all. */
    boolean mayExist;
    /** The last count-like field: list capacity, read length, mark-dirty count. */
    long count;
    /** CREATE, ADD_STORAGE: the real storage sent ("directory", "file", "device"), or null. */
    String storage;
    /** The snapshot identifier sent. */
    long snapshotId;
    /** What the call changed in the fuzzer's picture of the module, run after every call; or null. */
    After after;
    /** The user buffer pointer and the bytes accessible there. */
    long buffer;
    long bufferValid;
    String bufferKind;

    Call(SplittableRandom rnd, Devices devices, Snapshots snapshots, int worker, Native.Region argRegion,
            Native.Region bufRegion) {
        this.rnd = rnd;
        this.devices = devices;
        this.snapshots = snapshots;
        this.worker = worker;
        this.argRegion = argRegion;
        this.bufRegion = bufRegion;
    }

    void reset(long size) {
        scratch = argRegion.at(argRegion.base(), size);
        scratch.fill((byte) 0);
        placed = null;
        argKind = null;
        mustFail = null;
        exact = 0;
        major = 0;
        minor = 0;
        target = null;
        mayExist = false;
        count = 0;
        buffer = 0;
        bufferValid = 0;
        bufferKind = "none";
        storage = null;
        snapshotId = 0;
        after = null;
    }

    /** Bookkeeping after a call, whatever it returned ({@code rc} is 0 or a negative errno). */
    interface After {
        void settle(Call c, int rc);
    }

    void mustFail(String why) {
        if (mustFail == null) {
            mustFail = why;
        }
    }

    boolean oneIn(int n) {
        return rnd.nextInt(n) == 0;
    }

    /** A 32-bit boundary value: 0, 1, -1, signed and unsigned limits, powers of two and their neighbours, random. */
    int u32() {
        switch (rnd.nextInt(12)) {
            case 0: return 0;
            case 1: return 1;
            case 2: return -1;
            case 3: return Integer.MAX_VALUE;
            case 4: return Integer.MIN_VALUE;
            case 5: return Integer.MIN_VALUE + 1;
            case 6: return -2;
            case 7: return 1 << rnd.nextInt(32);
            case 8: return (1 << rnd.nextInt(32)) + 1;
            case 9: return (1 << rnd.nextInt(32)) - 1;
            case 10: return rnd.nextInt(4096);
            default: return rnd.nextInt();
        }
    }

    long u64() {
        switch (rnd.nextInt(12)) {
            case 0: return 0;
            case 1: return 1;
            case 2: return -1L;
            case 3: return Long.MAX_VALUE;
            case 4: return Long.MIN_VALUE;
            case 5: return 0xffffffffL;
            case 6: return 0x100000000L;
            case 7: return 1L << rnd.nextInt(64);
            case 8: return (1L << rnd.nextInt(64)) + 1;
            case 9: return (1L << rnd.nextInt(64)) - 1;
            case 10: return rnd.nextLong(1 << 22);
            default: return rnd.nextLong();
        }
    }

    /** A value near {@code n}: n-2..n+2, n/2, 2n, or a boundary value. */
    long near(long n) {
        switch (rnd.nextInt(8)) {
            case 0: return n;
            case 1: return n - 1;
            case 2: return n + 1;
            case 3: return n - 2 + rnd.nextInt(5);
            case 4: return n / 2;
            case 5: return 2 * n;
            case 6: return n > 0 ? rnd.nextLong(n) : 0;
            default: return u32() & 0xffffffffL;
        }
    }

    /** Fills {@code size} bytes at {@code off} with zeros or random bytes. */
    void garbage(MemorySegment s, long off, long size) {
        if (rnd.nextBoolean()) {
            return; // already zero
        }
        for (long i = 0; i < size; i++) {
            s.set(JAVA_BYTE, off + i, (byte) rnd.nextInt());
        }
    }

    /**
     * Chooses a user buffer for {@code need} bytes: mostly one that ends
     * exactly at the no-access page or has room to spare, sometimes one that
     * the no-access page cuts short, or an address that is not user memory.
     */
    long pointer(long need) {
        long end = bufRegion.end();
        long size = bufRegion.size();
        long n = Math.max(0, Math.min(need, size));
        int pick = rnd.nextInt(100);
        if (pick < 50) {
            bufferKind = need > size ? "start" : "fit";
            buffer = need > size ? bufRegion.base() : end - n;
        } else if (pick < 70) {
            bufferKind = "start";
            buffer = bufRegion.base();
        } else if (pick < 80) {
            bufferKind = "truncated";
            buffer = n >= 2 ? end - n + 1 + rnd.nextLong(n - 1) : end;
        } else if (pick < 84) {
            bufferKind = "no-access page";
            buffer = end;
        } else {
            buffer = BAD_ADDRESSES[rnd.nextInt(BAD_ADDRESSES.length)];
            bufferKind = String.format("%#x", buffer);
        }
        bufferValid = buffer >= bufRegion.base() && buffer < end ? end - buffer : 0;
        return buffer;
    }
}
