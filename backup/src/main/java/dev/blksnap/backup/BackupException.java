// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

import java.io.IOException;

/**
 * A backup, restore or verify failed in a way a caller may want to tell
 * apart from other I/O errors. Messages are one line and say what to do.
 */
public sealed class BackupException extends IOException permits RepositoryLockedException, NoSuchPointException,
		DamagedPointException, SnapshotBrokenException, DestinationFullException, ReplayFailedException {
	private static final long serialVersionUID = 1L;

	BackupException(String message, Throwable cause) {
		super(message, cause);
	}
}
