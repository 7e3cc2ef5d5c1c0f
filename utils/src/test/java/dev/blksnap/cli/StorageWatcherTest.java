// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.blksnap.BlksnapException;
import dev.blksnap.DeviceId;
import dev.blksnap.SnapshotEvent;
import dev.blksnap.backup.SnapshotBrokenException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The watcher's answers, on a fake snapshot whose events the test raises. */
class StorageWatcherTest {
	static final long MIB = 1 << 20;
	static final DeviceId VDB1 = new DeviceId(254, 17);
	static final DeviceId VDB2 = new DeviceId(254, 18);
	static final Map<DeviceId, String> DEVICES = Map.of(VDB1, "/dev/vdb1");
	static final Map<DeviceId, String> TWO = two();

	private static Map<DeviceId, String> two() {
		Map<DeviceId, String> two = new LinkedHashMap<>();
		two.put(VDB1, "/dev/vdb1");
		two.put(VDB2, "/dev/vdb2");
		return java.util.Collections.unmodifiableMap(two);
	}

	/** Events as the module queues them; destroy ends a wait, as the module does. */
	static final class FakeSnapshot implements StorageWatcher.Target {
		final LinkedBlockingQueue<Object> queue = new LinkedBlockingQueue<>();
		final List<String> added = new ArrayList<>();
		final List<Path> refuse = new ArrayList<>();
		volatile int waits;
		private static final Object DESTROYED = new Object();

		void raise(SnapshotEvent e) {
			queue.add(e);
		}

		void destroy() {
			queue.add(DESTROYED);
		}

		@Override
		public Optional<SnapshotEvent> waitEvent(Duration timeout) throws BlksnapException {
			waits++;
			Object next;
			try {
				next = queue.poll(timeout.toNanos(), TimeUnit.NANOSECONDS);
			} catch (InterruptedException e) {
				throw new AssertionError(e);
			}
			if (next == DESTROYED) {
				queue.add(DESTROYED);
				throw BlksnapException.fromSnapshotErrno("snapshot wait-event 3", Failures.ENOENT);
			}
			return Optional.ofNullable((SnapshotEvent) next);
		}

		@Override
		public synchronized void addStorage(Path storage, long limit) throws BlksnapException {
			if (refuse.contains(storage))
				throw BlksnapException.fromSnapshotErrno("snapshot add-storage 3 " + storage, Failures.EBUSY);
			added.add(storage + " " + limit);
		}

		synchronized List<String> added() {
			return List.copyOf(added);
		}
	}

	static SnapshotEvent.LowFreeSpace low(long used, long limit) {
		return new SnapshotEvent.LowFreeSpace(1, used, limit, 0);
	}

	/** Waits until the watcher answered {@code n} events. */
	static List<StorageWatcher.Answer> answered(StorageWatcher w, int n) throws InterruptedException {
		long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
		while (w.answers().size() < n) {
			assertTrue(System.nanoTime() < deadline, "answers: " + w.answers());
			Thread.sleep(2);
		}
		return w.answers();
	}

	@Test
	void eachLowFreeSpaceGetsTheNextExtraStorageUntilNoneIsLeft() throws Exception {
		FakeSnapshot snap = new FakeSnapshot();
		List<String> log = new ArrayList<>();
		List<StorageWatcher.Extra> extras = List.of(new StorageWatcher.Extra(Path.of("/var/tmp"), 64 * MIB),
				new StorageWatcher.Extra(Path.of("/dev/sdc"), 0));
		try (StorageWatcher w = StorageWatcher.start(snap, 3, DEVICES, extras, line -> {
			synchronized (log) {
				log.add(line);
			}
		})) {
			snap.raise(low(40 * MIB, 64 * MIB));
			assertEquals(List.of("/var/tmp " + 64 * MIB), answeredThenAdded(w, snap, 1));
			snap.raise(low(100 * MIB, 128 * MIB));
			assertEquals(List.of("/var/tmp " + 64 * MIB, "/dev/sdc 0"), answeredThenAdded(w, snap, 2));
			snap.raise(low(200 * MIB, 228 * MIB));
			List<StorageWatcher.Answer> a = answered(w, 3);
			assertNull(a.get(2).added());
			assertEquals("no extra storage left (--extra-storage)", a.get(2).failure());
			w.checkNotBroken(); // low free space alone breaks nothing
			snap.destroy();
		}
		assertEquals(List.of("low free space in snapshot 3 (40.0 MiB used of 64.0 MiB): added /var/tmp (64.0 MiB)",
				"low free space in snapshot 3 (100.0 MiB used of 128.0 MiB): added /dev/sdc (whole)",
				"low free space in snapshot 3 (200.0 MiB used of 228.0 MiB): no extra storage left (--extra-storage)"),
				log);
	}

	private static List<String> answeredThenAdded(StorageWatcher w, FakeSnapshot snap, int n) throws Exception {
		answered(w, n);
		return snap.added();
	}

