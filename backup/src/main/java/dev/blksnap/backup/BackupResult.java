// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

import java.util.List;

/**
 * The points one backup run committed, one per device, all from one instant.
 *
 * @param id             their id
 * @param points         in the order of the sources
 * @param durationMillis from the start of the first copy to the last commit
 */
public record BackupResult(String id, List<Point> points, long durationMillis) {
	/** Copies the list. */
	public BackupResult {
		points = List.copyOf(points);
	}
}
