// SPDX-License-Identifier: GPL-2.0
package dev.blksnap;

import dev.blksnap.internal.Uapi;

/**
 * The version of the user/kernel contract a loaded module speaks, and its
 * feature bits.
 *
 * @param major    incompatible when different from {@link #SUPPORTED_MAJOR}
 * @param minor    a newer minor only adds requests
 * @param patch    fixes without contract change
 * @param features {@code BLKSNAP_FEATURE_*} bits
 */
public record ModuleVersion(int major, int minor, int patch, long features) {
	/** The contract major version this library speaks. */
	public static final int SUPPORTED_MAJOR = Uapi.VERSION_MAJOR;

	/**
	 * Whether the module offers changed-block tracking.
	 *
	 * @return true when {@code BLKSNAP_FEATURE_CBT} is set
	 */
	public boolean hasCbt() {
		return (features & Uapi.FEATURE_CBT) != 0;
	}

	/**
	 * Whether the module offers copy-on-write snapshots.
	 *
	 * @return true when {@code BLKSNAP_FEATURE_SNAPSHOT} is set
	 */
	public boolean hasSnapshots() {
		return (features & Uapi.FEATURE_SNAPSHOT) != 0;
	}

	/**
	 * Whether the module reports which changed blocks are holes
	 * ({@code BLKSNAP_FEATURE_CBT_HOLES}, minor 3).
	 *
	 * @return true when {@link BlksnapControl#readMap(DeviceId)} fills {@link CbtMap#holes()}
	 */
	public boolean hasHoles() {
		return (features & Uapi.FEATURE_CBT_HOLES) != 0;
	}

	/**
	 * Whether the module reports snapshot events
	 * ({@code BLKSNAP_FEATURE_EVENTS}, minor 4).
	 *
	 * @return true when {@link Snapshot#waitEvent(java.time.Duration)} works
	 */
	public boolean hasEvents() {
		return (features & Uapi.FEATURE_EVENTS) != 0;
	}

	/**
	 * Whether the module can add storage to a live snapshot (contract 1.5).
	 *
	 * @return true when {@link Snapshot#addStorage(java.nio.file.Path, long)} works
	 */
	public boolean hasAddStorage() {
		return (features & Uapi.FEATURE_ADD_STORAGE) != 0;
	}

	/**
	 * Whether the module's images can be writable (contract 1.6).
	 *
	 * @return true when {@link SnapshotOption#WRITABLE} works
	 */
	public boolean hasWritableImages() {
		return (features & Uapi.FEATURE_WRITABLE_IMAGES) != 0;
	}

	/**
	 * Whether poll() on the control file reports snapshot events
	 * ({@code BLKSNAP_FEATURE_POLL}): readable while a snapshot created
	 * through that file has an event not yet read. Without it, poll()
	 * reports the file always readable.
	 *
	 * @return true when {@code BLKSNAP_FEATURE_POLL} is set
	 */
	public boolean hasPoll() {
		return (features & Uapi.FEATURE_POLL) != 0;
	}

	/**
	 * Whether this library can talk to the module.
	 *
	 * @return true when the major versions are equal
	 */
	public boolean isCompatible() {
		return major == SUPPORTED_MAJOR;
	}

	/**
	 * The version in dotted notation.
	 *
	 * @return for example {@code "1.0.0"}
	 */
	@Override
	public String toString() {
		return major + "." + minor + "." + patch;
	}
}
