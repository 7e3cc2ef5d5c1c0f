// SPDX-License-Identifier: GPL-2.0
package dev.blksnap;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.UUID;
import java.util.function.IntSupplier;

import org.junit.jupiter.api.Test;

import dev.blksnap.internal.Errno;
import dev.blksnap.internal.Layouts;
import dev.blksnap.internal.RawIoctl;
import dev.blksnap.internal.Uapi;

/**
 * BlksnapControl against a kernel written in Java that speaks the structures
 * byte for byte: encoding of every request, chunked and retried map reads,
 * the growing tracker list and the split of large mark-dirty calls.
 */
class FakeKernelTest {
	private static final DeviceId DEV = new DeviceId(8, 16);

	/** One tracked device of the fake kernel. */
	static final class Tracker {
		long capacitySectors;
		int blockSize;
		byte[] map;
		UUID generation = UUID.randomUUID();
		int changes = 1;
		boolean corrupted;
		BitSet holes = new BitSet();
	}

	/** The fake module: state plus a record of the calls. */
	static final class Kernel implements BlksnapControl.Syscalls {
		final Map<DeviceId, Tracker> trackers = new LinkedHashMap<>();
		final List<Long> requests = new ArrayList<>();
		final List<Integer> readLengths = new ArrayList<>();
		final List<List<SectorRange>> markCalls = new ArrayList<>();
		/** Run before every CBT_READ; may change the state under the reader. */
		Runnable beforeRead = () -> {
		};
		/** Extra trackers that appear after the count-only list call. */
		int growOnList;
		IntSupplier forcedErrno = () -> 0;
		boolean closed;
		/** Whether the module offers CBT_READ_HOLES (minor 3). */
		boolean holesFeature;
		/** At most this many blocks per CBT_READ_HOLES, as a changing generation cuts a copy short. */
		int holesCut = Integer.MAX_VALUE;

		@Override
		public int close(int fd) {
			closed = true;
			return 0;
		}

		@Override
		public int ioctl(int fd, long request, MemorySegment arg) {
			requests.add(request);
			int forced = forcedErrno.getAsInt();
			if (forced != 0)
				return -forced;
			if (request == RawIoctl.VERSION) {
				Layouts.VERSION_MAJOR.set(arg, (short) 1);
				Layouts.VERSION_MINOR.set(arg, (short) 2);
				Layouts.VERSION_PATCH.set(arg, (short) 0xffff);
				Layouts.VERSION_FEATURES.set(arg, Uapi.FEATURE_CBT | 0x8000_0000_0000_0000L
						| (holesFeature ? Uapi.FEATURE_CBT_HOLES : 0));
				return 0;
			}
			if (request == RawIoctl.TRACKER_ATTACH) {
				DeviceId d = new DeviceId((int) Layouts.TRACKER_ATTACH_MAJOR.get(arg),
						(int) Layouts.TRACKER_ATTACH_MINOR.get(arg));
				if (arg.get(JAVA_BYTE, 8) != 0 || !zero(arg, 8, 8))
					return -Errno.EINVAL;
				if (trackers.containsKey(d))
					return -Errno.EALREADY;
				Tracker t = new Tracker();
				t.capacitySectors = 2048;
				t.blockSize = 4096;
				t.map = new byte[256];
				trackers.put(d, t);
				return 0;
			}
			if (request == RawIoctl.TRACKER_DETACH)
				return trackers.remove(bdev(arg)) != null ? 0 : -Errno.ENOENT;
			if (request == RawIoctl.TRACKER_LIST)
				return list(arg);
			if (request == RawIoctl.CBT_INFO) {
				Tracker t = trackers.get(bdev(arg));
				if (t == null)
					return -Errno.ENOENT;
				Layouts.CBT_INFO_DEVICE_CAPACITY.set(arg, t.capacitySectors);
				Layouts.CBT_INFO_BLOCK_SIZE.set(arg, t.blockSize);
				Layouts.CBT_INFO_BLOCK_COUNT.set(arg, t.map.length);
				MemorySegment.copy(bytes(t.generation), 0, arg, JAVA_BYTE, Layouts.CBT_INFO_GENERATION_ID, 16);
				Layouts.CBT_INFO_CHANGES_NUMBER.set(arg, (byte) t.changes);
				Layouts.CBT_INFO_FLAGS.set(arg, (byte) (t.corrupted ? Uapi.CBT_FLAG_CORRUPTED : 0));
				return 0;
			}
			if (request == RawIoctl.CBT_READ)
				return read(arg);
			if (request == RawIoctl.CBT_READ_HOLES && holesFeature)
				return readHoles(arg);
			if (request == RawIoctl.CBT_MARK_DIRTY)
				return markDirty(arg);
			if (request == RawIoctl.CBT_CHECKPOINT) {
				Tracker t = trackers.get(bdev(arg));
				if (t == null)
					return -Errno.ENOENT;
				MemorySegment.copy(bytes(t.generation), 0, arg, JAVA_BYTE, Layouts.CBT_CHECKPOINT_GENERATION_ID, 16);
				Layouts.CBT_CHECKPOINT_CLOSED_NUMBER.set(arg, (byte) t.changes);
				t.changes++;
				Layouts.CBT_CHECKPOINT_CHANGES_NUMBER.set(arg, (byte) t.changes);
				return 0;
			}
			return -Errno.ENOTTY;
		}

