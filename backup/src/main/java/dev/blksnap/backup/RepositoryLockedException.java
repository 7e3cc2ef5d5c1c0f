// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

/**
 * Another backup holds the repository's lock: the second one is refused, never interleaved.
 */
public final class RepositoryLockedException extends BackupException {
	private static final long serialVersionUID = 1L;

	/**
	 * @param message one line: what and what to do
	 * @param cause   the underlying failure, or null
	 */
	public RepositoryLockedException(String message, Throwable cause) {
		super(message, cause);
	}
}
