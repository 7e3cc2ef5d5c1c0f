// SPDX-License-Identifier: GPL-2.0
package dev.blksnap;

/** How a snapshot is created ({@link BlksnapControl#createSnapshot(java.nio.file.Path, long, java.util.Set)}). */
public enum SnapshotOption {
	/** It outlives the control device that created it: destroy it explicitly. */
	KEEP,
	/**
	 * Its images accept writes (contract 1.6, {@link ModuleVersion#hasWritableImages()}). They go to the
	 * difference storage, never to the original device, and take storage like the copies of the original's
	 * writes; without this option the images are read-only.
	 */
	WRITABLE
}
