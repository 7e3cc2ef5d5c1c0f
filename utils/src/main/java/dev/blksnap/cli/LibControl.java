// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

import dev.blksnap.BlksnapControl;
import dev.blksnap.BlksnapException;
import dev.blksnap.CbtInfo;
import dev.blksnap.CbtMap;
import dev.blksnap.Checkpoint;
import dev.blksnap.DeviceId;
import dev.blksnap.ModuleVersion;
import dev.blksnap.SectorRange;
import dev.blksnap.SnapshotEvent;
import dev.blksnap.SnapshotInfo;
import dev.blksnap.TakeResult;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/** {@link Control} over the real control device, through the library. */
final class LibControl implements Control {

	private final BlksnapControl control;

	private LibControl(BlksnapControl control) {
		this.control = Objects.requireNonNull(control);
	}

	/** Opens {@code path}; {@code ModuleNotLoadedException} when it is missing. */
	static Control open(Path path) throws BlksnapException {
		return new LibControl(BlksnapControl.open(path));
	}

	@Override
	public ModuleVersion version() throws BlksnapException {
		return control.version();
	}

	@Override
	public void attach(DeviceId dev) throws BlksnapException {
		control.attach(dev);
	}

	@Override
	public void detach(DeviceId dev) throws BlksnapException {
		control.detach(dev);
	}

	@Override
	public List<DeviceId> trackers() throws BlksnapException {
		return control.trackers();
	}

	@Override
	public CbtInfo cbtInfo(DeviceId dev) throws BlksnapException {
		return control.cbtInfo(dev);
	}

	@Override
	public CbtMap readMap(DeviceId dev) throws BlksnapException {
		return control.readMap(dev);
	}

	@Override
	public void markDirty(DeviceId dev, List<SectorRange> ranges) throws BlksnapException {
		control.markDirty(dev, ranges);
	}

	@Override
	public Checkpoint checkpoint(DeviceId dev) throws BlksnapException {
		return control.checkpoint(dev);
	}

	@Override
	public long createSnapshot(Path storage, long limit, boolean keep, boolean writable) throws BlksnapException {
		java.util.EnumSet<dev.blksnap.SnapshotOption> options = java.util.EnumSet.noneOf(dev.blksnap.SnapshotOption.class);
		if (keep)
			options.add(dev.blksnap.SnapshotOption.KEEP);
		if (writable)
			options.add(dev.blksnap.SnapshotOption.WRITABLE);
		// Not closed here: the snapshot lives until destroyed, or until this control closes.
		return control.createSnapshot(storage, limit, options).id();
	}

	@Override
	public void addToSnapshot(long id, DeviceId dev) throws BlksnapException {
		control.addToSnapshot(id, dev);
	}

	@Override
	public void addSnapshotStorage(long id, Path storage, long limit) throws BlksnapException {
		control.addSnapshotStorage(id, storage, limit);
	}

	@Override
	public TakeResult takeSnapshot(long id, boolean noFreeze) throws BlksnapException {
		return control.takeSnapshot(id, noFreeze);
	}

	@Override
	public SnapshotInfo snapshotInfo(long id) throws BlksnapException {
		return control.snapshotInfo(id);
	}

	@Override
	public List<Long> snapshots() throws BlksnapException {
		return control.snapshots();
	}

	@Override
	public void destroySnapshot(long id) throws BlksnapException {
		control.destroySnapshot(id);
	}

	@Override
	public Optional<SnapshotEvent> waitSnapshotEvent(long id, Duration timeout) throws BlksnapException {
		return control.waitSnapshotEvent(id, timeout);
	}

	@Override
	public void close() {
		control.close();
	}
}
