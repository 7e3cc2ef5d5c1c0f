// SPDX-License-Identifier: GPL-2.0
package dev.blksnap;

/**
 * The module rejected the request's contents (EINVAL, ERANGE, E2BIG, EFAULT): a bad
 * argument, a range past the end of the device or map, too many ranges, or a bad buffer.
 */
public final class InvalidRequestException extends BlksnapException {
	private static final long serialVersionUID = 1L;

	/**
	 * Creates the exception; see {@link BlksnapException#fromErrno(String, int)}.
	 *
	 * @param operation what was attempted, for example {@code "tracker attach 8:16"}
	 * @param errno     the positive errno value
	 * @param problem   what went wrong, for example {@code "already attached"}
	 * @param hint      what the user can do about it
	 */
	public InvalidRequestException(String operation, int errno, String problem, String hint) {
		super(operation, errno, problem, hint);
	}
}
