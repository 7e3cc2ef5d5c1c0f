// SPDX-License-Identifier: GPL-2.0
/**
 * blksnap: changed-block tracking of Linux block devices through the
 * blksnap kernel module. Start at {@link dev.blksnap.BlksnapControl}.
 *
 * <p>The library calls the C library through the FFM API, so the
 * application must grant native access to this module:
 * {@code --enable-native-access=dev.blksnap} (or {@code ALL-UNNAMED} on the
 * class path).
 */
module dev.blksnap {
	exports dev.blksnap;
}
