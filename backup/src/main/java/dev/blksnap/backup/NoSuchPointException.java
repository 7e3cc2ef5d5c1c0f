// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

/**
 * The repository has no such point, or no point of that device.
 */
public final class NoSuchPointException extends BackupException {
	private static final long serialVersionUID = 1L;

	/**
	 * @param message one line: what and what to do
	 * @param cause   the underlying failure, or null
	 */
	public NoSuchPointException(String message, Throwable cause) {
		super(message, cause);
	}
}
