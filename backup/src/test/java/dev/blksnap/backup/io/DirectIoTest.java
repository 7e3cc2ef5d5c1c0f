// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Optional;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** O_DIRECT channels: opened where the file system allows, and the alignment test that guards them. */
class DirectIoTest {
	@TempDir
	Path dir;

	@Test
	void buffersArePageAlignedAndExactlyAsLargeAsAsked() {
		for (int bytes : new int[] {512, 4096, 65536, 99840, 1 << 20}) {
			ByteBuffer b = DirectIo.buffer(bytes);
			assertTrue(b.isDirect());
			assertEquals(bytes, b.capacity());
			assertEquals(0, MemorySegment.ofBuffer(b).address() % DirectIo.PAGE);
		}
	}

	@Test
	void fitsOnlyWhenAddressOffsetAndLengthAreAligned() throws IOException {
		Optional<DirectIo> d = openOrSkip();
		long a = d.get().alignment();
		ByteBuffer b = DirectIo.buffer(4 * (int) a);
		assertTrue(d.get().fits(b, 0));
		assertTrue(d.get().fits(b, 3 * a));
		assertFalse(d.get().fits(b, 512 == a ? 256 : 512), "unaligned offset");
		assertFalse(d.get().fits(b.slice(0, (int) a - 512 + 256), 0), "unaligned length");
		assertFalse(d.get().fits(b.slice(256, (int) a), 0), "unaligned address");
		assertFalse(d.get().fits(ByteBuffer.allocate((int) a), 0), "heap buffer");
		d.get().close();
	}

	@Test
	void readsAndWritesThroughItEqualTheFile() throws IOException {
		Optional<DirectIo> d = openOrSkip();
		byte[] data = new byte[1 << 20];
		new SplittableRandom(7).nextBytes(data);
		ByteBuffer b = DirectIo.buffer(data.length);
		b.put(data).flip();
		Path f = dir.resolve("probe");
		try (DirectIo w = DirectIo.open(f, StandardOpenOption.WRITE).orElseThrow()) {
			assertTrue(w.fits(b, 0));
			while (b.hasRemaining())
				w.channel().write(b, b.position());
		}
		assertEquals(-1, java.util.Arrays.mismatch(data, Files.readAllBytes(f)));
		try (DirectIo r = DirectIo.open(f, StandardOpenOption.READ).orElseThrow()) {
			ByteBuffer got = DirectIo.buffer(data.length);
			while (got.hasRemaining())
				r.channel().read(got, got.position());
			assertEquals(-1, MemorySegment.ofBuffer(got.flip()).mismatch(MemorySegment.ofArray(data)));
		}
		d.get().close();
	}

	/** A probe file here, opened with O_DIRECT; the test is skipped where the file system refuses it (tmpfs). */
	private Optional<DirectIo> openOrSkip() throws IOException {
		Path probe = Files.write(dir.resolve("probe"), new byte[0]);
		Optional<DirectIo> d = DirectIo.open(probe, StandardOpenOption.READ, StandardOpenOption.WRITE);
		assumeTrue(d.isPresent(), "the file system of " + dir + " refuses O_DIRECT");
		return d;
	}
}
