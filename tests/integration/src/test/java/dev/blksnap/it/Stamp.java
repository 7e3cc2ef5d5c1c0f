// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

/**
 * A self-describing 512-byte sector: its own sector number, the generation
 * (which write put it there), a payload derived from both, and a checksum.
 * Reading a sector back tells which write it holds, or that it is torn,
 * misplaced or foreign; an all-zero sector reads as generation 0.
 */
final class Stamp {
    static final int SECTOR = 512;
    /** A sector holding nothing a stamp or a zeroing explains. */
    static final long CORRUPT = -2;
    private static final int LONGS = SECTOR / 8;

    private Stamp() {
    }

    private static long mix(long x) {
        x ^= x >>> 33;
        x *= 0xff51afd7ed558ccdL;
        x ^= x >>> 33;
        x *= 0xc4ceb9fe1a85ec53L;
        return x ^ (x >>> 33);
    }

    private static long word(long sector, long gen, int i) {
        return mix(sector * 0x9E3779B97F4A7C15L ^ gen * 0xD6E8FEB86659FD93L ^ i);
    }

    /** Writes the stamp of ({@code sector}, {@code gen}) at byte {@code off} of {@code seg}. */
    static void put(MemorySegment seg, long off, long sector, long gen) {
        long sum = sector ^ gen;
        seg.set(JAVA_LONG_UNALIGNED, off, sector);
        seg.set(JAVA_LONG_UNALIGNED, off + 8, gen);
        for (int i = 2; i < LONGS - 1; i++) {
            long w = word(sector, gen, i);
            seg.set(JAVA_LONG_UNALIGNED, off + 8L * i, w);
            sum = mix(sum + w);
        }
        seg.set(JAVA_LONG_UNALIGNED, off + 8L * (LONGS - 1), sum);
    }

    /** Stamps {@code count} sectors from {@code sector} into {@code seg} from byte 0. */
    static void fill(MemorySegment seg, long sector, long count, long gen) {
        for (long i = 0; i < count; i++) {
            put(seg, i * SECTOR, sector + i, gen);
        }
    }

    /**
     * The generation of the stamp at byte {@code off}: 0 for an all-zero
     * sector, {@link #CORRUPT} for anything but a whole stamp of
     * {@code sector}.
     */
    static long read(MemorySegment seg, long off, long sector) {
        long s = seg.get(JAVA_LONG_UNALIGNED, off);
        long gen = seg.get(JAVA_LONG_UNALIGNED, off + 8);
        if (s == 0 && gen == 0) {
            for (int i = 2; i < LONGS; i++) {
                if (seg.get(JAVA_LONG_UNALIGNED, off + 8L * i) != 0) {
                    return CORRUPT;
                }
            }
            return 0;
        }
        if (s != sector) {
            return CORRUPT;
        }
        long sum = sector ^ gen;
        for (int i = 2; i < LONGS - 1; i++) {
            long w = seg.get(JAVA_LONG_UNALIGNED, off + 8L * i);
            if (w != word(sector, gen, i)) {
                return CORRUPT;
            }
            sum = mix(sum + w);
        }
        return seg.get(JAVA_LONG_UNALIGNED, off + 8L * (LONGS - 1)) == sum ? gen : CORRUPT;
    }
}
