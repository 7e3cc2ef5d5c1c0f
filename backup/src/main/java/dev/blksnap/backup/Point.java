// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

import java.nio.file.Path;
import java.util.Optional;

/**
 * A committed point of one device.
 *
 * @param manifest     what it is
 * @param image        its qcow2 file
 * @param verification the last verify's outcome, if any
 */
public record Point(Manifest manifest, Path image, Optional<Verification> verification) {
	/** @return the point's id */
	public String id() {
		return manifest.id();
	}

	/** @return the device's repository name */
	public String device() {
		return manifest.device().name();
	}

	/** @return "ok", "FAILED" or "never" */
	public String verificationState() {
		return verification.map(v -> v.ok() ? "ok" : "FAILED").orElse("never");
	}
}
