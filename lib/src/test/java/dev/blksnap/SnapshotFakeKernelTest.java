// SPDX-License-Identifier: GPL-2.0
package dev.blksnap;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.blksnap.internal.Errno;
import dev.blksnap.internal.Layouts;
import dev.blksnap.internal.RawIoctl;
import dev.blksnap.internal.Uapi;

/**
 * The snapshot API against a kernel written in Java that speaks the
 * structures byte for byte: every field encoded and decoded, the storage
 * descriptor opened the right way and closed, errnos mapped with their
 * snapshot meaning, close() destroying.
 */
class SnapshotFakeKernelTest {
	private static final DeviceId SDB = new DeviceId(8, 16);
	private static final DeviceId SDC = new DeviceId(8, 32);

	@TempDir
	Path tmp;

	static final class Snap {
		long id;
		int flags;
		long limit;
		int state = Uapi.SNAPSHOT_STATE_CREATED;
		int error;
		final List<DeviceId> devices = new ArrayList<>();
	}

	/** The fake module's snapshots, plus what the calls carried. */
	static final class Kernel implements BlksnapControl.Syscalls {
		final Map<Long, Snap> snapshots = new LinkedHashMap<>();
		final UUID generation = UUID.randomUUID();
		long nextId = 7;
		int forcedErrno;
		final List<Integer> openFlags = new ArrayList<>();
		final List<Integer> closedFiles = new ArrayList<>();
		int lastStorageFd;
		int lastTakeFlags;
		/** WAIT_EVENT: answers in order, each {code, error, major, minor, time, used, limit, lost} or {-errno}. */
		final java.util.ArrayDeque<long[]> events = new java.util.ArrayDeque<>();
		/** WAIT_EVENT: the timeout_ms of every call, and whether its flags and reserved were zero. */
		final List<Integer> waitTimeouts = new ArrayList<>();
		boolean waitInputZero = true;

		@Override
		public int close(int fd) {
			return 0;
		}

		@Override
		public int open(Path path, int flags) {
			openFlags.add(flags);
			return Files.exists(path) ? 40 + openFlags.size() : -Errno.ENOENT;
		}

		@Override
		public int closeFile(int fd) {
			closedFiles.add(fd);
			return 0;
		}

		@Override
		public int ioctl(int fd, long request, MemorySegment arg) {
			if (forcedErrno != 0)
				return -forcedErrno;
			if (request == RawIoctl.SNAPSHOT_CREATE) {
				if (!zero(arg, Layouts.SNAPSHOT_CREATE.byteSize() - 16, 16))
					return -Errno.EINVAL;
				Snap s = new Snap();
				s.id = nextId++;
				s.flags = (int) Layouts.SNAPSHOT_CREATE_FLAGS.get(arg);
				s.limit = (long) Layouts.SNAPSHOT_CREATE_LIMIT.get(arg);
				lastStorageFd = (int) Layouts.SNAPSHOT_CREATE_STORAGE_FD.get(arg);
				snapshots.put(s.id, s);
				Layouts.SNAPSHOT_CREATE_ID.set(arg, s.id);
				return 0;
			}
			if (request == RawIoctl.SNAPSHOT_ADD) {
				Snap s = snapshots.get((long) Layouts.SNAPSHOT_ADD_ID.get(arg));
				if (s == null)
					return -Errno.ENOENT;
				if (s.state != Uapi.SNAPSHOT_STATE_CREATED)
					return -Errno.EALREADY;
				DeviceId d = new DeviceId((int) Layouts.SNAPSHOT_ADD_MAJOR.get(arg),
						(int) Layouts.SNAPSHOT_ADD_MINOR.get(arg));
				for (Snap o : snapshots.values()) {
					if (o.devices.contains(d))
						return -Errno.EBUSY;
				}
				s.devices.add(d);
				return 0;
			}
			if (request == RawIoctl.SNAPSHOT_TAKE) {
				Snap s = snapshots.get((long) Layouts.SNAPSHOT_TAKE_ID.get(arg));
				if (s == null)
					return -Errno.ENOENT;
				if (s.state != Uapi.SNAPSHOT_STATE_CREATED)
					return -Errno.EALREADY;
				if (s.devices.isEmpty())
					return -Errno.EINVAL;
				lastTakeFlags = (int) Layouts.SNAPSHOT_TAKE_FLAGS.get(arg);
				s.state = Uapi.SNAPSHOT_STATE_TAKEN;
				Layouts.SNAPSHOT_TAKE_HOLD_NS.set(arg, 1234L);
				Layouts.SNAPSHOT_TAKE_FREEZE_NS.set(arg, 0x1_0000_0000L);
				Layouts.SNAPSHOT_TAKE_FROZEN.set(arg, 1);
				Layouts.SNAPSHOT_TAKE_FREEZE_FAILED.set(arg, s.devices.size() - 1);
				return 0;
			}
			if (request == RawIoctl.SNAPSHOT_DESTROY)
				return snapshots.remove((long) Layouts.SNAPSHOT_DESTROY_ID.get(arg)) != null ? 0 : -Errno.ENOENT;
			if (request == RawIoctl.SNAPSHOT_LIST) {
				int capacity = (int) Layouts.SNAPSHOT_LIST_CAPACITY.get(arg);
				MemorySegment ids = user((long) Layouts.SNAPSHOT_LIST_IDS.get(arg), capacity * 8L);
				int i = 0;
				for (long id : snapshots.keySet()) {
					if (i == capacity)
						break;
					ids.setAtIndex(JAVA_LONG, i++, id);
				}
				Layouts.SNAPSHOT_LIST_COUNT.set(arg, snapshots.size());
				return 0;
			}
			if (request == RawIoctl.SNAPSHOT_INFO)
				return info(arg);
			if (request == RawIoctl.SNAPSHOT_WAIT_EVENT)
				return waitEvent(arg);
			return -Errno.ENOTTY;
		}

