// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

/**
 * A point's file or manifest is missing, or its data no longer matches the checksums recorded when it was written.
 */
public final class DamagedPointException extends BackupException {
	private static final long serialVersionUID = 1L;

	/**
	 * @param message one line: what and what to do
	 * @param cause   the underlying failure, or null
	 */
	public DamagedPointException(String message, Throwable cause) {
		super(message, cause);
	}
}