		private static DeviceId bdev(MemorySegment arg) {
			return new DeviceId((int) Layouts.BDEV_MAJOR.get(arg), (int) Layouts.BDEV_MINOR.get(arg));
		}

		private static boolean zero(MemorySegment s, long offset, long length) {
			for (long i = offset; i < offset + length; i++) {
				if (s.get(JAVA_BYTE, i) != 0)
					return false;
			}
			return true;
		}

		private int list(MemorySegment arg) {
			int capacity = (int) Layouts.TRACKER_LIST_CAPACITY.get(arg);
			if (capacity == 0) {
				Layouts.TRACKER_LIST_COUNT.set(arg, trackers.size());
				for (int i = 0; i < growOnList; i++)
					trackers.put(new DeviceId(200, i), new Tracker());
				growOnList = 0;
				return 0;
			}
			MemorySegment devices = user((long) Layouts.TRACKER_LIST_DEVICES.get(arg), capacity * 8L);
			int i = 0;
			for (DeviceId d : trackers.keySet()) {
				if (i == capacity)
					break;
				devices.setAtIndex(java.lang.foreign.ValueLayout.JAVA_INT, 2L * i, d.major());
				devices.setAtIndex(java.lang.foreign.ValueLayout.JAVA_INT, 2L * i + 1, d.minor());
				i++;
			}
			Layouts.TRACKER_LIST_COUNT.set(arg, trackers.size());
			return 0;
		}

		private int read(MemorySegment arg) {
			beforeRead.run();
			Tracker t = trackers.get(bdev(arg));
			if (t == null)
				return -Errno.ENOENT;
			int offset = (int) Layouts.CBT_READ_OFFSET.get(arg);
			int length = (int) Layouts.CBT_READ_LENGTH.get(arg);
			if (length == 0)
				return -Errno.EINVAL;
			if (offset < 0 || offset >= t.map.length)
				return -Errno.ERANGE;
			int n = Math.min(length, t.map.length - offset);
			readLengths.add(length);
			MemorySegment.copy(t.map, offset, user((long) Layouts.CBT_READ_BUFFER.get(arg), n), JAVA_BYTE, 0, n);
			Layouts.CBT_READ_LENGTH.set(arg, n);
			MemorySegment.copy(bytes(t.generation), 0, arg, JAVA_BYTE, Layouts.CBT_READ_GENERATION_ID, 16);
			return 0;
		}

		/** As the module: offset a multiple of 8, length in blocks, eight bits a byte, LSB first. */
		private int readHoles(MemorySegment arg) {
			Tracker t = trackers.get(bdev(arg));
			if (t == null)
				return -Errno.ENOENT;
			int offset = (int) Layouts.CBT_READ_OFFSET.get(arg);
			int length = (int) Layouts.CBT_READ_LENGTH.get(arg);
			if (length == 0 || offset % 8 != 0)
				return -Errno.EINVAL;
			if (offset < 0 || offset >= t.map.length)
				return -Errno.ERANGE;
			int n = Math.min(Math.min(length, t.map.length - offset), holesCut);
			byte[] bits = new byte[(n + 7) / 8];
			for (int i = 0; i < n; i++) {
				if (t.holes.get(offset + i))
					bits[i / 8] |= (byte) (1 << (i % 8));
			}
			MemorySegment.copy(bits, 0, user((long) Layouts.CBT_READ_BUFFER.get(arg), bits.length), JAVA_BYTE, 0,
					bits.length);
			Layouts.CBT_READ_LENGTH.set(arg, n);
			MemorySegment.copy(bytes(t.generation), 0, arg, JAVA_BYTE, Layouts.CBT_READ_GENERATION_ID, 16);
			return 0;
		}

