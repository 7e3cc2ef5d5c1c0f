// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

/**
 * The outcome of verifying one point.
 *
 * @param device    the device's name
 * @param id        the point
 * @param ok        whether the image and the chain link match the manifest
 * @param problem   what did not match, or null
 * @param bytesRead bytes of the image read
 */
public record VerifyResult(String device, String id, boolean ok, String problem, long bytesRead) {
}
