// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.blksnap.DeviceId;
import dev.blksnap.SnapshotInfo;
import dev.blksnap.cli.BlksnapCommand;
import dev.blksnap.cli.Control;
import dev.blksnap.cli.Environment;
import dev.blksnap.cli.SysBlock;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The blksnap command run in this JVM (no JVM start per command), with
 * hooks where a snapshot's images exist: right after take, and right
 * before the command destroys the snapshot. The backup tests judge points
 * against the images there, the backup benchmark runs dd of the same image
 * there, and the demo does both.
 */
public final class SnapshotHooks {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final SysBlock SYS = Environment.system().sysBlock();

    /** What a hook is given: the snapshot as the module reports it. */
    @FunctionalInterface
    public interface Hook {
        void at(SnapshotInfo info) throws Exception;
    }

    /** A hook that does nothing. */
    public static final Hook NONE = info -> {
    };

    /** The outcome of one command. */
    public record Run(int exit, String out, String err) {
        public JsonNode json() throws IOException {
            return JSON.readTree(out);
        }
    }

    private final Hook afterTake;
    private final Hook beforeDestroy;
    private final List<Throwable> failures = Collections.synchronizedList(new ArrayList<>());

    public SnapshotHooks(Hook afterTake, Hook beforeDestroy) {
        this.afterTake = afterTake;
        this.beforeDestroy = beforeDestroy;
    }

    /** Runs {@code blksnap ARGS...}; a failing hook does not stop the command (see {@link #failures()}). */
    public Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        Environment system = Environment.system();
        Environment env = new Environment(() -> hooked(system.control().open()), system.sysBlock());
        int code = BlksnapCommand.run(env, new PrintWriter(out), new PrintWriter(err), args);
        return new Run(code, out.toString(), err.toString());
    }

    /** What the hooks threw so far; cleared. */
    public List<Throwable> failures() {
        synchronized (failures) {
            List<Throwable> all = List.copyOf(failures);
            failures.clear();
            return all;
        }
    }

    /** /dev/NAME of a device number. */
    public static String devicePath(DeviceId dev) {
        return SYS.devicePath(dev).orElseThrow(() -> new IllegalStateException("no device node for " + dev));
    }

    /** The kernel name of a device number, as a backup names its points ({@code vda1}). */
    public static String kernelName(DeviceId dev) {
        return Path.of(devicePath(dev)).getFileName().toString();
    }

    private Control hooked(Control real) {
        return (Control) Proxy.newProxyInstance(Control.class.getClassLoader(), new Class<?>[] {Control.class},
                (proxy, method, args) -> {
                    if (method.getName().equals("destroySnapshot"))
                        call(beforeDestroy, real.snapshotInfo((long) args[0]));
                    Object result;
                    try {
                        result = method.invoke(real, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                    if (method.getName().equals("takeSnapshot"))
                        call(afterTake, real.snapshotInfo((long) args[0]));
                    return result;
                });
    }

    private void call(Hook hook, SnapshotInfo info) {
        try {
            hook.at(info);
        } catch (Exception | AssertionError e) {
            failures.add(e);
        }
    }
}
