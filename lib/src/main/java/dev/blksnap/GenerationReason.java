// SPDX-License-Identifier: GPL-2.0
package dev.blksnap;

import dev.blksnap.internal.Uapi;

/**
 * Why a changed-block map began its current generation. Any new generation
 * means the map cannot be compared with earlier reads: take a full backup.
 */
public enum GenerationReason {
	/** The tracker was attached. */
	ATTACH(Uapi.CBT_GENERATION_ATTACH, "the tracker was attached"),
	/** The device changed size, place (a partition) or medium. */
	RESIZE(Uapi.CBT_GENERATION_RESIZE, "the device changed size, place or medium"),
	/** The change number passed 255 at a checkpoint. */
	WRAP(Uapi.CBT_GENERATION_WRAP, "the change number passed 255"),
	/** The map became incomplete; it is flagged corrupted. */
	INCOMPLETE(Uapi.CBT_GENERATION_INCOMPLETE, "the map became incomplete (corrupted)"),
	/** A passthrough command that may change data, and that the module cannot place, reached the device. */
	PASSTHROUGH(Uapi.CBT_GENERATION_PASSTHROUGH,
			"a passthrough command (SG_IO, NVMe, io_uring) the module cannot place reached the device"),
	/** The system was restored from hibernation. */
	HIBERNATION(Uapi.CBT_GENERATION_HIBERNATION, "the system was restored from hibernation"),
	/** A reason this library does not know (a newer module). */
	UNKNOWN(-1, "a reason this library does not know");

	private final int code;
	private final String description;

	GenerationReason(int code, String description) {
		this.code = code;
		this.description = description;
	}

	/**
	 * The reason of a kernel code.
	 *
	 * @param code blksnap_cbt_info.generation_reason
	 * @return the reason, {@link #UNKNOWN} for a code this library does not know
	 */
	public static GenerationReason of(int code) {
		for (GenerationReason r : values()) {
			if (r.code == code && r != UNKNOWN)
				return r;
		}
		return UNKNOWN;
	}

	/**
	 * What happened, in a few words.
	 *
	 * @return the description
	 */
	public String description() {
		return description;
	}
}
