// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

import dev.blksnap.BlksnapControl;
import java.nio.file.Path;
import java.util.Objects;

/**
 * What the commands reach outside the JVM: the kernel module and sysfs.
 * {@link #system()} is the real machine; tests build their own.
 */
public record Environment(Control.Opener control, SysBlock sysBlock, Path devRoot) {

	public Environment {
		Objects.requireNonNull(control);
		Objects.requireNonNull(sysBlock);
		Objects.requireNonNull(devRoot);
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
