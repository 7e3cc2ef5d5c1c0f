// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

/**
 * The change map exists but cannot answer the question: it is flagged
 * corrupted, or it belongs to another generation than the caller's last
 * backup. Either way the caller must take a full backup.
 */
public final class MapUnusableException extends Exception {

	private static final long serialVersionUID = 1L;

	public MapUnusableException(String message) {
		super(message);
	}
}
