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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * An in-memory module that follows the contract of include/uapi/linux/blksnap.h:
 * attach starts a generation at change number 1, writes store the current
 * number per block, checkpoint closes it and wraps into a new generation
 * after 255, mark-dirty checks every range before marking any.
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
		for (long b = offset / BLOCK_SIZE; b < Math.ceilDiv(offset + length, BLOCK_SIZE); b++)
			t.map[(int) b] = (byte) t.changesNumber;
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
	public ModuleVersion version() throws BlksnapException {
		check();
		return version;
	}

	@Override
	public void attach(DeviceId dev) throws BlksnapException {
		check();
		Long capacity = devices.get(dev);
		if (capacity == null)
			throw Failures.noSuchDevice("tracker attach " + dev);
		if (trackers.containsKey(dev))
			throw Failures.alreadyTracked("tracker attach " + dev);
		trackers.put(dev, new Tracker(capacity));
	}

	@Override
	public void detach(DeviceId dev) throws BlksnapException {
		tracker("tracker detach", dev);
		trackers.remove(dev);
	}

	@Override
	public List<DeviceId> trackers() throws BlksnapException {
		check();
		return List.copyOf(trackers.keySet());
	}

	@Override
	public CbtInfo cbtInfo(DeviceId dev) throws BlksnapException {
		Tracker t = tracker("cbt info", dev);
		return new CbtInfo(dev, t.capacitySectors, BLOCK_SIZE, t.map.length, t.generation, t.changesNumber,
				t.corrupted);
	}

	@Override
	public CbtMap readMap(DeviceId dev) throws BlksnapException {
		CbtInfo info = cbtInfo(dev);
		return new CbtMap(info, trackers.get(dev).map.clone());
	}

	@Override
	public void markDirty(DeviceId dev, List<SectorRange> ranges) throws BlksnapException {
		Tracker t = tracker("cbt mark-dirty", dev);
		for (SectorRange r : ranges) {
			if (r.offset() + r.count() > t.capacitySectors)
				throw Failures.invalid("cbt mark-dirty " + dev);
		}
		for (SectorRange r : ranges)
			write(dev, r.offset() * 512, r.count() * 512);
	}

	@Override
	public Checkpoint checkpoint(DeviceId dev) throws BlksnapException {
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

	@Override
	public void close() {
		closes++;
	}

	/** Every tracker, for assertions. */
	List<DeviceId> tracked() {
		return new ArrayList<>(trackers.keySet());
	}
}
