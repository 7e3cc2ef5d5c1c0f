// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;

/**
 * One device as a backup sees it at one instant: who it is, which of its
 * blocks changed (from changed-block tracking), and a readable image of its
 * content at that instant (a snapshot image). The CLI builds these from a
 * blksnap snapshot; tests build them from files and a made-up change map.
 */
public interface DeviceSource {
	/**
	 * Who the device is; {@link DeviceIdentity#name()} keys its points in the
	 * repository.
	 *
	 * @return the identity, including the size of the image
	 */
	DeviceIdentity identity();

	/**
	 * The change map as of the instant of the image: every block written
	 * before the instant carries a number no greater than
	 * {@link ChangeMap#closedNumber()}.
	 *
	 * @return the map, or empty when the device is not tracked (only full backups then)
	 */
	Optional<ChangeMap> changes();

	/**
	 * Opens the image for reading; closed by the caller.
	 *
	 * @return a reader of {@code identity().sizeBytes()} bytes
	 * @throws IOException when it cannot be opened
	 */
	ImageReader openImage() throws IOException;

	/**
	 * Checks that the image still shows the instant, after all reads: a
	 * snapshot that overflowed or lost its device fails here even when the
	 * reads happened to succeed.
	 *
	 * @throws SnapshotBrokenException when the image can no longer be trusted
	 * @throws IOException             when the state cannot be determined
	 */
	void checkIntact() throws IOException;

	/**
	 * Throws when the source already knows that its image broke (for
	 * example from a snapshot event that a watcher read): called between
	 * the chunks of a copy, so that the copy stops at once. Cheap, no I/O;
	 * by default the image is not known to be broken, and only
	 * {@link #checkIntact()} at the end can tell.
	 *
	 * @throws SnapshotBrokenException when the image can no longer be trusted
	 */
	default void checkNotBroken() throws SnapshotBrokenException {
	}

	/**
	 * The image as a block device a file system can be mounted from, for
	 * {@link BackupOptions#replayJournal()}.
	 *
	 * @return its path, or empty when the image is no such device
	 */
	default Optional<Path> imageDevice() {
		return Optional.empty();
	}
}
