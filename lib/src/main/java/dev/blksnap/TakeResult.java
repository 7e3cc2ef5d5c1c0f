// SPDX-License-Identifier: GPL-2.0
package dev.blksnap;

/**
 * What a take did.
 *
 * @param holdNanos    how long writes to the devices were held back
 * @param freezeNanos  from the first freeze to the last thaw
 * @param frozen       devices whose file system was frozen
 * @param freezeFailed devices whose file system could not be frozen (crash-consistent only)
 */
public record TakeResult(long holdNanos, long freezeNanos, int frozen, int freezeFailed) {
}
