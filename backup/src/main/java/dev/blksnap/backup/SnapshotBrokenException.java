// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

/**
 * The snapshot broke while it was read (difference storage overflow, device gone): no point was recorded.
 */
public final class SnapshotBrokenException extends BackupException {
	private static final long serialVersionUID = 1L;

	/**
	 * @param message one line: what and what to do
	 * @param cause   the underlying failure, or null
	 */
	public SnapshotBrokenException(String message, Throwable cause) {
		super(message, cause);
	}
}
