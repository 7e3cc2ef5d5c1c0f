// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * Mounts a file system and unmounts it: all that a journal replay
 * ({@link BackupOptions#replayJournal()}) asks of the system. The engine
 * makes the directory, calls {@link #unmount} on every path after a
 * successful {@link #mount}, and removes the directory; tests record the
 * calls instead of mounting.
 */
public interface Mounter {
	/**
	 * Mounts {@code device} read-write at {@code dir}.
	 *
	 * @param device  a block device holding a file system of {@code type}
	 * @param type    the file system type as mount(8) takes it
	 * @param options mount options (may be empty)
	 * @param dir     an empty directory
	 * @throws IOException when the mount failed; nothing is mounted then, and the
	 *                     message says why in one line
	 */
	void mount(Path device, String type, List<String> options, Path dir) throws IOException;

	/**
	 * Unmounts what {@link #mount} mounted at {@code dir}.
	 *
	 * @param dir the directory
	 * @throws IOException when it stays mounted
	 */
	void unmount(Path dir) throws IOException;

	/**
	 * @return mount(8) and umount(8)
	 */
	static Mounter system() {
		return new SystemMounter();
	}
}
