package io.jvfio.qmp;

import io.jvfio.vmm.options.OptionString;
import io.jvfio.vmm.options.OptionValues;
import io.jvfio.vmm.options.OptionsException;
import io.jvfio.vmm.options.Property;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The monitors a command line asks for, in QEMU's two ways: {@code -qmp CHARDEV} (a chardev and its
 * monitor in one), and {@code -chardev socket,id=ID,...} (or {@code stdio,id=ID}) with
 * {@code -mon [chardev=]ID[,mode=control]}; as many as are given, in that order, all of one machine.
 * As in QEMU, a {@code -mon} may come before the {@code -chardev} it names: they are matched by
 * {@link #monitors()} once every option is read. jvfio has no human monitor (HMP): like QEMU's
 * storage daemon, a {@code -mon} is a QMP monitor without {@code mode=}, and {@code mode=readline} is refused.
 */
public final class MonitorOptions {

    private static final Property CHARDEV = Property.string("chardev", "The -chardev the monitor talks through");
    private static final Property MODE = Property.choice("mode", List.of("readline", "control"), "control",
            "control: QMP (readline, QEMU's human monitor, is not in jvfio)");
    private static final Property PRETTY = Property.bool("pretty", false, "Indent the JSON (off)");

    /** A {@code -mon}: its option as given, and the chardev it names. */
    private record Mon(String option, String chardev) {
    }

    private final List<QmpChardev> qmp = new ArrayList<>();
    private final Map<String, QmpChardev> chardevs = new LinkedHashMap<>();
    private final Map<String, String> chardevOptions = new LinkedHashMap<>();
    private final List<Mon> mons = new ArrayList<>();

    /** {@code -qmp VALUE}. */
    public void qmp(String value) {
        qmp.add(QmpChardev.parse(value));
    }

    /** {@code -chardev VALUE}. */
    public void chardev(String value) {
        Map.Entry<String, QmpChardev> c = QmpChardev.parseChardev(value);
        if (chardevs.containsKey(c.getKey())) {
            // QEMU's wording (util/qemu-option.c, qemu_opts_create)
            throw new OptionsException("Duplicate ID '" + c.getKey() + "' for chardev");
        }
        chardevs.put(c.getKey(), c.getValue());
        chardevOptions.put(c.getKey(), value);
    }

    /** {@code -mon VALUE}. */
    public void mon(String value) {
        OptionString s = OptionString.parse(value, "chardev");
        OptionValues v = OptionValues.bind("-mon", List.of(CHARDEV, MODE, PRETTY), s, Set.of(),
                OptionValues.UnknownKey.PARAMETER);
        if (!v.has("chardev") || v.string("chardev").isEmpty()) {
            // QEMU's wording (the QAPI visitor of MonitorOptions)
            throw new OptionsException("Parameter 'chardev' is missing: give -mon chardev=ID,mode=control with the id "
                    + "of a -chardev");
        }
        if (v.string("mode").equals("readline")) {
            // QEMU's wording where there is no HMP (monitor/monitor.c, monitor_init without allow_hmp)
            throw new OptionsException("Only QMP is supported: jvfio has no human monitor (mode=readline, HMP); give "
                    + "mode=control");
        }
        if (v.bool("pretty")) {
            throw new OptionsException("pretty=on (JSON spread over lines) is not supported: give pretty=off, or leave "
                    + "it out (management layers read one message a line)");
        }
        mons.add(new Mon(value, v.string("chardev")));
    }

    /**
     * The monitors, {@code -qmp}'s then {@code -mon}'s, once each {@code -mon}'s chardev is known, each chardev
     * used by exactly one monitor, standard input and output by one at most, and no socket path twice.
     *
     * @throws OptionsException naming the option at fault and what to give instead; its message starts with
     *     the option ({@code -mon chardev=x: ...})
     */
    public List<QmpChardev> monitors() {
        List<QmpChardev> all = new ArrayList<>(qmp);
        Set<String> used = new HashSet<>();
        for (Mon m : mons) {
            QmpChardev c = chardevs.get(m.chardev());
            if (c == null) {
                // QEMU's wording (monitor/monitor.c, monitor_init)
                throw new OptionsException("-mon " + m.option() + ": chardev \"" + m.chardev() + "\" not found"
                        + (chardevs.isEmpty() ? ": add -chardev socket,id=" + m.chardev()
                        + ",path=PATH,server=on,wait=off" : " (the chardevs: " + String.join(", ", chardevs.keySet())
                        + ")"));
            }
            if (!used.add(m.chardev())) {
                // QEMU's wording (chardev/char-fe.c, qemu_chr_fe_init: QERR_DEVICE_IN_USE)
                throw new OptionsException("-mon " + m.option() + ": Device '" + m.chardev() + "' is in use: give each "
                        + "monitor its own -chardev");
            }
            all.add(c);
        }
        for (String id : chardevs.keySet()) {
            if (!used.contains(id)) {
                throw new OptionsException("-chardev " + chardevOptions.get(id) + ": no -mon uses it (jvfio's chardevs "
                        + "are for monitors): add -mon chardev=" + id + ",mode=control");
            }
        }
        Set<Object> where = new HashSet<>();
        for (QmpChardev c : all) {
            if (!where.add(c.stdio() ? "stdio" : c.path().toAbsolutePath().normalize())) {
                throw new OptionsException(c.stdio()
                        // QEMU's wording (chardev/char-stdio.c, qemu_chr_open_stdio)
                        ? "cannot use stdio by multiple character devices: give one monitor stdio, the others sockets"
                        : "two monitors on " + c.path() + ": give each monitor its own socket path");
            }
        }
        return List.copyOf(all);
    }
}
