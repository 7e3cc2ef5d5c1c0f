// SPDX-License-Identifier: GPL-2.0
package dev.blksnap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.SplittableRandom;
import java.util.UUID;

import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.RepetitionInfo;
import org.junit.jupiter.api.Test;

class CbtMapTest {
	private static final DeviceId DEV = new DeviceId(8, 16);
	private static final UUID GEN = UUID.fromString("00010203-0405-0607-0809-0a0b0c0d0e0f");

	/** A map whose device is exactly {@code changes.length} blocks of {@code blockSize}. */
	private static CbtMap map(int blockSize, int... changes) {
		byte[] b = new byte[changes.length];
		for (int i = 0; i < b.length; i++)
			b[i] = (byte) changes[i];
		long sectors = (long) blockSize * b.length / 512;
		return new CbtMap(new CbtInfo(DEV, sectors, blockSize, b.length, GEN, 1, false), b);
	}

	private static CbtMap map(long capacitySectors, int blockSize, byte[] changes) {
		return new CbtMap(new CbtInfo(DEV, capacitySectors, blockSize, changes.length, GEN, 1, false), changes);
	}

	@Test
	void changesSinceSplitsHolesFromWrittenData() {
		byte[] b = { 0, 2, 2, 2, 3, 1, 2, 2, 4 };
		BitSet holes = new BitSet();
		holes.set(0); // never changed in this generation: no range at all
		holes.set(2, 4); // blocks 2 and 3
		holes.set(5); // changed before the previous backup
		holes.set(7);
		holes.set(8); // a hole made after the checkpoint: data to read from the snapshot
		// 9 blocks of 4096, the last one 2048 bytes short
		CbtMap m = new CbtMap(new CbtInfo(DEV, 9L * 4096 / 512 - 4, 4096, b.length, GEN, 5, false), b, holes);
		assertEquals(List.of(new ChangedRange(4096, 4096, false), new ChangedRange(2 * 4096, 2 * 4096, true),
				new ChangedRange(4 * 4096, 4096, false), new ChangedRange(6 * 4096, 4096, false),
				new ChangedRange(7 * 4096, 4096, true), new ChangedRange(8 * 4096, 4096 - 2048, false)),
				m.changesSince(1, 3));
		// Closed at 2: block 4 (number 3) changed after it, so holes of number 2 still count.
		assertEquals(List.of(new ChangedRange(4096, 4096, false), new ChangedRange(2 * 4096, 2 * 4096, true),
				new ChangedRange(4 * 4096, 4096, false), new ChangedRange(6 * 4096, 4096, false),
				new ChangedRange(7 * 4096, 4096, true), new ChangedRange(8 * 4096, 4096 - 2048, false)),
				m.changesSince(1, 2));
		// Closed at 1: every change came later, none is a trusted hole.
		assertTrue(m.changesSince(1, 1).stream().noneMatch(ChangedRange::hole));
		// Closed at 0: a new generation, no holes at all.
		assertTrue(m.changesSince(0, 0).stream().noneMatch(ChangedRange::hole));
		// Closed at 4: block 8 is a hole too, merged with block 7.
		assertEquals(new ChangedRange(7 * 4096, 4096 + 4096 - 2048, true), m.changesSince(1, 4).getLast());
		assertEquals(List.of(new ChangedRange(4 * 4096, 4096, false), new ChangedRange(8 * 4096, 2048, false)),
				m.changesSince(2, 3));
		assertTrue(m.hole(3));
		assertEquals(false, m.hole(4));
		// The same bytes as changedSince, only split.
		for (int since = 0; since <= 4; since++)
			assertEquals(m.changedSince(since).stream().mapToLong(ByteRange::length).sum(),
					m.changesSince(since, 4).stream().mapToLong(ChangedRange::length).sum());
		assertThrows(IllegalArgumentException.class, () -> m.changesSince(1, 256));
		BitSet beyond = (BitSet) holes.clone();
		beyond.set(9);
		assertThrows(IllegalArgumentException.class, () -> new CbtMap(m.info(), b, beyond));
		// Immutable: neither the caller's set nor the returned one changes the map.
		holes.clear();
		m.holes().clear();
		assertTrue(m.hole(2));
		assertNotEquals(m, new CbtMap(m.info(), b));
		assertThrows(IllegalArgumentException.class, () -> new ChangedRange(0, 0, true));
	}