		private int markDirty(MemorySegment arg) {
			Tracker t = trackers.get(bdev(arg));
			if (t == null)
				return -Errno.ENOENT;
			int count = (int) Layouts.CBT_MARK_DIRTY_COUNT.get(arg);
			if (count == 0 || !zero(arg, 12, 4))
				return -Errno.EINVAL;
			if (count > Uapi.MARK_DIRTY_MAX_RANGES)
				return -Errno.E2BIG;
			MemorySegment ranges = user((long) Layouts.CBT_MARK_DIRTY_RANGES.get(arg),
					count * Layouts.SECTOR_RANGE.byteSize());
			List<SectorRange> got = new ArrayList<>();
			for (int i = 0; i < count; i++) {
				MemorySegment r = ranges.asSlice(i * Layouts.SECTOR_RANGE.byteSize(), Layouts.SECTOR_RANGE);
				got.add(new SectorRange((long) Layouts.SECTOR_RANGE_OFFSET.get(r),
						(long) Layouts.SECTOR_RANGE_COUNT.get(r)));
			}
			markCalls.add(got);
			return 0;
		}

		/** The user buffer behind a pointer, as copy_to_user would see it. */
		@SuppressWarnings("restricted")
		private static MemorySegment user(long address, long size) {
			return MemorySegment.ofAddress(address).reinterpret(size);
		}

		private static byte[] bytes(UUID u) {
			return ByteBuffer.allocate(16).putLong(u.getMostSignificantBits())
					.putLong(u.getLeastSignificantBits()).array();
		}
	}

	private final Kernel kernel = new Kernel();

	private BlksnapControl control() {
		return new BlksnapControl(Path.of("/fake"), 99, kernel);
	}

	@Test
	void versionFieldsAreUnsigned() throws BlksnapException {
		try (BlksnapControl ctl = control()) {
			ModuleVersion v = ctl.version();
			assertEquals(new ModuleVersion(1, 2, 65535, Uapi.FEATURE_CBT | 0x8000_0000_0000_0000L), v);
			assertTrue(v.hasCbt());
		}
		assertTrue(kernel.closed);
	}

	@Test
	void readsTheHoleBitsBeforeTheChangeNumbers() throws BlksnapException {
		kernel.holesFeature = true;
		try (BlksnapControl ctl = control()) {
			ctl.attach(DEV);
			Tracker t = kernel.trackers.get(DEV);
			t.map = new byte[61]; // the last byte of bits is partial
			for (int i = 0; i < t.map.length; i++)
				t.map[i] = (byte) (i % 3);
			t.holes.set(1);
			t.holes.set(8, 17);
			t.holes.set(60);
			// Cut short after 16 blocks: the reader goes on from block 16.
			kernel.holesCut = 16;
			kernel.requests.clear();
			CbtMap m = ctl.readMap(DEV);
			assertEquals(t.holes, m.holes());
			assertTrue(m.hole(60));
			assertFalse(m.hole(7));
			List<Long> reads = kernel.requests.stream()
					.filter(r -> r == RawIoctl.CBT_READ || r == RawIoctl.CBT_READ_HOLES).toList();
			assertEquals(List.of(RawIoctl.CBT_READ_HOLES, RawIoctl.CBT_READ_HOLES, RawIoctl.CBT_READ_HOLES,
					RawIoctl.CBT_READ_HOLES, RawIoctl.CBT_READ), reads);
		}
	}

	@Test
	void aModuleWithoutHolesIsNotAskedForThem() throws BlksnapException {
		try (BlksnapControl ctl = control()) {
			ctl.attach(DEV);
			kernel.trackers.get(DEV).holes.set(3);
			CbtMap m = ctl.readMap(DEV);
			assertTrue(m.holes().isEmpty());
			assertFalse(kernel.requests.contains(RawIoctl.CBT_READ_HOLES));
		}
	}

