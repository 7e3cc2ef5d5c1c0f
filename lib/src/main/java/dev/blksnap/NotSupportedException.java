// SPDX-License-Identifier: GPL-2.0
package dev.blksnap;

/**
 * The device or storage cannot be used for a snapshot (EOPNOTSUPP): a DAX or zoned device, a snapshot image, or a storage file system without the needed operations.
 */
public final class NotSupportedException extends BlksnapException {
	private static final long serialVersionUID = 1L;

	/**
	 * Creates the exception; see {@link BlksnapException#fromSnapshotErrno(String, int)}.
	 *
	 * @param operation what was attempted, for example {@code "snapshot take 3"}
	 * @param errno     the positive errno value
	 * @param problem   what went wrong
	 * @param hint      what the user can do about it
	 */
	public NotSupportedException(String operation, int errno, String problem, String hint) {
		super(operation, errno, problem, hint);
	}
}
