// SPDX-License-Identifier: GPL-2.0
/**
 * blksnap backup engine: full, incremental and differential image backups of
 * block devices into a directory of qcow2 points, restore and verify. Start
 * at {@link dev.blksnap.backup.Repository}.
 */
module dev.blksnap.backup {
	requires transitive dev.blksnap;
	requires com.fasterxml.jackson.databind;
	requires com.fasterxml.jackson.annotation;
	// com.sun.nio.file.ExtendedOpenOption.DIRECT (looked up in backup.io.DirectIo): O_DIRECT reads and writes.
	requires jdk.unsupported;

	exports dev.blksnap.backup;
	// Jackson reads and writes the manifest records.
	opens dev.blksnap.backup to com.fasterxml.jackson.databind;
}
