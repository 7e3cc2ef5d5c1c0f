// SPDX-License-Identifier: GPL-2.0
package dev.blksnap;

import java.util.Objects;
import java.util.UUID;

/**
 * The result of closing a device's current change number. A later
 * {@code map.changedSince(closedNumber)} under the same {@code generation}
 * names exactly the blocks written after the checkpoint; when the generation
 * differs, the caller must take a full backup.
 *
 * @param device        the device
 * @param generation    the map's generation after the checkpoint
 * @param closedNumber  the number the writes before the checkpoint carry, 0..255
 * @param changesNumber the number later writes carry, 1..255
 */
public record Checkpoint(DeviceId device, UUID generation, int closedNumber, int changesNumber) {
	/**
	 * Checks the values.
	 *
	 * @throws NullPointerException     when device or generation is null
	 * @throws IllegalArgumentException when a number is outside 0..255
	 */
	public Checkpoint {
		Objects.requireNonNull(device, "device");
		Objects.requireNonNull(generation, "generation");
		CbtInfo.checkNumber(closedNumber, "closed number");
		CbtInfo.checkNumber(changesNumber, "changes number");
	}
}
