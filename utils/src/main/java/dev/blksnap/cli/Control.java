// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

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
import java.util.Optional;

/**
 * The operations of the kernel module the commands use. {@link LibControl}
 * forwards them to {@link dev.blksnap.BlksnapControl}; tests give the commands
 * an in-memory implementation so they run without the module.
 */
public interface Control extends AutoCloseable {

	ModuleVersion version() throws BlksnapException;

	void attach(DeviceId dev) throws BlksnapException;

	void detach(DeviceId dev) throws BlksnapException;

	List<DeviceId> trackers() throws BlksnapException;

	CbtInfo cbtInfo(DeviceId dev) throws BlksnapException;

	CbtMap readMap(DeviceId dev) throws BlksnapException;

	void markDirty(DeviceId dev, List<SectorRange> ranges) throws BlksnapException;

	Checkpoint checkpoint(DeviceId dev) throws BlksnapException;

	/** Creates a snapshot with read-only images; returns its id. Without {@code keep} it ends with this control. */
	default long createSnapshot(Path storage, long limit, boolean keep) throws BlksnapException {
		return createSnapshot(storage, limit, keep, false);
	}

	/** Creates a snapshot, its images {@code writable} or read-only; returns its id. */
	long createSnapshot(Path storage, long limit, boolean keep, boolean writable) throws BlksnapException;

	void addToSnapshot(long id, DeviceId dev) throws BlksnapException;

	/** More difference storage for a snapshot, taken or not. */
	void addSnapshotStorage(long id, Path storage, long limit) throws BlksnapException;

	TakeResult takeSnapshot(long id, boolean noFreeze) throws BlksnapException;

	SnapshotInfo snapshotInfo(long id) throws BlksnapException;

	List<Long> snapshots() throws BlksnapException;

	void destroySnapshot(long id) throws BlksnapException;

	/** The snapshot's next event, waiting at most {@code timeout} (one hour at most); empty when none came. */
	Optional<SnapshotEvent> waitSnapshotEvent(long id, Duration timeout) throws BlksnapException;

	@Override
	void close();

	/** Opens a {@link Control}; called once per command, after parsing. */
	@FunctionalInterface
	interface Opener {
		Control open() throws BlksnapException;
	}
}