	@Test
	void aRefusedStorageIsPassedOverForTheNext() throws Exception {
		FakeSnapshot snap = new FakeSnapshot();
		snap.refuse.add(Path.of("/busy"));
		try (StorageWatcher w = StorageWatcher.start(snap, 3, DEVICES, List.of(
				new StorageWatcher.Extra(Path.of("/busy"), MIB), new StorageWatcher.Extra(Path.of("/free"), MIB)),
				line -> {
				})) {
			snap.raise(low(1, 2));
			StorageWatcher.Answer a = answered(w, 1).getFirst();
			assertEquals(Path.of("/free"), a.added().path());
			assertTrue(a.failure().startsWith("/busy refused: snapshot add-storage 3 /busy"), a.failure());
			assertEquals(List.of("/free " + MIB), snap.added());
			snap.destroy();
		}
	}

	@Test
	void anOverflowStopsTheCopyWithOneLineNamingTheDevicesAndErrno() throws Exception {
		FakeSnapshot snap = new FakeSnapshot();
		StorageWatcher w = StorageWatcher.start(snap, 3, TWO, List.of(), line -> {
		});
		w.checkNotBroken();
		snap.raise(new SnapshotEvent.Overflow(1, 8 * MIB, 8 * MIB, 0));
		answered(w, 1);
		SnapshotBrokenException e = assertThrows(SnapshotBrokenException.class, w::checkNotBroken);
		assertEquals("snapshot 3 of /dev/vdb1, /dev/vdb2 broke (ENOSPC: the difference storage overflowed; "
				+ "storage 8.0 MiB used of 8.0 MiB): no point was recorded; give it more storage (--storage-limit, "
				+ "--extra-storage) and retry", e.getMessage());
		// Nothing follows a break: the watcher ends without waiting for the snapshot's destroy.
		long t0 = System.nanoTime();
		w.close();
		assertTrue(System.nanoTime() - t0 < StorageWatcher.WAIT.toNanos() / 2, "close waited for a wait");
		assertThrows(SnapshotBrokenException.class, w::checkNotBroken, "the break stays");
	}

	@Test
	void aCorruptedSnapshotNamesTheDeviceWhoseCopyFailed() throws Exception {
		FakeSnapshot snap = new FakeSnapshot();
		try (StorageWatcher w = StorageWatcher.start(snap, 3, TWO, List.of(), line -> {
		})) {
			snap.raise(new SnapshotEvent.Corrupted(5, "EIO", Optional.of(VDB2), 1, MIB, 8 * MIB, 0));
			answered(w, 1);
			SnapshotBrokenException e = assertThrows(SnapshotBrokenException.class, w::checkNotBroken);
			assertEquals("snapshot 3 of /dev/vdb1, /dev/vdb2 broke (EIO: an I/O error on the storage or the device, "
					+ "on /dev/vdb2; storage 1.0 MiB used of 8.0 MiB): no point was recorded; retry", e.getMessage());
		}
	}

	@Test
	void destroyEndsTheWatcherAtOnce() throws Exception {
		FakeSnapshot snap = new FakeSnapshot();
		StorageWatcher w = StorageWatcher.start(snap, 3, DEVICES, List.of(), line -> {
		});
		snap.destroy();
		long t0 = System.nanoTime();
		w.close();
		assertTrue(System.nanoTime() - t0 < StorageWatcher.WAIT.toNanos() / 2, "close waited for a wait");
		assertEquals(List.of(), w.answers());
		assertTrue(w.failure().isEmpty());
	}

	@Test
	void closeEndsAWatcherWhoseSnapshotLivesWithinOneWait() throws Exception {
		FakeSnapshot snap = new FakeSnapshot();
		StorageWatcher w = StorageWatcher.start(snap, 3, DEVICES, List.of(), line -> {
		});
		while (snap.waits == 0)
			Thread.sleep(1);
		long t0 = System.nanoTime();
		w.close();
		assertTrue(System.nanoTime() - t0 < StorageWatcher.WAIT.toNanos() + 500_000_000L, "close took too long");
		w.checkNotBroken();
	}

	@Test
	void aFailedWaitIsKeptAndEndsTheWatcher() throws Exception {
		StorageWatcher.Target failing = new StorageWatcher.Target() {
			@Override
			public Optional<SnapshotEvent> waitEvent(Duration timeout) throws BlksnapException {
				throw BlksnapException.fromSnapshotErrno("snapshot wait-event 3", 22);
			}

			@Override
			public void addStorage(Path storage, long limit) {
				throw new AssertionError("no event, no storage");
			}
		};
		List<String> log = new java.util.concurrent.CopyOnWriteArrayList<>();
		StorageWatcher w = StorageWatcher.start(failing, 3, DEVICES, List.of(), log::add);
		long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
		while (w.failure().isEmpty())
			assertTrue(System.nanoTime() < deadline, "the failed wait was not kept");
		w.close();
		assertEquals(1, log.size(), log.toString());
		assertTrue(log.getFirst().startsWith("the events of snapshot 3 cannot be read (snapshot wait-event 3: "),
				log.toString());
		w.checkNotBroken();
	}
}