		private int info(MemorySegment arg) {
			Snap s = snapshots.get((long) Layouts.SNAPSHOT_INFO_ID.get(arg));
			if (s == null)
				return -Errno.ENOENT;
			int capacity = (int) Layouts.SNAPSHOT_INFO_CAPACITY.get(arg);
			long stride = Layouts.SNAPSHOT_DEVICE.byteSize();
			MemorySegment devs = user((long) Layouts.SNAPSHOT_INFO_DEVICES.get(arg), capacity * stride);
			for (int i = 0; i < Math.min(capacity, s.devices.size()); i++) {
				MemorySegment d = devs.asSlice(i * stride, stride);
				DeviceId o = s.devices.get(i);
				Layouts.SNAPSHOT_DEVICE_ORIGIN_MAJOR.set(d, o.major());
				Layouts.SNAPSHOT_DEVICE_ORIGIN_MINOR.set(d, o.minor());
				boolean taken = s.state != Uapi.SNAPSHOT_STATE_CREATED;
				Layouts.SNAPSHOT_DEVICE_IMAGE_MAJOR.set(d, taken ? 252 : 0);
				Layouts.SNAPSHOT_DEVICE_IMAGE_MINOR.set(d, taken ? i : 0);
				Layouts.SNAPSHOT_DEVICE_CAPACITY.set(d, 2048L * (i + 1));
				Layouts.SNAPSHOT_DEVICE_CHUNK_SIZE.set(d, 65536);
				Layouts.SNAPSHOT_DEVICE_ERROR.set(d, s.error);
				Layouts.SNAPSHOT_DEVICE_FREEZE_ERROR.set(d, i == 0 ? 0 : Errno.EBUSY);
				ByteBuffer g = ByteBuffer.allocate(16).putLong(generation.getMostSignificantBits())
						.putLong(generation.getLeastSignificantBits());
				MemorySegment.copy(g.array(), 0, d, JAVA_BYTE, Layouts.SNAPSHOT_DEVICE_GENERATION_ID, 16);
				Layouts.SNAPSHOT_DEVICE_CLOSED_NUMBER.set(d, (byte) 250);
				Layouts.SNAPSHOT_DEVICE_FREEZE.set(d, (byte) (i == 0 ? Uapi.FREEZE_FROZEN : Uapi.FREEZE_FAILED));
				Layouts.SNAPSHOT_DEVICE_WRITES_HELD.set(d, 11L);
				Layouts.SNAPSHOT_DEVICE_CHUNKS_COPIED.set(d, 12L);
				Layouts.SNAPSHOT_DEVICE_CHUNKS_STORED.set(d, 13L);
				Layouts.SNAPSHOT_DEVICE_DISCARDS_DROPPED.set(d, -1L);
			}
			Layouts.SNAPSHOT_INFO_COUNT.set(arg, s.devices.size());
			Layouts.SNAPSHOT_INFO_STATE.set(arg, s.state);
			Layouts.SNAPSHOT_INFO_ERROR.set(arg, s.error);
			Layouts.SNAPSHOT_INFO_FLAGS.set(arg, s.flags);
			Layouts.SNAPSHOT_INFO_STORAGE_KIND.set(arg, Uapi.STORAGE_TMPFILE);
			Layouts.SNAPSHOT_INFO_STORAGE_MAJOR.set(arg, 254);
			Layouts.SNAPSHOT_INFO_STORAGE_MINOR.set(arg, 1);
			Layouts.SNAPSHOT_INFO_STORAGE_USED.set(arg, 4096L);
			Layouts.SNAPSHOT_INFO_STORAGE_SIZE.set(arg, s.limit);
			Layouts.SNAPSHOT_INFO_STORAGE_LIMIT.set(arg, s.limit);
			return 0;
		}

