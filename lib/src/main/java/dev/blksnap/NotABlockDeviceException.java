// SPDX-License-Identifier: GPL-2.0
package dev.blksnap;

import java.nio.file.Path;

/** A path given as a block device names something else (a file, a directory, a character device). */
public final class NotABlockDeviceException extends IllegalArgumentException {
	private static final long serialVersionUID = 1L;

	/** The path (a string, so the exception stays serializable). */
	private final String path;

	/**
	 * Creates the exception.
	 *
	 * @param path the offending path
	 */
	public NotABlockDeviceException(Path path) {
		super(path + ": not a block device");
		this.path = path.toString();
	}

	/**
	 * The offending path.
	 *
	 * @return the path as given
	 */
	public Path path() {
		return Path.of(path);
	}
}