	@Test
	void mergesAdjacentChangedBlocks() {
		CbtMap m = map(4096, 0, 2, 3, 2, 0, 0, 5, 1, 5);
		assertEquals(List.of(new ByteRange(4096, 3 * 4096), new ByteRange(6 * 4096, 4096),
				new ByteRange(8 * 4096, 4096)), m.changedSince(1));
		assertEquals(List.of(new ByteRange(4096, 3 * 4096), new ByteRange(6 * 4096, 3 * 4096)), m.changedSince(0));
		assertEquals(List.of(new ByteRange(2 * 4096, 4096), new ByteRange(6 * 4096, 4096),
				new ByteRange(8 * 4096, 4096)), m.changedSince(2));
		assertEquals(List.of(), m.changedSince(5));
		assertEquals(5, m.changedBlockCount(1));
		assertEquals(6, m.changedBlockCount(0));
		assertEquals(0, m.changedBlockCount(5));
	}

	@Test
	void clampsTheLastBlockToTheCapacity() {
		// 10 sectors = 5120 bytes in blocks of 4096: the second block holds 1024 bytes
		CbtMap m = map(10, 4096, new byte[] { 1, 1 });
		assertEquals(5120, m.info().capacityBytes());
		assertEquals(List.of(new ByteRange(0, 5120)), m.changedSince(0));
		CbtMap last = map(10, 4096, new byte[] { 0, 7 });
		assertEquals(List.of(new ByteRange(4096, 1024)), last.changedSince(0));
	}

	@Test
	void blocksWhollyPastTheCapacityNameNoBytes() {
		CbtMap m = map(8, 4096, new byte[] { 0, 3, 3 });
		assertEquals(List.of(), m.changedSince(0));
		assertEquals(2, m.changedBlockCount(0), "the map itself still says so");
	}

	@Test
	void changeNumbersAreUnsigned() {
		CbtMap m = map(512, 128, 255, 127, 200, 0);
		assertEquals(128, m.changeNumber(0));
		assertEquals(255, m.changeNumber(1));
		assertEquals(127, m.changeNumber(2));
		assertEquals(200, m.changeNumber(3));
		assertEquals(0, m.changeNumber(4));
		assertEquals(List.of(new ByteRange(0, 512 * 2), new ByteRange(3 * 512, 512)), m.changedSince(127));
		assertEquals(List.of(new ByteRange(512, 512)), m.changedSince(254));
		assertEquals(3, m.changedBlockCount(127));
		assertEquals(List.of(), m.changedSince(255));
		assertEquals(0, m.changedBlockCount(255));
	}

	@Test
	void numberZeroMeansEveryWrittenBlock() {
		CbtMap m = map(1 << 16, 0, 1, 0, 255);
		assertEquals(List.of(new ByteRange(1 << 16, 1 << 16), new ByteRange(3L << 16, 1 << 16)), m.changedSince(0));
	}

	@Test
	void emptyAndCleanMaps() {
		CbtMap empty = map(0, 4096, new byte[0]);
		assertEquals(List.of(), empty.changedSince(0));
		assertEquals(0, empty.changedBlockCount(0));
		CbtMap clean = map(4096, new int[100]);
		assertEquals(List.of(), clean.changedSince(0));
	}

	@Test
	void rejectsNumbersOutsideAByte() {
		CbtMap m = map(4096, 1);
		assertThrows(IllegalArgumentException.class, () -> m.changedSince(-1));
		assertThrows(IllegalArgumentException.class, () -> m.changedSince(256));
		assertThrows(IllegalArgumentException.class, () -> m.changedBlockCount(256));
		assertThrows(IndexOutOfBoundsException.class, () -> m.changeNumber(1));
		assertThrows(IndexOutOfBoundsException.class, () -> m.changeNumber(-1));
	}

	@Test
	void theArrayIsCopiedInAndOut() {
		byte[] b = { 1, 2, 3 };
		CbtMap m = map(12, 2048, b);
		b[0] = 9;
		assertEquals(1, m.changeNumber(0));
		m.changes()[1] = 9;
		assertEquals(2, m.changeNumber(1));
		assertArrayEquals(new byte[] { 1, 2, 3 }, m.changes());
	}

