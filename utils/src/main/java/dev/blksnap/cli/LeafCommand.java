// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

import dev.blksnap.BlksnapException;
import dev.blksnap.DeviceId;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/**
 * What every command that does something shares: the {@code --json} option,
 * its output stream and the {@link Environment} of the root command.
 */
abstract class LeafCommand implements Callable<Integer> {

	@Spec
	CommandSpec spec;

	@Mixin
	JsonOption json;

	final Environment env() {
		return ((BlksnapCommand) spec.root().userObject()).environment();
	}

	final PrintWriter out() {
		return spec.commandLine().getOut();
	}

	final boolean json() {
		return json.enabled();
	}

	final Control openControl() throws BlksnapException {
		return env().control().open();
	}

	/** The device's /dev name, or null when sysfs does not know it. */
	final String nameOf(DeviceId dev) {
		return env().sysBlock().devicePath(dev).orElse(null);
	}

	/** "8:16 (/dev/sdb)", or "8:16" when the name is unknown. */
	final String label(DeviceId dev) {
		String name = nameOf(dev);
		return name == null ? dev.toString() : dev + " (" + name + ")";
	}
}
