// SPDX-License-Identifier: GPL-2.0
package dev.blksnap.it.fuzz;

import dev.blksnap.internal.Ioc;
import dev.blksnap.internal.Layouts;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.StructLayout;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The ioctls of include/uapi/linux/blksnap.h, read from the header itself
 * (the build copies it among the test resources): every
 * {@code #define BLKSNAP_IOCTL_X _IOx(BLKSNAP_IOCTL_MAGIC, nr, struct s)},
 * its number from the header's enum and its request number computed with
 * the {@code _IOC} encoding from the size of {@code s} in {@link Layouts}
 * (whose sizes the library's LayoutTest compares with the C compiler's).
 * So the fuzzer's list of ioctls and their numbers is the header's, typed
 * nowhere else.
 */
final class UapiHeader {
    static final String RESOURCE = "/uapi/linux/blksnap.h";

    /**
     * One ioctl of the header.
     *
     * @param name    the macro name without BLKSNAP_IOCTL_
     * @param layout  the argument structure's layout, or null for an ioctl without one
     * @param request the request number
     */
    record Ioctl(String name, String struct, StructLayout layout, long request) {
    }

    private static final Pattern DEFINE = Pattern.compile(
            "#define\\s+BLKSNAP_IOCTL_(\\w+)\\s+_IO(R|W|WR)?\\(\\s*BLKSNAP_IOCTL_MAGIC\\s*,\\s*(\\w+)\\s*"
                    + "(?:,\\s*struct\\s+(\\w+)\\s*)?\\)");
    private static final Pattern MAGIC = Pattern.compile("#define\\s+BLKSNAP_IOCTL_MAGIC\\s+(0[xX][0-9a-fA-F]+|\\d+)");
    private static final Pattern ENUM = Pattern.compile("enum\\s+\\w+\\s*\\{([^}]*)\\}");

    /** The header's ioctls, in the header's order, by name. */
    static final Map<String, Ioctl> IOCTLS = parse(text());

    private UapiHeader() {
    }

    private static String text() {
        try (InputStream in = UapiHeader.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException(RESOURCE + " is not on the classpath: the build copies"
                        + " include/uapi/linux/blksnap.h there (tests/integration/pom.xml)");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Map<String, Ioctl> parse(String header) {
        String code = header.replaceAll("(?s)/\\*.*?\\*/", " ").replaceAll("\\\\\\n", " ");
        Matcher m = MAGIC.matcher(code);
        if (!m.find()) {
            throw new IllegalStateException("no BLKSNAP_IOCTL_MAGIC in the header");
        }
        int magic = Integer.decode(m.group(1));
        Map<String, Integer> enums = enumValues(code);
        Map<String, Ioctl> out = new LinkedHashMap<>();
        Matcher d = DEFINE.matcher(code);
        while (d.find()) {
            String name = d.group(1);
            int dir = switch (d.group(2) == null ? "" : d.group(2)) {
                case "R" -> Ioc.READ;
                case "W" -> Ioc.WRITE;
                case "WR" -> Ioc.READ | Ioc.WRITE;
                default -> Ioc.NONE;
            };
            Integer nr = enums.get(d.group(3));
            if (nr == null) {
                nr = Integer.decode(d.group(3));
            }
            String struct = d.group(4);
            StructLayout layout = struct == null ? null : layout(struct);
            long request = Ioc.ioc(dir, magic, nr, layout == null ? 0 : layout.byteSize());
            out.put(name, new Ioctl(name, struct, layout, request));
        }
        List<String> defined = Pattern.compile("#define\\s+BLKSNAP_IOCTL_(\\w+)\\s+_IO").matcher(code).results()
                .map(r -> r.group(1)).toList();
        if (!out.keySet().containsAll(defined)) {
            throw new IllegalStateException("ioctl macros the parser does not understand: " + defined);
        }
        return Map.copyOf(out);
    }

    /** Every enumerator of every enum, with its value (explicit, or the previous one plus one). */
    private static Map<String, Integer> enumValues(String code) {
        Map<String, Integer> values = new LinkedHashMap<>();
        Matcher e = ENUM.matcher(code);
        while (e.find()) {
            int next = 0;
            for (String item : e.group(1).split(",")) {
                String t = item.strip();
                if (t.isEmpty()) {
                    continue;
                }
                String[] kv = t.split("=");
                int v = kv.length > 1 ? Integer.decode(kv[1].strip()) : next;
                values.put(kv[0].strip(), v);
                next = v + 1;
            }
        }
        return values;
    }

    private static StructLayout layout(String struct) {
        return Layouts.ALL.stream().filter(l -> l.name().orElse("").equals(struct)).findFirst()
                .orElseThrow(() -> new IllegalStateException("struct " + struct + " of the header has no layout in "
                        + Layouts.class.getName()));
    }
}
