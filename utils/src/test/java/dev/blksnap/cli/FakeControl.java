// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

import dev.blksnap.BlksnapException;
import dev.blksnap.CbtInfo;
import dev.blksnap.CbtMap;
import dev.blksnap.Checkpoint;
import dev.blksnap.DeviceId;
import dev.blksnap.ModuleVersion;
import dev.blksnap.SectorRange;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * An in-memory module that follows the contract of include/uapi/linux/blksnap.h:
 * attach starts a generation at change number 1, writes store the current
 * number per block, checkpoint closes it and wraps into a new generation
 * after 255, mark-dirty checks every range before marking any. Thread-safe
 * (a backup's event watcher calls it from its own thread): one monitor.
 */
final class FakeControl implements Control {

	static final int BLOCK_SIZE = 64 * 1024;

	/** A tracked device's map. */
	static final class Tracker {
		final long capacitySectors;
		final byte[] map;
		UUID generation = UUID.randomUUID();
		int changesNumber = 1;
		boolean corrupted;
		final BitSet holes = new BitSet();

		Tracker(long capacitySectors) {
			this.capacitySectors = capacitySectors;
			this.map = new byte[(int) Math.ceilDiv(capacitySectors * 512, BLOCK_SIZE)];
		}
	}

	/** Block devices that exist, with their capacity in sectors. */
	final Map<DeviceId, Long> devices = new LinkedHashMap<>();
	final Map<DeviceId, Tracker> trackers = new LinkedHashMap<>();
	ModuleVersion version = new ModuleVersion(1, 0, 0, 1L);
	int opens;
	int closes;
	/** When set, every operation fails with it. */
	BlksnapException failure;

	FakeControl device(DeviceId dev, long capacitySectors) {
		devices.put(dev, capacitySectors);
		return this;
	}

	/** Records a write of {@code length} bytes at {@code offset}, as the module's filter would. */
	void write(DeviceId dev, long offset, long length) {
		Tracker t = trackers.get(dev);
		if (t == null)
			return;
		for (long b = offset / BLOCK_SIZE; b < Math.ceilDiv(offset + length, BLOCK_SIZE); b++) {
			t.map[(int) b] = (byte) t.changesNumber;
			t.holes.clear((int) b);
		}
	}

	/** Records a discard of whole blocks, as the module would: marked, and holes. */
	void discard(DeviceId dev, long offset, long length) {
		write(dev, offset, length);
		trackers.get(dev).holes.set((int) (offset / BLOCK_SIZE), (int) ((offset + length) / BLOCK_SIZE));
	}

	Control.Opener opener() {
		return () -> {
			opens++;
			return this;
		};
	}

	private void check() throws BlksnapException {
		if (failure != null)
			throw failure;
	}

	private Tracker tracker(String op, DeviceId dev) throws BlksnapException {
		check();
		Tracker t = trackers.get(dev);
		if (t == null)
			throw Failures.notTracked(op + " " + dev);
		return t;
	}

	@Override
	public synchronized ModuleVersion version() throws BlksnapException {
		check();
		return version;
	}

	@Override
	public synchronized void attach(DeviceId dev) throws BlksnapException {
		check();
		Long capacity = devices.get(dev);
		if (capacity == null)
			throw Failures.noSuchDevice("tracker attach " + dev);
		if (trackers.containsKey(dev))
			throw Failures.alreadyTracked("tracker attach " + dev);
		trackers.put(dev, new Tracker(capacity));
	}

	@Override
	public synchronized void detach(DeviceId dev) throws BlksnapException {
		tracker("tracker detach", dev);
		trackers.remove(dev);
	}

	@Override
	public synchronized List<DeviceId> trackers() throws BlksnapException {
		check();
		return List.copyOf(trackers.keySet());
	}

	@Override
	public synchronized CbtInfo cbtInfo(DeviceId dev) throws BlksnapException {
		Tracker t = tracker("cbt info", dev);
		return new CbtInfo(dev, t.capacitySectors, BLOCK_SIZE, t.map.length, t.generation, t.changesNumber,
				t.corrupted);
	}

	@Override
	public synchronized CbtMap readMap(DeviceId dev) throws BlksnapException {
		CbtInfo info = cbtInfo(dev);
		return new CbtMap(info, trackers.get(dev).map.clone(), trackers.get(dev).holes);
	}

	@Override
	public synchronized void markDirty(DeviceId dev, List<SectorRange> ranges) throws BlksnapException {
		Tracker t = tracker("cbt mark-dirty", dev);
		for (SectorRange r : ranges) {
			if (r.offset() + r.count() > t.capacitySectors)
				throw Failures.invalid("cbt mark-dirty " + dev);
		}
		for (SectorRange r : ranges)
			write(dev, r.offset() * 512, r.count() * 512);
	}

	@Override
	public synchronized Checkpoint checkpoint(DeviceId dev) throws BlksnapException {
		Tracker t = tracker("cbt checkpoint", dev);
		int closed = t.changesNumber;
		if (t.changesNumber == 255) {
			java.util.Arrays.fill(t.map, (byte) 0);
			t.generation = UUID.randomUUID();
			t.changesNumber = 1;
		} else {
			t.changesNumber++;
		}
		return new Checkpoint(dev, t.generation, closed, t.changesNumber);
	}

	/** A snapshot of the fake module. */
	static final class Snap {
		final long id;
		final java.nio.file.Path storage;
		/** Storages added after create. */
		final List<java.nio.file.Path> added = new ArrayList<>();
		long limit;
		final boolean keep;
		final boolean writable;
		final List<DeviceId> devices = new ArrayList<>();
		boolean taken;
		int error;

		Snap(long id, java.nio.file.Path storage, long limit, boolean keep, boolean writable) {
			this.id = id;
			this.storage = storage;
			this.limit = limit;
			this.keep = keep;
			this.writable = writable;
		}
	}

	final Map<Long, Snap> snapshots = new LinkedHashMap<>();
	/** Image device numbers, in order of devices taken: major 252, minor from 0. */
	int nextImage;
	long nextSnapshot = 1;
	/** Called at take with each device, e.g. to copy its content as the image. */
	java.util.function.BiConsumer<DeviceId, DeviceId> onTake = (origin, image) -> {
	};
	final Map<DeviceId, DeviceId> images = new LinkedHashMap<>();

	private Snap snap(String op, long id) throws BlksnapException {
		check();
		Snap s = snapshots.get(id);
		if (s == null)
			throw BlksnapException.fromSnapshotErrno(op + " " + id, Failures.ENOENT);
		return s;
	}

	@Override
	public synchronized long createSnapshot(java.nio.file.Path storage, long limit, boolean keep, boolean writable)
			throws BlksnapException {
		check();
		Snap s = new Snap(nextSnapshot++, storage, limit, keep, writable);
		snapshots.put(s.id, s);
		return s.id;
	}

	@Override
	public synchronized void addToSnapshot(long id, DeviceId dev) throws BlksnapException {
		Snap s = snap("snapshot add", id);
		if (s.taken)
			throw BlksnapException.fromSnapshotErrno("snapshot add " + id, Failures.EALREADY);
		if (!devices.containsKey(dev))
			throw Failures.noSuchDevice("snapshot add " + id + " " + dev);
		for (Snap o : snapshots.values()) {
			if (o.devices.contains(dev))
				throw BlksnapException.fromSnapshotErrno("snapshot add " + id + " " + dev, Failures.EBUSY);
		}
		s.devices.add(dev);
		if (!trackers.containsKey(dev))
			trackers.put(dev, new Tracker(devices.get(dev)));
	}

	@Override
	public synchronized void addSnapshotStorage(long id, java.nio.file.Path storage, long limit) throws BlksnapException {
		Snap s = snap("snapshot add-storage", id);
		String op = "snapshot add-storage " + id + " " + storage;
		if (s.error != 0)
			throw BlksnapException.fromSnapshotErrno(op, Failures.EALREADY);
		for (Snap o : snapshots.values()) {
			if (o.storage.equals(storage) || o.added.contains(storage))
				throw BlksnapException.fromSnapshotErrno(op, Failures.EBUSY);
		}
		s.added.add(storage);
		s.limit += limit;
	}

	@Override
	public synchronized dev.blksnap.TakeResult takeSnapshot(long id, boolean noFreeze) throws BlksnapException {
		Snap s = snap("snapshot take", id);
		if (s.taken)
			throw BlksnapException.fromSnapshotErrno("snapshot take " + id, Failures.EALREADY);
		s.taken = true;
		for (DeviceId d : s.devices) {
			DeviceId image = new DeviceId(252, nextImage++);
			images.put(d, image);
			onTake.accept(d, image);
		}
		return new dev.blksnap.TakeResult(1500, noFreeze ? 0 : 3000, noFreeze ? 0 : s.devices.size(), 0);
	}

	/** The closed number take gave a device: the checkpoint taken at take. */
	final Map<DeviceId, Integer> closedAtTake = new LinkedHashMap<>();

	@Override
	public synchronized dev.blksnap.SnapshotInfo snapshotInfo(long id) throws BlksnapException {
		if (infoWaitsForEvents)
			awaitEventsRead(id);
		Snap s = snap("snapshot info", id);
		List<dev.blksnap.SnapshotDevice> list = new ArrayList<>();
		for (DeviceId d : s.devices) {
			Tracker t = trackers.get(d);
			if (s.taken && !closedAtTake.containsKey(d))
				closedAtTake.put(d, checkpoint(d).closedNumber());
			list.add(new dev.blksnap.SnapshotDevice(d, java.util.Optional.ofNullable(s.taken ? images.get(d) : null),
					devices.get(d), 65536, s.error, 0, t.generation, closedAtTake.getOrDefault(d, 0),
					s.taken ? dev.blksnap.FreezeState.FROZEN : dev.blksnap.FreezeState.NONE, 0, 0, 0, 0));
		}
		return new dev.blksnap.SnapshotInfo(id, s.error != 0 ? dev.blksnap.SnapshotState.BROKEN
				: s.taken ? dev.blksnap.SnapshotState.TAKEN : dev.blksnap.SnapshotState.CREATED, s.error, s.keep,
				s.writable, dev.blksnap.StorageKind.TMPFILE, new DeviceId(254, 0), 0, s.limit, s.limit, list);
	}

	@Override
	public synchronized List<Long> snapshots() throws BlksnapException {
		check();
		return List.copyOf(snapshots.keySet());
	}

	@Override
	public synchronized void destroySnapshot(long id) throws BlksnapException {
		snap("snapshot destroy", id);
		Snap s = snapshots.remove(id);
		for (DeviceId d : s.devices)
			closedAtTake.remove(d);
		notifyAll(); // ends a wait, as destroy does
	}

	/** Events WAIT_EVENT returns, per snapshot, oldest first; and the timeouts it was asked to wait. */
	final Map<Long, java.util.ArrayDeque<dev.blksnap.SnapshotEvent>> events = new LinkedHashMap<>();
	final List<java.time.Duration> waits = new ArrayList<>();
	/**
	 * When set, SNAPSHOT_INFO waits until the snapshot's events were read: a
	 * backup's watcher then answers them before the backup ends.
	 */
	boolean infoWaitsForEvents;

	/** Queues an event for a snapshot, as the module raises one. */
	synchronized void raise(long id, dev.blksnap.SnapshotEvent e) {
		events.computeIfAbsent(id, k -> new java.util.ArrayDeque<>()).add(e);
		notifyAll();
	}

	private void awaitEventsRead(long id) {
		long deadline = System.nanoTime() + 10_000_000_000L;
		while (events.containsKey(id) && !events.get(id).isEmpty() && System.nanoTime() < deadline) {
			try {
				wait(10);
			} catch (InterruptedException e) {
				Thread.currentThread().interrupt();
				return;
			}
		}
	}

	/** Waits a little (at most the timeout, 20 ms) when none is queued, as a wait would; destroy ends it. */
	@Override
	public synchronized java.util.Optional<dev.blksnap.SnapshotEvent> waitSnapshotEvent(long id,
			java.time.Duration timeout) throws BlksnapException {
		snap("snapshot wait-event", id);
		if (timeout.isNegative() || timeout.compareTo(java.time.Duration.ofHours(1)) > 0)
			throw new IllegalArgumentException("timeout " + timeout);
		waits.add(timeout);
		var queue = events.get(id);
		if ((queue == null || queue.isEmpty()) && !timeout.isZero()) {
			try {
				wait(Math.max(1, Math.min(20, timeout.toMillis())));
			} catch (InterruptedException e) {
				Thread.currentThread().interrupt();
			}
			snap("snapshot wait-event", id);
			queue = events.get(id);
		}
		java.util.Optional<dev.blksnap.SnapshotEvent> e = java.util.Optional.ofNullable(queue == null ? null
				: queue.poll());
		notifyAll();
		return e;
	}

	@Override
	public void close() {
		closes++;
	}

	/** Every tracker, for assertions. */
	List<DeviceId> tracked() {
		return new ArrayList<>(trackers.keySet());
	}
}