	@Test
	void attachDetachAndTheirErrors() throws BlksnapException {
		try (BlksnapControl ctl = control()) {
			ctl.attach(DEV);
			assertTrue(kernel.trackers.containsKey(DEV));
			var e = assertThrows(AlreadyTrackedException.class, () -> ctl.attach(DEV));
			assertEquals("tracker attach 8:16: already attached (EALREADY) — detach it first or use it as is",
					e.getMessage());
			ctl.detach(DEV);
			assertThrows(NotTrackedException.class, () -> ctl.detach(DEV));
			assertThrows(NotTrackedException.class, () -> ctl.cbtInfo(DEV));
			assertThrows(NotTrackedException.class, () -> ctl.checkpoint(DEV));
			assertThrows(NotTrackedException.class, () -> ctl.readMap(DEV));
		}
	}

	@Test
	void infoAndCheckpointDecodeEveryField() throws BlksnapException {
		try (BlksnapControl ctl = control()) {
			ctl.attach(DEV);
			Tracker t = kernel.trackers.get(DEV);
			t.changes = 200;
			t.corrupted = true;
			t.capacitySectors = 0x1_0000_0001L;
			t.blockSize = 1 << 30;
			CbtInfo info = ctl.cbtInfo(DEV);
			assertEquals(new CbtInfo(DEV, 0x1_0000_0001L, 1 << 30, 256, t.generation, 200, true), info);
			Checkpoint cp = ctl.checkpoint(DEV);
			assertEquals(new Checkpoint(DEV, t.generation, 200, 201), cp);
		}
	}

	@Test
	void readsABigMapInChunksOfOneMebibyte() throws BlksnapException {
		try (BlksnapControl ctl = control()) {
			ctl.attach(DEV);
			Tracker t = kernel.trackers.get(DEV);
			t.map = new byte[3 * BlksnapControl.READ_CHUNK + 5];
			new SplittableRandom(7).nextBytes(t.map);
			t.capacitySectors = (long) t.map.length * t.blockSize / 512;
			CbtMap map = ctl.readMap(DEV);
			assertArrayEquals(t.map, map.changes());
			assertEquals(t.generation, map.info().generation());
			assertEquals(List.of(BlksnapControl.READ_CHUNK, BlksnapControl.READ_CHUNK, BlksnapControl.READ_CHUNK, 5),
					kernel.readLengths);
		}
	}

	@Test
	void rereadsWhenTheGenerationChangesMidway() throws BlksnapException {
		try (BlksnapControl ctl = control()) {
			ctl.attach(DEV);
			Tracker t = kernel.trackers.get(DEV);
			t.map = new byte[2 * BlksnapControl.READ_CHUNK];
			java.util.Arrays.fill(t.map, (byte) 3);
			int[] reads = { 0 };
			UUID second = UUID.randomUUID();
			kernel.beforeRead = () -> {
				// the map wraps between the first and second chunk
				if (++reads[0] == 2) {
					t.generation = second;
					java.util.Arrays.fill(t.map, (byte) 0);
					t.map[5] = (byte) 250;
				}
			};
			CbtMap map = ctl.readMap(DEV);
			assertEquals(second, map.info().generation());
			assertEquals(250, map.changeNumber(5));
			assertEquals(1, map.changedBlockCount(0));
		}
	}

	@Test
	void rereadsWhenTheMapShrinksMidway() throws BlksnapException {
		try (BlksnapControl ctl = control()) {
			ctl.attach(DEV);
			Tracker t = kernel.trackers.get(DEV);
			t.map = new byte[BlksnapControl.READ_CHUNK + 10];
			int[] reads = { 0 };
			kernel.beforeRead = () -> {
				if (++reads[0] == 1) {
					t.map = new byte[100];
					t.map[99] = 1;
					t.generation = UUID.randomUUID();
					t.capacitySectors = 800;
				}
			};
			CbtMap map = ctl.readMap(DEV);
			assertEquals(100, map.changes().length);
			assertEquals(List.of(new ByteRange(99L * 4096, 4096)), map.changedSince(0));
		}
	}

	@Test
	void givesUpWhenTheGenerationNeverSettles() throws BlksnapException {
		try (BlksnapControl ctl = control()) {
			ctl.attach(DEV);
			Tracker t = kernel.trackers.get(DEV);
			kernel.beforeRead = () -> t.generation = UUID.randomUUID();
			var e = assertThrows(BlksnapErrnoException.class, () -> ctl.readMap(DEV));
			assertEquals("EAGAIN", e.errnoName());
			assertEquals(BlksnapControl.READ_ATTEMPTS, kernel.readLengths.size());
		}
	}