		private int waitEvent(MemorySegment arg) {
			waitTimeouts.add((int) Layouts.SNAPSHOT_EVENT_TIMEOUT_MS.get(arg));
			waitInputZero &= arg.get(java.lang.foreign.ValueLayout.JAVA_INT, 12) == 0
					&& arg.get(java.lang.foreign.ValueLayout.JAVA_INT, 60) == 0;
			if (!snapshots.containsKey((long) Layouts.SNAPSHOT_EVENT_ID.get(arg)))
				return -Errno.ENOENT;
			long[] e = events.poll();
			if (e == null)
				return -Errno.ETIMEDOUT;
			if (e.length == 1)
				return (int) e[0];
			Layouts.SNAPSHOT_EVENT_CODE.set(arg, (int) e[0]);
			Layouts.SNAPSHOT_EVENT_ERROR.set(arg, (int) e[1]);
			Layouts.SNAPSHOT_EVENT_DEV_MAJOR.set(arg, (int) e[2]);
			Layouts.SNAPSHOT_EVENT_DEV_MINOR.set(arg, (int) e[3]);
			Layouts.SNAPSHOT_EVENT_TIME_NS.set(arg, e[4]);
			Layouts.SNAPSHOT_EVENT_USED.set(arg, e[5]);
			Layouts.SNAPSHOT_EVENT_LIMIT.set(arg, e[6]);
			Layouts.SNAPSHOT_EVENT_LOST.set(arg, (int) e[7]);
			return 0;
		}

		private static boolean zero(MemorySegment s, long offset, long length) {
			for (long i = offset; i < offset + length; i++) {
				if (s.get(JAVA_BYTE, i) != 0)
					return false;
			}
			return true;
		}

		@SuppressWarnings("restricted")
		private static MemorySegment user(long address, long size) {
			return MemorySegment.ofAddress(address).reinterpret(size);
		}
	}

	private final Kernel kernel = new Kernel();

	private BlksnapControl control() {
		return new BlksnapControl(Path.of("/fake"), 99, kernel);
	}

	@Test
	void lifeCycleEncodesAndDecodesEveryField() throws BlksnapException {
		try (BlksnapControl ctl = control()) {
			SnapshotInfo info;
			long id;
			try (Snapshot snap = ctl.createSnapshot(tmp, 1L << 30, false)) {
				id = snap.id();
				assertEquals(7, id);
				assertEquals(List.of(RawIoctl.O_RDONLY), kernel.openFlags, "a directory is opened read-only");
				assertEquals(List.of(kernel.lastStorageFd), kernel.closedFiles, "the storage descriptor is closed");
				assertEquals(1L << 30, kernel.snapshots.get(id).limit);
				assertEquals(0, kernel.snapshots.get(id).flags);
				snap.addAll(List.of(SDB, SDC));
				assertEquals(SnapshotState.CREATED, snap.info().state());
				assertEquals(Optional.empty(), snap.info().device(SDB).image());
				TakeResult t = snap.take(true);
				assertEquals(new TakeResult(1234, 0x1_0000_0000L, 1, 1), t);
				assertEquals(Uapi.TAKE_FLAG_NO_FREEZE, kernel.lastTakeFlags);
				info = snap.info();
				assertEquals(List.of(7L), ctl.snapshots());
			}
			assertTrue(kernel.snapshots.isEmpty(), "close destroyed it");
			assertEquals(SnapshotState.TAKEN, info.state());
			assertEquals(StorageKind.TMPFILE, info.storageKind());
			assertEquals(new DeviceId(254, 1), info.storageDevice());
			assertEquals(4096, info.storageUsed());
			assertFalse(info.keep());
			assertFalse(info.writable());
			SnapshotDevice sdc = info.device(SDC);
			assertEquals(new SnapshotDevice(SDC, Optional.of(new DeviceId(252, 1)), 4096, 65536, 0, Errno.EBUSY,
					kernel.generation, 250, FreezeState.FAILED, 11, 12, 13, -1), sdc);
			assertEquals(FreezeState.FROZEN, info.device(SDB).freeze());
			assertEquals(2048 * 512, info.device(SDB).capacityBytes());
		}
	}

