// SPDX-License-Identifier: GPL-2.0
package dev.blksnap;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * A snapshot this program created; {@link #close()} destroys it. The module
 * also destroys it when the control device that created it is closed (unless
 * it was created to be kept), so a crashed program leaves nothing behind.
 *
 * <pre>{@code
 * try (BlksnapControl ctl = BlksnapControl.open();
 *      Snapshot snap = ctl.createSnapshot(Path.of("/var/tmp"), 1L << 30, false)) {
 *     snap.add(DeviceId.of(Path.of("/dev/sdb")));
 *     snap.take(false);
 *     SnapshotInfo info = snap.info(); // image devices, closed CBT numbers
 *     // ... read the images ...
 * } // destroyed here, on success and on failure
 * }</pre>
 */
public final class Snapshot implements AutoCloseable {
	private final BlksnapControl control;
	private final long id;
	private boolean destroyed;

	Snapshot(BlksnapControl control, long id) {
		this.control = control;
		this.id = id;
	}

	/** @return the module's identifier of this snapshot */
	public long id() {
		return id;
	}

	/**
	 * Adds a device; before {@link #take}.
	 *
	 * @param dev the device
	 * @throws BlksnapException see {@link BlksnapControl#addToSnapshot(long, DeviceId)}
	 */
	public void add(DeviceId dev) throws BlksnapException {
		control.addToSnapshot(id, dev);
	}

	/**
	 * Gives the snapshot more difference storage, taken or not.
	 *
	 * @param storage a block device, a regular file or a directory
	 * @param limit   bytes of it to use; 0 for the whole device or file
	 * @throws BlksnapException see {@link BlksnapControl#addSnapshotStorage(long, Path, long)}
	 */
	public void addStorage(Path storage, long limit) throws BlksnapException {
		control.addSnapshotStorage(id, storage, limit);
	}

	/**
	 * Adds devices in order.
	 *
	 * @param devs the devices
	 * @throws BlksnapException when one cannot be added (the earlier ones stay added)
	 */
	public void addAll(List<DeviceId> devs) throws BlksnapException {
		for (DeviceId d : devs)
			add(d);
	}

	/**
	 * Takes it: the instant is now.
	 *
	 * @param noFreeze do not freeze file systems (the images are then crash-consistent)
	 * @return what take did
	 * @throws BlksnapException see {@link BlksnapControl#takeSnapshot(long, boolean)}
	 */
	public TakeResult take(boolean noFreeze) throws BlksnapException {
		return control.takeSnapshot(id, noFreeze);
	}

	/**
	 * Waits for its next event (low free space, overflow, broken).
	 *
	 * @param timeout how long to wait, at most one hour; zero does not wait
	 * @return the event, or empty when none came in time
	 * @throws BlksnapException see {@link BlksnapControl#waitSnapshotEvent(long, Duration)}
	 */
	public Optional<SnapshotEvent> waitEvent(Duration timeout) throws BlksnapException {
		return control.waitSnapshotEvent(id, timeout);
	}

	/**
	 * @return its state and devices
	 * @throws BlksnapException see {@link BlksnapControl#snapshotInfo(long)}
	 */
	public SnapshotInfo info() throws BlksnapException {
		return control.snapshotInfo(id);
	}

	/**
	 * Destroys it now; later calls do nothing.
	 *
	 * @throws BlksnapException when the module refuses (it was already destroyed: not an error)
	 */
	public void destroy() throws BlksnapException {
		if (destroyed)
			return;
		destroyed = true;
		try {
			control.destroySnapshot(id);
		} catch (NoSuchSnapshotException gone) {
			// destroyed by someone else: the outcome asked for
		}
	}

	/**
	 * Destroys it, as {@link #destroy()}.
	 *
	 * @throws BlksnapException when the module refuses
	 */
	@Override
	public void close() throws BlksnapException {
		destroy();
	}

	@Override
	public String toString() {
		return "Snapshot[" + id + (destroyed ? ", destroyed" : "") + "]";
	}
}