	@Test
	void rawReadReturnsWhatTheKernelCopied() throws BlksnapException {
		try (BlksnapControl ctl = control()) {
			ctl.attach(DEV);
			Tracker t = kernel.trackers.get(DEV);
			for (int i = 0; i < t.map.length; i++)
				t.map[i] = (byte) i;
			byte[] dst = new byte[20];
			assertEquals(6, ctl.readMap(DEV, 250, dst, 10, 10));
			assertEquals((byte) 250, dst[10]);
			assertEquals((byte) 255, dst[15]);
			assertEquals(0, dst[16]);
			var e = assertThrows(InvalidRequestException.class, () -> ctl.readMap(DEV, 256, dst, 0, 1));
			assertEquals("ERANGE", e.errnoName());
		}
	}

	@Test
	void emptyMapNeedsNoRead() throws BlksnapException {
		try (BlksnapControl ctl = control()) {
			ctl.attach(DEV);
			kernel.trackers.get(DEV).map = new byte[0];
			CbtMap map = ctl.readMap(DEV);
			assertEquals(0, map.changes().length);
			assertTrue(kernel.readLengths.isEmpty());
		}
	}

	@Test
	void trackerListFollowsAGrowingCount() throws BlksnapException {
		try (BlksnapControl ctl = control()) {
			assertEquals(List.of(), ctl.trackers());
			for (int i = 0; i < 5; i++)
				ctl.attach(new DeviceId(8, 16 * i));
			kernel.growOnList = 40; // beyond the slack of one call
			List<DeviceId> list = ctl.trackers();
			assertEquals(List.copyOf(kernel.trackers.keySet()), list);
			assertEquals(45, list.size());
			assertEquals(new DeviceId(200, 39), list.get(44));
		}
	}

	@Test
	void markDirtySplitsAtTheKernelLimit() throws BlksnapException {
		try (BlksnapControl ctl = control()) {
			ctl.attach(DEV);
			List<SectorRange> ranges = new ArrayList<>();
			for (int i = 0; i < 2 * Uapi.MARK_DIRTY_MAX_RANGES + 3; i++)
				ranges.add(new SectorRange(i * 16L, 8 + (i & 7)));
			ctl.markDirty(DEV, ranges);
			assertEquals(List.of(Uapi.MARK_DIRTY_MAX_RANGES, Uapi.MARK_DIRTY_MAX_RANGES, 3),
					kernel.markCalls.stream().map(List::size).toList());
			assertEquals(ranges, kernel.markCalls.stream().flatMap(List::stream).toList());
			kernel.markCalls.clear();
			ctl.markDirty(DEV, List.of(new SectorRange(Long.MAX_VALUE - 8, 8)));
			assertEquals(List.of(List.of(new SectorRange(Long.MAX_VALUE - 8, 8))), kernel.markCalls);
			ctl.markDirty(DEV, List.of());
			assertEquals(1, kernel.markCalls.size(), "no call for no ranges");
		}
	}

	@Test
	void interruptedCallsAreRetried() throws BlksnapException {
		int[] left = { 3 };
		kernel.forcedErrno = () -> left[0]-- > 0 ? Errno.EINTR : 0;
		try (BlksnapControl ctl = control()) {
			assertEquals("1.2.65535", ctl.version().toString());
			assertEquals(4, kernel.requests.size());
		}
	}

	@Test
	void kernelErrorsSurfaceAsTheirExceptions() throws BlksnapException {
		try (BlksnapControl ctl = control()) {
			kernel.forcedErrno = () -> Errno.ENOMEM;
			var e = assertThrows(KernelOutOfMemoryException.class, () -> ctl.attach(DEV));
			assertTrue(e.getMessage().startsWith("tracker attach 8:16: kernel out of memory (ENOMEM) — "));
			kernel.forcedErrno = () -> Errno.EPERM;
			assertThrows(PermissionDeniedException.class, ctl::trackers);
			kernel.forcedErrno = () -> Errno.ENODEV;
			assertThrows(NoSuchDeviceException.class, () -> ctl.attach(DEV));
			kernel.forcedErrno = () -> Errno.EBUSY;
			assertThrows(DeviceBusyException.class, () -> ctl.detach(DEV));
			kernel.forcedErrno = () -> Errno.E2BIG;
			assertThrows(InvalidRequestException.class, () -> ctl.markDirty(DEV, List.of(new SectorRange(0, 1))));
			assertFalse(kernel.closed);
		}
	}
}
