// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.cli;

import dev.blksnap.backup.Progress;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;

/**
 * Progress bars (bytes, rate, ETA) on stderr, from the progressbar library,
 * only when stdout is a terminal: scripts and --json see nothing of them.
 */
final class Bars implements Progress {
	private ProgressBar bar;

	private Bars() {
	}

	/** Bars when {@code wanted} and stdout is a terminal, else nothing. */
	static Progress forTerminal(boolean wanted) {
		java.io.Console console = System.console();
		return wanted && console != null && console.isTerminal() ? new Bars() : Progress.NONE;
	}

	@Override
	public void begin(String task, long bytes) {
		end();
		bar = new ProgressBarBuilder().setTaskName(task).setInitialMax(Math.max(1, bytes))
				.setUnit(" MiB", 1 << 20).showSpeed().setUpdateIntervalMillis(250)
				.setConsumer(new ConsoleProgressBarConsumer(System.err, 100)).build();
	}

	@Override
	public void advance(long bytes) {
		if (bar != null)
			bar.stepBy(bytes);
	}

	@Override
	public void end() {
		if (bar != null) {
			bar.close();
			bar = null;
		}
	}
}
