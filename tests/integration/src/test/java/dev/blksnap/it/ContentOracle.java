// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.CbtMap;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.zip.CRC32C;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * An oracle that does not trust the writer: it reads a whole device and
 * keeps a checksum of every 512-byte sector, so that after any workload the
 * sectors whose content changed are known without knowing what the
 * workload (a file system, device-mapper, md) wrote where. Every tracking
 * block that holds a changed sector must be marked; marks on unchanged
 * blocks are allowed (a rewrite of the same bytes, metadata written twice).
 *
 * <p>Sector granularity lets one read of a disk serve its partitions too,
 * whatever their start sector. A checksum collision could only hide a
 * change (a block not checked), never report a false one.
 */
final class ContentOracle {
    static final int SECTOR = 512;
    private static final int CHUNK = 1 << 20;

    /** The CRC32C of every sector of one device, at one moment. */
    record Sums(Path dev, int[] sectors) {
        long sectorCount() {
            return sectors.length;
        }

        /** Sectors whose content differs in {@code later}. */
        BitSet changedIn(Sums later) {
            if (later.sectors.length != sectors.length) {
                throw new IllegalStateException(dev + " changed size between the reads: " + sectors.length
                        + " -> " + later.sectors.length + " sectors");
            }
            BitSet changed = new BitSet(sectors.length);
            for (int i = 0; i < sectors.length; i++) {
                if (sectors[i] != later.sectors[i]) {
                    changed.set(i);
                }
            }
            return changed;
        }
    }

    private ContentOracle() {
    }

    /** Reads all of {@code dev} with O_DIRECT (no page cache can hide what is on the device). */
    static Sums read(Path dev) throws IOException {
        long sectors = Guest.sizeSectors(dev);
        if (sectors > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(dev + " is too large for the oracle: " + sectors + " sectors");
        }
        long t0 = System.nanoTime();
        int[] sums = new int[(int) sectors];
        CRC32C crc = new CRC32C();
        int fd = Posix.open(dev, Posix.O_RDONLY | Posix.O_DIRECT);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = Posix.aligned(arena, CHUNK);
            for (long s = 0; s < sectors; ) {
                int n = (int) Math.min(CHUNK / SECTOR, sectors - s);
                MemorySegment part = buf.asSlice(0, (long) n * SECTOR);
                Posix.pread(fd, part, s * SECTOR);
                ByteBuffer bb = part.asByteBuffer();
                for (int i = 0; i < n; i++) {
                    bb.limit((i + 1) * SECTOR).position(i * SECTOR);
                    crc.reset();
                    crc.update(bb);
                    sums[(int) (s + i)] = (int) crc.getValue();
                }
                s += n;
            }
        } finally {
            Posix.close(fd);
        }
        System.out.printf("[oracle] read %s: %d sectors in %d ms%n", dev, sectors,
                (System.nanoTime() - t0) / 1_000_000);
        return new Sums(dev, sums);
    }

    /**
     * Fails unless every block of {@code map} that holds a changed sector
     * carries a change number above {@code since}. {@code changed} are the
     * changed sectors of the tracked device, sector 0 being its first.
     * Before it passes, it checks that it can fail: the same map with one
     * changed block's mark taken away must be caught.
     *
     * @return how many sectors and blocks changed
     */
    static Changes assertChangesMarked(BitSet changed, CbtMap map, int since, String what) {
        int bs = map.info().blockSize();
        int spb = bs / SECTOR;
        long capacity = map.info().capacitySectors();
        assertTrue(changed.length() <= capacity, what + ": a changed sector " + (changed.length() - 1)
                + " lies past the device's " + capacity + " sectors");
        BitSet changedBlocks = new BitSet();
        for (int s = changed.nextSetBit(0); s >= 0; s = changed.nextSetBit(s + 1)) {
            changedBlocks.set(s / spb);
        }
        BitSet missing = unmarked(changedBlocks, map, since);
        int marked = Blocks.changed(map, since).cardinality();
        System.out.printf("[oracle] %s: %d sectors changed in %d blocks of %d KiB; %d blocks marked%n", what,
                changed.cardinality(), changedBlocks.cardinality(), bs >> 10, marked);
        if (!missing.isEmpty()) {
            fail(what + ": " + missing.cardinality() + " of " + changedBlocks.cardinality()
                    + " blocks whose content changed are not marked (change number <= " + since + ", block size "
                    + bs + "): " + describe(missing, changed, spb));
        }
        int probe = changedBlocks.nextSetBit(0);
        if (probe >= 0) {
            byte[] doctored = map.changes();
            doctored[probe] = (byte) since;
            BitSet caught = unmarked(changedBlocks, new CbtMap(map.info(), doctored), since);
            assertTrue(caught.cardinality() == 1 && caught.get(probe),
                    what + ": the oracle does not see a mark taken away from block " + probe + ": " + caught);
        }
        return new Changes(changed.cardinality(), changedBlocks.cardinality());
    }

    /** What changed: sectors, and the blocks that hold them. */
    record Changes(int sectors, int blocks) {
    }

    /** The blocks of {@code blocks} whose number in {@code map} is not above {@code since}. */
    private static BitSet unmarked(BitSet blocks, CbtMap map, int since) {
        BitSet missing = new BitSet();
        for (int b = blocks.nextSetBit(0); b >= 0; b = blocks.nextSetBit(b + 1)) {
            if (b >= map.info().blockCount() || map.changeNumber(b) <= since) {
                missing.set(b);
            }
        }
        return missing;
    }

    private static String describe(BitSet missing, BitSet changed, int spb) {
        StringBuilder sb = new StringBuilder();
        int shown = 0;
        for (int b = missing.nextSetBit(0); b >= 0 && shown < 10; b = missing.nextSetBit(b + 1), shown++) {
            BitSet inBlock = changed.get(b * spb, (b + 1) * spb);
            sb.append(shown == 0 ? "" : ", ").append("block ").append(b).append(" (sectors ")
                    .append((long) b * spb).append("..").append((long) (b + 1) * spb - 1).append(", ")
                    .append(inBlock.cardinality()).append(" changed from sector ")
                    .append((long) b * spb + inBlock.nextSetBit(0)).append(')');
        }
        return sb.append(missing.cardinality() > shown ? ", ..." : "").toString();
    }
}