	@Test
	void equalityIsByContent() {
		assertEquals(map(4096, 1, 2), map(4096, 1, 2));
		assertEquals(map(4096, 1, 2).hashCode(), map(4096, 1, 2).hashCode());
		assertNotEquals(map(4096, 1, 2), map(4096, 1, 3));
		assertTrue(map(4096, 1, 0).toString().contains("changedBlocks=1"));
	}

	@Test
	void theArrayMustMatchTheInfo() {
		CbtInfo info = new CbtInfo(DEV, 16, 4096, 2, GEN, 1, false);
		assertThrows(IllegalArgumentException.class, () -> new CbtMap(info, new byte[3]));
		assertThrows(NullPointerException.class, () -> new CbtMap(info, null));
	}

	@Test
	void infoRejectsImpossibleValues() {
		assertThrows(IllegalArgumentException.class, () -> new CbtInfo(DEV, 8, 3000, 1, GEN, 1, false));
		assertThrows(IllegalArgumentException.class, () -> new CbtInfo(DEV, 8, 0, 1, GEN, 1, false));
		assertThrows(IllegalArgumentException.class, () -> new CbtInfo(DEV, -1, 4096, 1, GEN, 1, false));
		assertThrows(IllegalArgumentException.class, () -> new CbtInfo(DEV, 8, 4096, -1, GEN, 1, false));
		assertThrows(IllegalArgumentException.class, () -> new CbtInfo(DEV, 8, 4096, 1, GEN, 256, false));
		assertEquals(8L * 512, new CbtInfo(DEV, 8, 4096, 1, GEN, 255, false).capacityBytes());
	}

	/** The model: one range per changed block, clamped, then adjacent ranges joined. */
	private static List<ByteRange> naive(CbtMap m, int number) {
		long bs = m.info().blockSize();
		long cap = m.info().capacityBytes();
		List<long[]> out = new ArrayList<>();
		for (int i = 0; i < m.info().blockCount(); i++) {
			if (m.changeNumber(i) <= number)
				continue;
			long s = i * bs;
			long e = Math.min(s + bs, cap);
			if (e <= s)
				continue;
			if (!out.isEmpty() && out.get(out.size() - 1)[1] == s)
				out.get(out.size() - 1)[1] = e;
			else
				out.add(new long[] { s, e });
		}
		return out.stream().map(r -> new ByteRange(r[0], r[1] - r[0])).toList();
	}

	@RepeatedTest(200)
	void agreesWithANaiveModel(RepetitionInfo rep) {
		SplittableRandom rnd = new SplittableRandom(0x5eed_0000L + rep.getCurrentRepetition());
		int blockSize = 512 << rnd.nextInt(8);
		int blocks = rnd.nextInt(300);
		// capacity from "well short of the map" to "exactly the map"
		long bytes = (long) blockSize * blocks - (blocks == 0 ? 0 : rnd.nextLong(blockSize * 2L));
		long sectors = Math.max(0, bytes) / 512;
		byte[] changes = new byte[blocks];
		int density = rnd.nextInt(1, 10);
		for (int i = 0; i < blocks; i++)
			changes[i] = rnd.nextInt(10) < density ? (byte) rnd.nextInt(256) : 0;
		CbtMap m = map(sectors, blockSize, changes);
		for (int number : new int[] { 0, 1, 127, 128, 200, 254, 255, rnd.nextInt(256) }) {
			List<ByteRange> got = m.changedSince(number);
			assertEquals(naive(m, number), got, "number " + number);
			long prevEnd = -1;
			for (ByteRange r : got) {
				assertTrue(r.length() > 0);
				assertTrue(r.offset() > prevEnd, "sorted, disjoint and not adjacent");
				assertTrue(r.end() <= m.info().capacityBytes());
				prevEnd = r.end();
			}
			long count = 0;
			for (int i = 0; i < blocks; i++)
				count += m.changeNumber(i) > number ? 1 : 0;
			assertEquals(count, m.changedBlockCount(number));
		}
	}
}
