// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

/**
 * {@link BackupOptions#replayJournal()}: mounting an image to replay its
 * journal failed, or it still needed recovery after. Nothing is mounted and
 * nothing was recorded.
 */
public final class ReplayFailedException extends BackupException {
	private static final long serialVersionUID = 1L;

	/**
	 * @param message one line: which device, what failed and what to do
	 * @param cause   the underlying failure, or null
	 */
	public ReplayFailedException(String message, Throwable cause) {
		super(message, cause);
	}
}