	@Test
	void aFileIsOpenedReadWriteAndKeepIsPassed() throws BlksnapException, IOException {
		Path file = Files.write(tmp.resolve("store"), new byte[8192]);
		try (BlksnapControl ctl = control()) {
			Snapshot s = ctl.createSnapshot(file, 0, true);
			assertEquals(List.of(RawIoctl.O_RDWR), kernel.openFlags);
			assertEquals(Uapi.SNAPSHOT_FLAG_KEEP, kernel.snapshots.get(s.id()).flags);
			assertTrue(ctl.snapshotInfo(s.id()).keep());
			s.destroy();
			s.destroy(); // idempotent
			s.close();
		}
	}

	@Test
	void optionsAreSentAsFlagsAndReadBack() throws BlksnapException, IOException {
		Path file = Files.write(tmp.resolve("store"), new byte[8192]);
		try (BlksnapControl ctl = control()) {
			Snapshot w = ctl.createSnapshot(file, 0, Set.of(SnapshotOption.WRITABLE));
			assertEquals(Uapi.SNAPSHOT_FLAG_WRITABLE, kernel.snapshots.get(w.id()).flags);
			SnapshotInfo info = ctl.snapshotInfo(w.id());
			assertTrue(info.writable());
			assertFalse(info.keep());
			Snapshot both = ctl.createSnapshot(file, 0, Set.of(SnapshotOption.KEEP, SnapshotOption.WRITABLE));
			assertEquals(Uapi.SNAPSHOT_FLAG_KEEP | Uapi.SNAPSHOT_FLAG_WRITABLE, kernel.snapshots.get(both.id()).flags);
			assertTrue(ctl.snapshotInfo(both.id()).keep());
			assertTrue(ctl.snapshotInfo(both.id()).writable());
			w.destroy();
			both.destroy();
		}
	}

	@Test
	void errnosHaveTheirSnapshotMeaning() throws BlksnapException {
		try (BlksnapControl ctl = control()) {
			var e = assertThrows(NoSuchSnapshotException.class, () -> ctl.takeSnapshot(3, false));
			assertTrue(e.getMessage().startsWith("snapshot take 3: no such snapshot (ENOENT) — "), e.getMessage());
			Snapshot s = ctl.createSnapshot(tmp, 1 << 20, false);
			assertThrows(InvalidRequestException.class, () -> s.take(false), "take without devices: EINVAL");
			s.add(SDB);
			Snapshot other = ctl.createSnapshot(tmp, 1 << 20, false);
			var busy = assertThrows(DeviceBusyException.class, () -> other.add(SDB));
			assertTrue(busy.getMessage().contains("already in a snapshot"), busy.getMessage());
			s.take(false);
			assertThrows(SnapshotStateException.class, () -> s.add(SDC));
			assertThrows(SnapshotStateException.class, () -> s.take(false));
			kernel.snapshots.remove(s.id());
			s.close(); // destroyed behind its back: not an error
			int[][] cases = {{Errno.ENOSPC}, {Errno.EOPNOTSUPP}, {Errno.EDEADLK}, {Errno.EROFS}, {Errno.ENOMEM}};
			List<Class<?>> want = List.of(NoSpaceException.class, NotSupportedException.class,
					InvalidRequestException.class, InvalidRequestException.class, KernelOutOfMemoryException.class);
			for (int i = 0; i < cases.length; i++) {
				kernel.forcedErrno = cases[i][0];
				BlksnapException x = assertThrows(BlksnapException.class, () -> ctl.createSnapshot(tmp, 1 << 20, false));
				assertEquals(want.get(i), x.getClass(), x.getMessage());
			}
			assertEquals(kernel.openFlags.size(), kernel.closedFiles.size(), "every storage descriptor closed");
			kernel.forcedErrno = 0;
			var missing = assertThrows(BlksnapErrnoException.class,
					() -> ctl.createSnapshot(tmp.resolve("nope"), 1 << 20, false));
			assertTrue(missing.getMessage().contains("cannot open the storage"), missing.getMessage());
		}
	}

	@Test
	void listFollowsAGrowingCount() throws BlksnapException {
		try (BlksnapControl ctl = control()) {
			assertEquals(List.of(), ctl.snapshots());
			for (int i = 0; i < 20; i++)
				ctl.createSnapshot(tmp, 1 << 20, false);
			assertEquals(List.copyOf(kernel.snapshots.keySet()), ctl.snapshots());
		}
	}

