// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup.qcow2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.blksnap.backup.QemuImg;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.BitSet;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The writer's files as qemu-img sees them: clean, equal to the raw data
 * they stand for, with the backing chain they name; and our reader agrees.
 */
class Qcow2WriterTest {
	@TempDir
	Path dir;

	/** A raw file and the qcow2 image written from it; clusters of all zeros are left out. */
	private Path writeFull(Path raw, Path image, int clusterBits, long size, SplittableRandom rnd) throws IOException {
		int cluster = 1 << clusterBits;
		try (FileChannel out = FileChannel.open(raw, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
			out.truncate(0);
			long clusters = Math.ceilDiv(size, cluster);
			for (long c = 0; c < clusters; c++) {
				if (rnd.nextInt(3) == 0)
					continue; // hole
				int len = (int) Math.min(cluster, size - c * cluster);
				byte[] b = new byte[len];
				rnd.nextBytes(b);
				out.write(ByteBuffer.wrap(b), c * cluster);
			}
			// the raw file is exactly the device size
			if (out.size() < size)
				out.write(ByteBuffer.wrap(new byte[1]), size - 1);
		}
		try (Qcow2Writer w = Qcow2Writer.create(image, size, clusterBits, null);
				FileChannel in = FileChannel.open(raw)) {
			ByteBuffer buf = ByteBuffer.allocate(cluster);
			for (long c = 0; c < w.guestClusters(); c++) {
				buf.clear();
				in.read(buf, c * cluster);
				while (buf.hasRemaining())
					buf.put((byte) 0);
				if (isZero(buf.array()))
					continue;
				w.putData(c, buf.flip());
			}
			long bytes = w.finish();
			assertEquals(bytes, Files.size(image));
			assertEquals(0, bytes % cluster);
		}
		return image;
	}

	private static boolean isZero(byte[] b) {
		for (byte x : b) {
			if (x != 0)
				return false;
		}
		return true;
	}

	@ParameterizedTest
	@ValueSource(ints = {9, 12, 16, 21})
	void fullImageIsCleanAndEqualsTheRawData(int clusterBits) throws IOException {
		long size = (5L << 20) + 3 * 512; // last cluster partial
		if (clusterBits == 21)
			size = (9L << 20) + 512;
		Path raw = dir.resolve("disk.raw");
		Path image = writeFull(raw, dir.resolve("full.qcow2"), clusterBits, size, new SplittableRandom(clusterBits));
		QemuImg.assertClean(image);
		QemuImg.assertSameAsRaw(image, raw);
		JsonNode info = QemuImg.chain(image).get(0);
		assertEquals(1 << clusterBits, info.get("cluster-size").asInt());
		assertEquals(size, info.get("virtual-size").asLong());
		assertEquals("qcow2", info.get("format").asText());
		assertEquals("1.1", info.get("format-specific").get("data").get("compat").asText());
		assertFalse(info.has("backing-filename"));
		assertSameAsOurReader(image, raw);
	}

	@Test
	void emptyImageIsValid() throws IOException {
		Path image = dir.resolve("empty.qcow2");
		try (Qcow2Writer w = Qcow2Writer.create(image, 1L << 30, 16, null)) {
			w.finish();
		}
		QemuImg.assertClean(image);
		Path raw = dir.resolve("zero.raw");
		try (FileChannel ch = FileChannel.open(raw, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
			ch.write(ByteBuffer.wrap(new byte[1]), (1L << 30) - 1);
		}
		QemuImg.assertSameAsRaw(image, raw);
	}

	/** Base full, then a top image with changed clusters and zero clusters over the base's data. */
	@ParameterizedTest
	@ValueSource(ints = {9, 16})
	void incrementalNamesItsBackingAndShowsTheChange(int clusterBits) throws IOException {
		int cluster = 1 << clusterBits;
		long size = 3L << 20;
		SplittableRandom rnd = new SplittableRandom(42);
		Path raw = dir.resolve("disk.raw");
		Path base = writeFull(raw, dir.resolve("000001.qcow2"), clusterBits, size, rnd);
		Path top = dir.resolve("000002.qcow2");
		long clusters = size / cluster;
		BitSet zeroed = new BitSet();
		try (Qcow2Writer w = Qcow2Writer.create(top, size, clusterBits, "000001.qcow2");
				FileChannel disk = FileChannel.open(raw, StandardOpenOption.WRITE)) {
			for (long c = 0; c < clusters; c++) {
				int what = rnd.nextInt(10);
				if (what == 0) {
					byte[] b = new byte[cluster];
					rnd.nextBytes(b);
					disk.write(ByteBuffer.wrap(b), c * cluster);
					w.putData(c, ByteBuffer.wrap(b));
				} else if (what == 1) {
					disk.write(ByteBuffer.wrap(new byte[cluster]), c * cluster);
					w.putZero(c, 1);
					zeroed.set((int) c);
				}
			}
			w.finish();
		}
		QemuImg.assertClean(top);
		QemuImg.assertSameAsRaw(top, raw);
		// qemu reads the zero flag (L2 bit 0) as zeros of the top image itself, not the backing file's data
		BitSet zeroInTop = new BitSet();
		for (JsonNode e : QemuImg.map(top)) {
			if (e.get("depth").asInt() == 0 && e.get("zero").asBoolean() && !e.get("data").asBoolean())
				zeroInTop.set((int) (e.get("start").asLong() / cluster),
						(int) ((e.get("start").asLong() + e.get("length").asLong()) / cluster));
		}
		assertFalse(zeroed.isEmpty());
		assertEquals(zeroed, zeroInTop, "qemu-img map: zero clusters of the top image");
		JsonNode chain = QemuImg.chain(top);
		assertEquals(2, chain.size());
		assertEquals("000001.qcow2", chain.get(0).get("backing-filename").asText());
		assertEquals("qcow2", chain.get(0).get("backing-filename-format").asText());
		assertEquals(base.toString(), chain.get(1).get("filename").asText());
		try (Qcow2Image img = Qcow2Image.open(top)) {
			assertEquals("000001.qcow2", img.backingFile().orElseThrow());
			assertEquals("qcow2", img.backingFormat().orElseThrow());
		}
	}

	/**
	 * The pipeline's way: clusters reserved in guest order by one thread, their
	 * data written by several at once from aligned buffers (O_DIRECT where the
	 * file system allows; with 512-byte clusters some runs are unaligned and
	 * go through the page cache); zero runs between them.
	 */
	@ParameterizedTest
	@ValueSource(ints = {9, 12, 16})
	void dataWrittenFromSeveralThreadsAfterReservingIsCleanAndEqual(int clusterBits) throws Exception {
		int cluster = 1 << clusterBits;
		long size = (6L << 20) + 512;
		SplittableRandom rnd = new SplittableRandom(clusterBits);
		Path raw = dir.resolve("disk.raw");
		Path image = dir.resolve("pipelined.qcow2");
		java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(4);
		try (Qcow2Writer w = Qcow2Writer.create(image, size, clusterBits, null);
				FileChannel disk = FileChannel.open(raw, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
			disk.write(ByteBuffer.wrap(new byte[1]), size - 1);
			if (clusterBits >= 12)
				assertEquals(dev.blksnap.backup.io.DirectIo.open(image, StandardOpenOption.WRITE).isPresent(),
						w.direct(), "O_DIRECT wherever the file system allows it");
			java.util.List<java.util.concurrent.Future<?>> writes = new java.util.ArrayList<>();
			long c = 0;
			while (c < w.guestClusters()) {
				int n = (int) Math.min(1 + rnd.nextInt(64), w.guestClusters() - c);
				if (rnd.nextInt(4) == 0) {
					c += n; // a hole: reads zeros
					continue;
				}
				ByteBuffer data = dev.blksnap.backup.io.DirectIo.buffer(n * cluster);
				byte[] b = new byte[n * cluster];
				rnd.nextBytes(b);
				data.put(b).flip();
				disk.write(ByteBuffer.wrap(b, 0, (int) Math.min(b.length, size - c * cluster)), c * cluster);
				long host = w.reserveData(c, n);
				writes.add(pool.submit(() -> {
					w.writeData(data, host);
					return null;
				}));
				c += n;
			}
			for (java.util.concurrent.Future<?> f : writes)
				f.get();
			w.finish();
		} finally {
			pool.shutdown();
		}
		QemuImg.assertClean(image);
		QemuImg.assertSameAsRaw(image, raw);
		assertSameAsOurReader(image, raw);
	}

	@Test
	void readerReadsWhatQemuWrites() throws IOException {
		Path raw = dir.resolve("disk.raw");
		writeFull(raw, dir.resolve("ours.qcow2"), 12, 2L << 20, new SplittableRandom(3));
		Path theirs = dir.resolve("theirs.qcow2");
		QemuImg.Result r = QemuImg.run("convert", "-f", "raw", "-O", "qcow2", "-o", "cluster_size=4096",
				raw.toString(), theirs.toString());
		assertEquals(0, r.exit(), r::toString);
		assertSameAsOurReader(theirs, raw);
	}

	@Test
	void refusesWhatItCannotRepresent() throws IOException {
		Path image = dir.resolve("x.qcow2");
		assertThrows(IllegalArgumentException.class, () -> Qcow2Writer.create(image, 1000, 16, null));
		assertThrows(IllegalArgumentException.class, () -> Qcow2Writer.create(image, 1 << 20, 8, null));
		assertThrows(IllegalArgumentException.class, () -> Qcow2Writer.create(image, 1 << 20, 9, "x".repeat(400)));
		try (Qcow2Writer w = Qcow2Writer.create(image, 1 << 20, 16, null)) {
			w.putZero(3, 1);
			assertThrows(IllegalArgumentException.class, () -> w.putZero(3, 1), "same cluster twice");
			assertThrows(IllegalArgumentException.class, () -> w.putData(2, ByteBuffer.allocate(65536)));
			assertThrows(IllegalArgumentException.class, () -> w.putData(5, ByteBuffer.allocate(100)));
			assertThrows(IllegalArgumentException.class, () -> w.putZero(15, 2), "past the end");
		}
		Files.write(dir.resolve("junk"), new byte[4096]);
		IOException e = assertThrows(IOException.class, () -> Qcow2Image.open(dir.resolve("junk")));
		assertTrue(e.getMessage().contains("bad magic"), e.getMessage());
	}

	@Test
	void clusterSizeFollowsTheBlockSize() {
		assertEquals(16, Qcow2.clusterBitsFor(65536, 1L << 40));
		assertEquals(9, Qcow2.clusterBitsFor(512, 1L << 30));
		assertEquals(21, Qcow2.clusterBitsFor(8 << 20, 1L << 30), "a larger block maps to several clusters");
		// 512-byte clusters reach qemu's L1 limit at 128 GiB
		assertEquals(10, Qcow2.clusterBitsFor(512, 256L << 30));
	}

	/** Reads every guest cluster through our reader (following a backing file) and compares with the raw file. */
	static void assertSameAsOurReader(Path image, Path raw) throws IOException {
		try (Qcow2Image img = Qcow2Image.open(image); FileChannel in = FileChannel.open(raw)) {
			assertFalse(img.backingFile().isPresent());
			int cluster = img.clusterSize();
			ByteBuffer want = ByteBuffer.allocate(cluster);
			ByteBuffer got = ByteBuffer.allocate(cluster);
			for (long c = 0; c < img.guestClusters(); c++) {
				int len = (int) Math.min(cluster, img.virtualSize() - c * cluster);
				java.util.Arrays.fill(want.array(), (byte) 0);
				want.clear().limit(len);
				in.read(want, c * cluster);
				java.util.Arrays.fill(got.array(), (byte) 0);
				got.clear().limit(len);
				Qcow2Image.Cluster where = img.lookup(c);
				if (where instanceof Qcow2Image.Data d)
					img.readCluster(d, got);
				else
					assertInstanceOf(Qcow2Image.Unallocated.class, where);
				assertArrayEquals(want.array(), got.array(), "cluster " + c);
			}
		}
	}
}
