// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;

/** Runs the blksnap command line in-process over a fake module and a fake sysfs. */
class Cli {

	/** Outcome of one run. */
	record Result(int code, String out, String err) {
	}

	final FakeControl control;
	final Path sysfs;

	Cli(FakeControl control, Path sysfs) {
		this.control = control;
		this.sysfs = sysfs;
	}

	Environment environment() {
		return new Environment(control.opener(), new SysBlock(sysfs));
	}

	Result run(String... args) {
		StringWriter out = new StringWriter();
		StringWriter err = new StringWriter();
		int code = BlksnapCommand.run(environment(), new PrintWriter(out), new PrintWriter(err), args);
		return new Result(code, out.toString(), err.toString());
	}
}
