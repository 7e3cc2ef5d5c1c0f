// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

import picocli.CommandLine.Option;

/** The {@code --json} option every command shares. */
public final class JsonOption {

	@Option(names = "--json", description = "Print the result as one JSON object (see the README for the fields).")
	boolean json;

	public boolean enabled() {
		return json;
	}
}
