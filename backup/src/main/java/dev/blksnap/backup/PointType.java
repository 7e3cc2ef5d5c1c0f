// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.backup;

import com.fasterxml.jackson.annotation.JsonProperty;

/** What a point holds. */
public enum PointType {
	/** Every cluster of the device; no backing file. */
	@JsonProperty("full")
	FULL,
	/** The clusters changed since the previous point, which is its backing file. */
	@JsonProperty("incremental")
	INCREMENTAL,
	/** The clusters changed since the last full point, which is its backing file. */
	@JsonProperty("differential")
	DIFFERENTIAL;

	/** @return the lower-case name used in manifests and output */
	public String label() {
		return name().toLowerCase(java.util.Locale.ROOT);
	}
}
