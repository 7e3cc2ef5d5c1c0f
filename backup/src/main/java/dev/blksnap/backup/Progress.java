// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

/**
 * Progress of a copy, for a progress bar. Calls come from one thread.
 */
public interface Progress {
	/** Reports nothing. */
	Progress NONE = new Progress() {
	};

	/**
	 * A copy starts.
	 *
	 * @param task  what, for example {@code "vdb full"}
	 * @param bytes bytes it will process
	 */
	default void begin(String task, long bytes) {
	}

	/**
	 * @param bytes processed since the last call
	 */
	default void advance(long bytes) {
	}

	/** The copy ended, successfully or not. */
	default void end() {
	}
}
