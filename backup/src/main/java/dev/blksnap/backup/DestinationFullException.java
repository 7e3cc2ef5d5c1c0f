// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

/**
 * The repository's file system ran out of space: the point being written was removed, earlier points are intact.
 */
public final class DestinationFullException extends BackupException {
	private static final long serialVersionUID = 1L;

	/**
	 * @param message one line: what and what to do
	 * @param cause   the underlying failure, or null
	 */
	public DestinationFullException(String message, Throwable cause) {
		super(message, cause);
	}
}
