// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

import dev.blksnap.BlksnapControl;
import dev.blksnap.backup.Mounter;
import java.nio.file.Path;
import java.util.Objects;

/**
 * What the commands reach outside the JVM: the kernel module, sysfs, and
 * mount(8) (for {@code backup --replay-journal}). {@link #system()} is the
 * real machine; tests build their own.
 */
public record Environment(Control.Opener control, SysBlock sysBlock, Path devRoot, Mounter mounter) {

	public Environment {
		Objects.requireNonNull(control);
		Objects.requireNonNull(sysBlock);
		Objects.requireNonNull(devRoot);
		Objects.requireNonNull(mounter);
	}

	/** The system's mount(8). */
	public Environment(Control.Opener control, SysBlock sysBlock, Path devRoot) {
		this(control, sysBlock, devRoot, Mounter.system());
	}

	/** Device nodes under /dev. */
	public Environment(Control.Opener control, SysBlock sysBlock) {
		this(control, sysBlock, Path.of("/dev"));
	}

	public static Environment system() {
		return new Environment(() -> LibControl.open(BlksnapControl.DEFAULT_PATH),
				new SysBlock(SysBlock.DEFAULT_ROOT));
	}
}
