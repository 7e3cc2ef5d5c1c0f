// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.blksnap.backup.io.DirectIo;
import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Reads through O_DIRECT where aligned, through the page cache elsewhere: the same bytes either way. */
class FileImageReaderTest {
	@TempDir
	Path dir;

	@Test
	void alignedAndUnalignedReadsReturnTheFile() throws IOException {
		byte[] data = new byte[(1 << 20) + 3 * 512]; // a tail that is not a whole page
		new SplittableRandom(5).nextBytes(data);
		Path f = Files.write(dir.resolve("image.raw"), data);
		try (FileImageReader r = FileImageReader.open(f, true)) {
			assumeTrue(r.direct(), "the file system of " + dir + " refuses O_DIRECT");
			ByteBuffer aligned = DirectIo.buffer(256 << 10);
			check(r, data, aligned, 0, 256 << 10); // direct
			check(r, data, aligned, 512 << 10, 128 << 10); // direct
			check(r, data, aligned, 4096 + 512, 8192); // unaligned offset
			check(r, data, aligned.clear().slice(512, 8192), 8192, 8192); // unaligned address
			check(r, data, aligned, 12288, 1000); // unaligned length
			check(r, data, aligned, 1 << 20, 3 * 512); // the tail
			check(r, data, aligned, (1 << 20) - 4096, 4096 + 3 * 512); // across into the tail
			check(r, data, ByteBuffer.allocate(8192), 4096, 8192); // heap buffer
			assertThrows(EOFException.class, () -> r.readFully(aligned.clear().limit(8192), data.length - 4096));
		}
		try (FileImageReader r = FileImageReader.open(f)) {
			assertFalse(r.direct(), "a regular file is read through the page cache by default");
		}
	}

	private static void check(FileImageReader r, byte[] data, ByteBuffer buf, long offset, int length)
			throws IOException {
		ByteBuffer dst = buf.clear().limit(length);
		r.readFully(dst, offset);
		assertEquals(length, dst.position());
		MemorySegment got = MemorySegment.ofBuffer(dst.flip());
		MemorySegment want = MemorySegment.ofArray(data).asSlice(offset, length);
		assertEquals(-1, got.mismatch(want), "read of " + length + " bytes at " + offset);
	}
}
