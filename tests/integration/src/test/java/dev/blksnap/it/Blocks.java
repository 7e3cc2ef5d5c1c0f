// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.ByteRange;
import dev.blksnap.CbtMap;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;

import static org.junit.jupiter.api.Assertions.fail;

/** The set of map blocks a test expects to be marked, and exact comparison with a map. */
final class Blocks {
    private final int blockSize;
    private final int blockCount;
    private final BitSet set = new BitSet();

    Blocks(int blockSize, int blockCount) {
        this.blockSize = blockSize;
        this.blockCount = blockCount;
    }

    /** Marks the blocks that cover device bytes [offset, offset + length). */
    Blocks cover(long offset, long length) {
        if (length <= 0) {
            throw new IllegalArgumentException("empty range at " + offset);
        }
        long first = offset / blockSize;
        long last = (offset + length - 1) / blockSize;
        if (last >= blockCount) {
            throw new IllegalArgumentException("range " + offset + "+" + length + " is past the map ("
                    + blockCount + " blocks of " + blockSize + ")");
        }
        set.set((int) first, (int) last + 1);
        return this;
    }

    Blocks addAll(Blocks other) {
        set.or(other.set);
        return this;
    }

    BitSet bits() {
        return (BitSet) set.clone();
    }

    boolean isEmpty() {
        return set.isEmpty();
    }

    int cardinality() {
        return set.cardinality();
    }

    /** Blocks whose change number in {@code map} is above {@code since}. */
    static BitSet changed(CbtMap map, int since) {
        BitSet b = new BitSet();
        int n = map.info().blockCount();
        for (int i = 0; i < n; i++) {
            if (map.changeNumber(i) > since) {
                b.set(i);
            }
        }
        return b;
    }

    /** Byte ranges the expected blocks make, merged, the last clamped to {@code capacityBytes}. */
    List<ByteRange> ranges(long capacityBytes) {
        List<ByteRange> out = new ArrayList<>();
        for (int i = set.nextSetBit(0); i >= 0; ) {
            int end = set.nextClearBit(i);
            long from = (long) i * blockSize;
            long to = Math.min((long) end * blockSize, capacityBytes);
            out.add(new ByteRange(from, to - from));
            i = set.nextSetBit(end);
        }
        return out;
    }

    /** Fails unless the blocks of {@code map} with a number above {@code since} are exactly the expected ones. */
    void assertExactly(CbtMap map, int since, String what) {
        BitSet actual = changed(map, since);
        if (actual.equals(set)) {
            return;
        }
        BitSet missing = bits();
        missing.andNot(actual);
        BitSet extra = (BitSet) actual.clone();
        extra.andNot(set);
        fail(what + ": changed blocks (number > " + since + ") differ from the blocks written (block size "
                + blockSize + "): " + set.cardinality() + " expected, " + actual.cardinality() + " marked; "
                + "missing " + describe(missing) + "; unexpected " + describe(extra));
    }

    private String describe(BitSet b) {
        if (b.isEmpty()) {
            return "none";
        }
        StringBuilder sb = new StringBuilder().append(b.cardinality()).append(" [");
        int shown = 0;
        for (int i = b.nextSetBit(0); i >= 0 && shown < 12; i = b.nextSetBit(i + 1), shown++) {
            sb.append(shown == 0 ? "" : ", ").append(i).append(" (bytes ").append((long) i * blockSize)
                    .append("..").append((long) (i + 1) * blockSize - 1).append(')');
        }
        return sb.append(b.cardinality() > shown ? ", ...]" : "]").toString();
    }
}
