// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

import java.nio.file.Path;

/**
 * What a restore did.
 *
 * @param device         the device's name
 * @param id             the point restored
 * @param target         where to
 * @param sizeBytes      bytes of the device image
 * @param bytesRead      bytes read from the point's chain
 * @param bytesWritten   bytes written to the target
 * @param zeroBytes      bytes that read zeros: holes in a file, skipped or zeroed on a device
 * @param durationMillis how long
 */
public record RestoreResult(String device, String id, Path target, long sizeBytes, long bytesRead,
		long bytesWritten, long zeroBytes, long durationMillis) {
}
