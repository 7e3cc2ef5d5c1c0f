// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;

/**
 * DOS partition tables (MBR) for the scratch disks, written here rather
 * than by a partitioning tool: the kernel's partition parser is what
 * matters, and every start and size is exactly what the test says.
 */
final class Mbr {
    /** One primary Linux partition, in 512-byte sectors. */
    record Part(long start, long size) {
    }

    private Mbr() {
    }

    /**
     * Writes the table (no partitions: an empty one), has the kernel read
     * it, and waits for the partitions' device nodes to come or go.
     */
    static void partition(Path disk, Part... parts) throws IOException {
        Guest.settle(disk);
        write(disk, parts);
        Guest.runOk("blockdev", "--rereadpt", disk.toString());
        for (int n = 1; n <= 4; n++) {
            Path p = Guest.partition(disk, n);
            boolean want = n <= parts.length;
            Guest.waitUntil(p + (want ? " to appear" : " to go away"), Duration.ofSeconds(10),
                    () -> Files.exists(p) == want);
        }
    }

    /** Writes the table only; the kernel does not see it until the disk is re-read. */
    static void write(Path disk, Part... parts) throws IOException {
        ByteBuffer mbr = ByteBuffer.allocate(512).order(ByteOrder.LITTLE_ENDIAN);
        if (parts.length > 0) {
            mbr.putInt(440, 0x626c6b73); // disk identifier
            for (int i = 0; i < parts.length; i++) {
                int e = 446 + 16 * i;
                mbr.put(e + 1, (byte) 0xfe).put(e + 2, (byte) 0xff).put(e + 3, (byte) 0xff); // CHS: use LBA
                mbr.put(e + 4, (byte) 0x83);
                mbr.put(e + 5, (byte) 0xfe).put(e + 6, (byte) 0xff).put(e + 7, (byte) 0xff);
                mbr.putInt(e + 8, (int) parts[i].start());
                mbr.putInt(e + 12, (int) parts[i].size());
            }
            mbr.put(510, (byte) 0x55).put(511, (byte) 0xaa);
        }
        try (FileChannel ch = FileChannel.open(disk, StandardOpenOption.WRITE)) {
            while (mbr.hasRemaining()) {
                ch.write(mbr, mbr.position());
            }
            ch.force(true);
        }
    }
}
