// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

/**
 * The outcome of the last {@code verify} of a point, kept beside it as
 * {@code ID.verify.json}.
 *
 * @param time    when, ISO-8601 UTC
 * @param ok      whether the point read back as written
 * @param problem what was wrong, or null
 */
public record Verification(String time, boolean ok, String problem) {
}
