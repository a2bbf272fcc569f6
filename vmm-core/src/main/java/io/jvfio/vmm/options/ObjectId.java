package io.jvfio.vmm.options;

import java.util.regex.Pattern;

/**
 * The {@code id=} of a {@code -device} or {@code -object}, well formed as QEMU's
 * {@code id_wellformed} has it: a letter, then letters, digits, '-', '.' and '_'.
 */
public final class ObjectId {

    private static final Pattern ID = Pattern.compile("[A-Za-z][A-Za-z0-9_.-]*");

    private ObjectId() {
    }

    /** {@code id} if well formed, else the error QEMU gives. */
    public static String check(String id) {
        if (id == null || !ID.matcher(id).matches()) {
            throw new OptionsException("Parameter 'id' expects an identifier (letters, digits, '-', '.', '_', "
                    + "starting with a letter)");
        }
        return id;
    }

    /** The {@code id=} of an {@code -object}, which must have one. */
    public static String required(OptionString opts) {
        String id = opts.value("id");
        if (id == null) {
            throw new OptionsException("Parameter 'id' is missing");
        }
        return check(id);
    }
}
