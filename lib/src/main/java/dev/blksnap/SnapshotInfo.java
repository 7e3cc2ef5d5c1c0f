// SPDX-License-Identifier: GPL-2.0
package dev.blksnap;

import java.util.List;
import java.util.Objects;

/**
 * The state of a snapshot and of its devices.
 *
 * @param id            the snapshot
 * @param state         where it is in its life
 * @param error         the errno that broke it (ENOSPC: storage overflow; EIO; ENOMEM; ENODEV:
 *                      an origin removed; ERANGE: an origin resized), else 0
 * @param keep          created to outlive its creator's control file
 * @param writable      created with writable images ({@link SnapshotOption#WRITABLE})
 * @param storageKind   what its difference storage is
 * @param storageDevice the storage block device, or the device of the file system holding the file
 * @param storageUsed   bytes of storage holding copied chunks
 * @param storageSize   bytes of storage reserved
 * @param storageLimit  bytes it may use
 * @param devices       its devices, in the order they were added
 */
public record SnapshotInfo(long id, SnapshotState state, int error, boolean keep, boolean writable,
		StorageKind storageKind,
		DeviceId storageDevice, long storageUsed, long storageSize, long storageLimit,
		List<SnapshotDevice> devices) {
	/**
	 * Copies the list.
	 *
	 * @throws NullPointerException when a reference is null
	 */
	public SnapshotInfo {
		Objects.requireNonNull(state, "state");
		Objects.requireNonNull(storageKind, "storageKind");
		Objects.requireNonNull(storageDevice, "storageDevice");
		devices = List.copyOf(devices);
	}

	/**
	 * @param origin a device
	 * @return its entry
	 * @throws java.util.NoSuchElementException when it is not in the snapshot
	 */
	public SnapshotDevice device(DeviceId origin) {
		return devices.stream().filter(d -> d.origin().equals(origin)).findFirst()
				.orElseThrow(() -> new java.util.NoSuchElementException(origin + " is not in snapshot " + id));
	}
}
