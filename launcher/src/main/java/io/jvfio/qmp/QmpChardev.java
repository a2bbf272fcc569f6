package io.jvfio.qmp;

import io.jvfio.vmm.options.OptionString;
import io.jvfio.vmm.options.OptionValues;
import io.jvfio.vmm.options.OptionsException;
import io.jvfio.vmm.options.Property;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Where a monitor listens, as {@code -qmp} takes it in QEMU's character-device syntax:
 * {@code unix:PATH,server=on,wait=off} (a UNIX socket the monitor listens on, several clients at once) or
 * {@code stdio} (the process's standard input and output, one client); or as {@code -chardev} takes it,
 * {@code socket,id=ID,path=PATH,server=on,wait=off} or {@code stdio,id=ID} ({@link #parseChardev}), for
 * {@code -mon chardev=ID}. QEMU's other back ends, a client
 * socket ({@code server=off}) and {@code wait=on} (hold the machine until a client connects) are refused
 * with the form that works.
 *
 * @param path the socket's path; null for stdio
 */
public record QmpChardev(Path path) {

    private static final Property SERVER = Property.bool("server", false, "Listen for clients (on)");
    private static final Property ID = Property.string("id", "The name -mon chardev= gives");
    private static final Property PATH = Property.string("path", "The UNIX socket's path");
    private static final Property WAIT = Property.bool("wait", true, "Wait for a client before the machine runs");

    /** The standard input and output. */
    public static final QmpChardev STDIO = new QmpChardev(null);

    public boolean stdio() {
        return path == null;
    }

    /**
     * Parses {@code -qmp}'s value.
     *
     * @throws OptionsException naming what is wrong and the form that works
     */
    public static QmpChardev parse(String value) {
        if (value.equals("stdio")) {
            return STDIO;
        }
        OptionString s = OptionString.parse(value, "backend");
        String backend = s.impliedValue();
        if (backend == null || !backend.startsWith("unix:")) {
            throw new OptionsException("'" + (backend == null ? value : backend) + "' is not a monitor jvfio can "
                    + "open: use unix:PATH,server=on,wait=off (a UNIX socket) or stdio");
        }
        String path = backend.substring("unix:".length());
        if (path.isEmpty()) {
            throw new OptionsException("unix: needs the socket's path, e.g. unix:/tmp/qmp.sock,server=on,wait=off");
        }
        OptionValues v = OptionValues.bind("-qmp", List.of(SERVER, WAIT), s, Set.of("backend"),
                OptionValues.UnknownKey.PARAMETER);
        return listening(Path.of(path), v);
    }

    /**
     * Parses {@code -chardev}'s value: {@code socket,id=ID,path=PATH,server=on,wait=off} or {@code stdio,id=ID},
     * QEMU's syntax for the two back ends a monitor of jvfio's takes; returns the id and the chardev.
     *
     * @throws OptionsException naming what is wrong and the form that works
     */
    public static Map.Entry<String, QmpChardev> parseChardev(String value) {
        OptionString s = OptionString.parse(value, "backend");
        String backend = s.impliedValue();
        String id = s.value("id");
        if (backend == null) {
            // QEMU's wording (chardev/char.c, qemu_chr_new_from_opts), and the forms that work
            throw new OptionsException("chardev: \"" + id + "\" missing backend: give socket,id=ID,path=PATH,"
                    + "server=on,wait=off or stdio,id=ID");
        }
        if (id == null) {
            // QEMU's wording (chardev/char.c, qemu_chr_new_from_opts)
            throw new OptionsException("chardev: no id specified: give id=ID, the name -mon chardev=ID refers to");
        }
        switch (backend) {
            case "socket" -> {
                OptionValues v = OptionValues.bind("-chardev", List.of(ID, PATH, SERVER, WAIT), s, Set.of("backend"),
                        OptionValues.UnknownKey.PARAMETER);
                if (!v.has("path") || v.string("path").isEmpty()) {
                    throw new OptionsException("a monitor's socket is a UNIX socket: give path=PATH (jvfio does not "
                            + "listen on TCP host= and port=)");
                }
                return Map.entry(id, listening(Path.of(v.string("path")), v));
            }
            case "stdio" -> {
                OptionValues.bind("-chardev", List.of(ID), s, Set.of("backend"), OptionValues.UnknownKey.PARAMETER);
                return Map.entry(id, STDIO);
            }
            default -> throw new OptionsException("'" + backend + "' is not a char driver jvfio's monitors take: "
                    + "use socket,id=ID,path=PATH,server=on,wait=off or stdio,id=ID");
        }
    }

    /** A socket the monitor listens on, once {@code server=on,wait=off} is checked. */
    private static QmpChardev listening(Path path, OptionValues v) {
        if (!v.bool("server")) {
            throw new OptionsException("the monitor listens for its clients: give server=on,wait=off (jvfio does "
                    + "not connect out to a listening management layer)");
        }
        if (v.bool("wait")) {
            throw new OptionsException("wait=on (holding the machine until a client connects) is not supported: "
                    + "give wait=off");
        }
        return new QmpChardev(path);
    }

    @Override
    public String toString() {
        return stdio() ? "stdio" : "unix:" + path + ",server=on,wait=off";
    }
}
