// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import dev.blksnap.ByteRange;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Writes to one block device the three ways the kernel sees them: O_DIRECT
 * through FileChannel (4 KiB aligned), O_DIRECT through pwrite(2) (512-byte
 * aligned), and buffered through the page cache followed by fsync. Each
 * write returns the device bytes it can have changed: exactly the range for
 * O_DIRECT, the range widened to whole pages for buffered writes (writeback
 * writes whole 4 KiB buffers, a fact of the page cache, not of blksnap).
 */
final class DiskIo implements AutoCloseable {
    static final int PAGE = 4096;
    static final int SECTOR = 512;

    /**
     * com.sun.nio.file.ExtendedOpenOption.DIRECT. Looked up at run time
     * because javac --release flags a compile-time reference to it as
     * proprietary API, and the build treats warnings as errors.
     */
    static final OpenOption O_DIRECT = extendedOption("DIRECT");

    private final Path dev;
    private final FileChannel direct;
    private final FileChannel buffered;
    private final int fd;
    private final Arena arena = Arena.ofShared();

    DiskIo(Path dev) throws IOException {
        this(dev, false);
    }

    /** @param dsync open every channel with O_DSYNC too (FUA or write + flush on the way down) */
    DiskIo(Path dev, boolean dsync) throws IOException {
        this.dev = dev;
        List<OpenOption> d = new ArrayList<>(List.of(StandardOpenOption.READ, StandardOpenOption.WRITE,
                O_DIRECT));
        List<OpenOption> b = new ArrayList<>(List.of(StandardOpenOption.READ, StandardOpenOption.WRITE));
        if (dsync) {
            d.add(StandardOpenOption.DSYNC);
            b.add(StandardOpenOption.DSYNC);
        }
        this.direct = FileChannel.open(dev, d.toArray(OpenOption[]::new));
        this.buffered = FileChannel.open(dev, b.toArray(OpenOption[]::new));
        this.fd = Posix.open(dev, Posix.O_RDWR | Posix.O_DIRECT | (dsync ? Posix.O_DSYNC : 0));
    }

    private static OpenOption extendedOption(String name) {
        try {
            for (Object o : Class.forName("com.sun.nio.file.ExtendedOpenOption").getEnumConstants()) {
                if (((Enum<?>) o).name().equals(name)) {
                    return (OpenOption) o;
                }
            }
        } catch (ClassNotFoundException e) {
            throw new IllegalStateException("this JDK has no com.sun.nio.file.ExtendedOpenOption", e);
        }
        throw new IllegalStateException("this JDK has no ExtendedOpenOption." + name);
    }

    long size() throws IOException {
        return buffered.size();
    }

    private static void fill(ByteBuffer buf, SplittableRandom rnd) {
        while (buf.remaining() >= 8) {
            buf.putLong(rnd.nextLong());
        }
        while (buf.hasRemaining()) {
            buf.put((byte) rnd.nextInt());
        }
        buf.flip();
    }

    /** O_DIRECT write through FileChannel; offset and length must be 4 KiB multiples. */
    ByteRange direct(long offset, int length, SplittableRandom rnd) throws IOException {
        ByteBuffer buf = ByteBuffer.allocateDirect(length + PAGE).alignedSlice(PAGE).limit(length);
        fill(buf, rnd);
        int n = direct.write(buf, offset);
        assertEquals(length, n, "short O_DIRECT write to " + dev + " at " + offset);
        return new ByteRange(offset, length);
    }

    /** O_DIRECT write of given bytes through FileChannel; offset and length must be 4 KiB multiples. */
    ByteRange direct(long offset, byte[] data) throws IOException {
        ByteBuffer buf = ByteBuffer.allocateDirect(data.length + PAGE).alignedSlice(PAGE).limit(data.length);
        buf.put(data).flip();
        int n = direct.write(buf, offset);
        assertEquals(data.length, n, "short O_DIRECT write to " + dev + " at " + offset);
        return new ByteRange(offset, data.length);
    }

    /** O_DIRECT pwrite(2); offset and length must be sector multiples. */
    ByteRange sectors(long offset, int length, SplittableRandom rnd) throws IOException {
        MemorySegment seg = Posix.aligned(arena, length);
        for (long i = 0; i < length; i++) {
            seg.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, (byte) rnd.nextInt());
        }
        Posix.pwrite(fd, seg, offset);
        return new ByteRange(offset, length);
    }

    /** Buffered write of any bytes, then fsync; returns the pages it dirtied. */
    ByteRange buffered(long offset, int length, SplittableRandom rnd) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(length);
        fill(buf, rnd);
        while (buf.hasRemaining()) {
            buffered.write(buf, offset + buf.position());
        }
        buffered.force(true);
        long from = offset / PAGE * PAGE;
        long to = Math.min((offset + length + PAGE - 1) / PAGE * PAGE, size());
        return new ByteRange(from, to - from);
    }

    /** fsync with nothing dirty: a bare flush down to the device. */
    void flush() throws IOException {
        buffered.force(true);
        direct.force(true);
        Posix.fsync(fd);
    }

    /** Reads bytes back with O_DIRECT (offset and length 4 KiB multiples). */
    byte[] readDirect(long offset, int length) throws IOException {
        ByteBuffer buf = ByteBuffer.allocateDirect(length + PAGE).alignedSlice(PAGE).limit(length);
        while (buf.hasRemaining()) {
            if (direct.read(buf, offset + buf.position()) < 0) {
                throw new IOException("EOF on " + dev + " at " + (offset + buf.position()));
            }
        }
        buf.flip();
        byte[] out = new byte[length];
        buf.get(out);
        return out;
    }

    /** The bytes {@link #direct(long, int, SplittableRandom)} writes for a generator in this state. */
    static byte[] pattern(int length, SplittableRandom rnd) {
        ByteBuffer buf = ByteBuffer.allocate(length);
        fill(buf, rnd);
        return buf.array();
    }

    /** Whether the device holds, at {@code offset}, what a direct write with {@code rnd} put there. */
    boolean holds(long offset, int length, SplittableRandom rnd) throws IOException {
        return holdsBytes(offset, pattern(length, rnd));
    }

    boolean holdsBytes(long offset, byte[] want) throws IOException {
        return java.util.Arrays.equals(want, readDirect(offset, want.length));
    }

    @Override
    public void close() throws IOException {
        try (direct; buffered) {
            Posix.close(fd);
        } finally {
            arena.close();
        }
    }
}
