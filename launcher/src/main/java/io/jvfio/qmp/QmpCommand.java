package io.jvfio.qmp;

import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One command: its name, its arguments' schema, and what it does. Arguments are checked as QEMU's QAPI
 * input visitor checks them, in the schema's order: a missing one is {@code Parameter 'x' is missing}, one
 * of the wrong type {@code Invalid parameter type for 'x', expected: string}; then a member the schema
 * does not have is {@code Parameter 'x' is unexpected}, unless the command takes more members than its
 * schema names ({@code additionalMembers}: QEMU's {@code 'gen': false} commands, such as
 * {@code device_add}, whose other members are the device's properties).
 */
record QmpCommand(String name, List<Parameter> parameters, Handler handler, boolean additionalMembers) {

    /** An argument: its name, its JSON type as QEMU's messages name it, and whether it may be left out. */
    record Parameter(String name, String type, boolean optional) {
    }

    /** Runs the command with its checked arguments; returns the {@code return} value. */
    interface Handler {
        Object run(Map<String, Object> arguments) throws QmpError;
    }

    QmpCommand {
        parameters = List.copyOf(parameters);
    }

    QmpCommand(String name, List<Parameter> parameters, Handler handler) {
        this(name, parameters, handler, false);
    }

    static QmpCommand of(String name, Handler handler) {
        return new QmpCommand(name, List.of(), handler);
    }

    /** Checks {@code arguments} against the schema. */
    void check(Map<String, Object> arguments) throws QmpError {
        Set<String> known = new HashSet<>();
        for (Parameter p : parameters) {
            known.add(p.name());
            Object v = arguments.get(p.name());
            if (v == null) {
                if (!p.optional()) {
                    throw QmpError.generic("Parameter '" + p.name() + "' is missing");
                }
                continue;
            }
            if (!QmpJson.typeName(v).equals(p.type()) && !(p.type().equals("integer") && v instanceof QmpJson.Number n
                    && n.asLong() != null)) {
                throw QmpError.generic("Invalid parameter type for '" + p.name() + "', expected: " + p.type());
            }
        }
        for (String k : arguments.keySet()) {
            if (!known.contains(k) && !additionalMembers) {
                throw QmpError.generic("Parameter '" + k + "' is unexpected");
            }
        }
    }
}
