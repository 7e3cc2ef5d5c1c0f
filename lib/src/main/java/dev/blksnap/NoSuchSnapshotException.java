// SPDX-License-Identifier: GPL-2.0
package dev.blksnap;

/**
 * No snapshot has that identifier (ENOENT from a snapshot ioctl): it was destroyed, or its creator's control file was closed.
 */
public final class NoSuchSnapshotException extends BlksnapException {
	private static final long serialVersionUID = 1L;

	/**
	 * Creates the exception; see {@link BlksnapException#fromSnapshotErrno(String, int)}.
	 *
	 * @param operation what was attempted, for example {@code "snapshot take 3"}
	 * @param errno     the positive errno value
	 * @param problem   what went wrong
	 * @param hint      what the user can do about it
	 */
	public NoSuchSnapshotException(String operation, int errno, String problem, String hint) {
		super(operation, errno, problem, hint);
	}
}
