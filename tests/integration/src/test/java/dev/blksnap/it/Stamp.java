// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

/**
 * A self-describing 512-byte sector: its own sector number, the generation
 * (which write put it there), a payload derived from both, and a checksum.
 * Reading a sector back tells which write it holds, or that it is torn,
 * misplaced or foreign; an all-zero sector reads as generation 0.
 *
 * <p>Every word of a sector is checked against the one its (sector,
 * generation) predicts, so the payload need not be expensive: one hash of
 * the pair seeds it and each further word steps by an odd constant (all 61
 * payload words differ, so a shifted or repeated word shows). The checksum
 * folds the words in order and is hashed once. The tests run C1-compiled
 * under TCG, where the former hash per word (two per word and sector
 * written and read back) was a good part of SnapshotCorruptionTest's time.
 */
final class Stamp {
    static final int SECTOR = 512;
    /** A sector holding nothing a stamp or a zeroing explains. */
    static final long CORRUPT = -2;
    private static final int LONGS = SECTOR / 8;
    private static final long STEP = 0x9E3779B97F4A7C15L;

    private Stamp() {
    }

    private static long mix(long x) {
        x ^= x >>> 33;
        x *= 0xff51afd7ed558ccdL;
        x ^= x >>> 33;
        x *= 0xc4ceb9fe1a85ec53L;
        return x ^ (x >>> 33);
    }

    /** The payload's first word (before its step) for ({@code sector}, {@code gen}). */
    private static long seed(long sector, long gen) {
        return mix(sector * 0x9E3779B97F4A7C15L ^ gen * 0xD6E8FEB86659FD93L);
    }

    /** The stamp of ({@code sector}, {@code gen}) into {@code w[0..LONGS)}. */
    private static void stamp(long[] w, long sector, long gen) {
        w[0] = sector;
        w[1] = gen;
        long x = seed(sector, gen);
        long sum = sector ^ gen;
        for (int i = 2; i < LONGS - 1; i++) {
            x += STEP;
            w[i] = x;
            sum = Long.rotateLeft(sum, 7) ^ x;
        }
        w[LONGS - 1] = mix(sum);
    }

    /** Writes the stamp of ({@code sector}, {@code gen}) at byte {@code off} of {@code seg}. */
    static void put(MemorySegment seg, long off, long sector, long gen) {
        long[] w = new long[LONGS];
        stamp(w, sector, gen);
        MemorySegment.copy(w, 0, seg, JAVA_LONG_UNALIGNED, off, LONGS);
    }

    /** Stamps {@code count} sectors from {@code sector} into {@code seg} from byte 0. */
    static void fill(MemorySegment seg, long sector, long count, long gen) {
        long[] w = new long[LONGS];
        for (long i = 0; i < count; i++) {
            stamp(w, sector + i, gen);
            MemorySegment.copy(w, 0, seg, JAVA_LONG_UNALIGNED, i * SECTOR, LONGS);
        }
    }

    /**
     * The generation of the stamp at byte {@code off}: 0 for an all-zero
     * sector, {@link #CORRUPT} for anything but a whole stamp of
     * {@code sector}.
     */
    static long read(MemorySegment seg, long off, long sector) {
        // One bulk copy: element-wise segment access is slow under C1.
        long[] w = new long[LONGS];
        MemorySegment.copy(seg, JAVA_LONG_UNALIGNED, off, w, 0, LONGS);
        long s = w[0];
        long gen = w[1];
        if (s == 0 && gen == 0) {
            for (int i = 2; i < LONGS; i++) {
                if (w[i] != 0) {
                    return CORRUPT;
                }
            }
            return 0;
        }
        if (s != sector) {
            return CORRUPT;
        }
        long x = seed(sector, gen);
        long sum = sector ^ gen;
        for (int i = 2; i < LONGS - 1; i++) {
            x += STEP;
            if (w[i] != x) {
                return CORRUPT;
            }
            sum = Long.rotateLeft(sum, 7) ^ x;
        }
        return w[LONGS - 1] == mix(sum) ? gen : CORRUPT;
    }
}