	@Test
	void eventsAreDecodedAndAnEmptyWaitIsEmpty() throws BlksnapException {
		try (BlksnapControl ctl = control(); Snapshot snap = ctl.createSnapshot(tmp, 1 << 20, false)) {
			kernel.events.add(new long[] {Uapi.EVENT_LOW_FREE_SPACE, 0, 0, 0, 11, 1L << 40, 3L << 40, 0});
			kernel.events.add(new long[] {Uapi.EVENT_OVERFLOW, Errno.ENOSPC, 0, 0, 12, 3L << 40, 3L << 40, 2});
			kernel.events.add(new long[] {Uapi.EVENT_CORRUPTED, Errno.ENODEV, 259, 1 << 19, -1, 5, 6, 0});
			kernel.events.add(new long[] {Uapi.EVENT_CORRUPTED, Errno.ENOMEM, 0, 0, 13, 5, 6, -1});
			assertEquals(Optional.of(new SnapshotEvent.LowFreeSpace(11, 1L << 40, 3L << 40, 0)),
					snap.waitEvent(java.time.Duration.ofSeconds(2)));
			assertEquals(Optional.of(new SnapshotEvent.Overflow(12, 3L << 40, 3L << 40, 2)),
					snap.waitEvent(java.time.Duration.ZERO));
			assertEquals(Optional.of(new SnapshotEvent.Corrupted(Errno.ENODEV, "ENODEV",
					Optional.of(new DeviceId(259, 1 << 19)), -1, 5, 6, 0)), snap.waitEvent(java.time.Duration.ofHours(1)));
			assertEquals(Optional.of(new SnapshotEvent.Corrupted(Errno.ENOMEM, "ENOMEM", Optional.empty(), 13, 5, 6,
					-1)), snap.waitEvent(java.time.Duration.ofNanos(1)));
			assertEquals(Optional.empty(), snap.waitEvent(java.time.Duration.ofMillis(250)), "ETIMEDOUT");
			assertEquals(List.of(2000, 0, Uapi.EVENT_TIMEOUT_MAX_MS, 1, 250), kernel.waitTimeouts,
					"timeout_ms sent, a nanosecond rounded up to a millisecond");
			assertTrue(kernel.waitInputZero, "flags and reserved sent as zero");
		}
	}

	@Test
	void aSignalWaitsForWhatIsLeftAndErrnosAreMapped() throws BlksnapException {
		try (BlksnapControl ctl = control(); Snapshot snap = ctl.createSnapshot(tmp, 1 << 20, false)) {
			kernel.events.add(new long[] {-Errno.EINTR});
			kernel.events.add(new long[] {Uapi.EVENT_OVERFLOW, Errno.ENOSPC, 0, 0, 1, 2, 2, 0});
			assertTrue(snap.waitEvent(java.time.Duration.ofSeconds(100)).orElseThrow() instanceof SnapshotEvent.Overflow);
			assertEquals(2, kernel.waitTimeouts.size(), "EINTR is retried");
			assertEquals(100_000, kernel.waitTimeouts.get(0));
			assertTrue(kernel.waitTimeouts.get(1) <= 100_000 && kernel.waitTimeouts.get(1) > 90_000,
					"the retry waits for what is left: " + kernel.waitTimeouts);

			kernel.waitTimeouts.clear();
			assertThrows(IllegalArgumentException.class,
					() -> snap.waitEvent(java.time.Duration.ofMillis(Uapi.EVENT_TIMEOUT_MAX_MS + 1L)));
			assertThrows(IllegalArgumentException.class, () -> snap.waitEvent(java.time.Duration.ofMillis(-1)));
			assertEquals(List.of(), kernel.waitTimeouts, "a bad timeout never reaches the module");

			kernel.events.add(new long[] {99, 0, 0, 0, 0, 0, 0, 0});
			var unknown = assertThrows(IllegalStateException.class, () -> snap.waitEvent(java.time.Duration.ZERO));
			assertTrue(unknown.getMessage().contains("event code 99"), unknown.getMessage());

			var gone = assertThrows(NoSuchSnapshotException.class, () -> ctl.waitSnapshotEvent(12345,
					java.time.Duration.ZERO));
			assertTrue(gone.getMessage().startsWith("snapshot wait-event 12345: no such snapshot (ENOENT) — "),
					gone.getMessage());
			kernel.forcedErrno = Errno.ENOTTY;
			var old = assertThrows(NotSupportedException.class, () -> snap.waitEvent(java.time.Duration.ZERO));
			assertTrue(old.getMessage().contains("no snapshot events"), old.getMessage());
			kernel.forcedErrno = 0;
		}
	}
}
