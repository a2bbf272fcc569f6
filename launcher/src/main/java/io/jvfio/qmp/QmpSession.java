package io.jvfio.qmp;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;

/**
 * One client's side of the monitor: its input read into JSON values, its capabilities negotiation, and its
 * requests checked as QEMU's qmp_dispatch checks them and run. A session starts in negotiation mode (only
 * {@code qmp_capabilities}, as QEMU: any other command is {@code CommandNotFound} "Expecting capabilities
 * negotiation with 'qmp_capabilities'") and receives events once negotiated. Values and errors are
 * handed to the monitor's one command thread in input order, so that each client's answers come in the
 * order of its requests.
 */
final class QmpSession {

    private final QmpMonitor monitor;
    private final Consumer<byte[]> output;
    private final QmpJsonReader reader;
    private volatile boolean negotiated;

    QmpSession(QmpMonitor monitor, Consumer<byte[]> output) {
        this.monitor = monitor;
        this.output = output;
        this.reader = new QmpJsonReader(new QmpJsonReader.Sink() {
            @Override
            public void value(Object value) {
                monitor.submit(QmpSession.this, () -> handle(value));
            }

            @Override
            public void error(String description) {
                monitor.submit(QmpSession.this, () -> send(errorResponse(QmpError.generic(description), null)));
            }
        });
    }

    /** Input as it arrives (called by one thread at a time: the client's reader). */
    void feed(byte[] data, int offset, int length) {
        reader.feed(data, offset, length);
    }

    boolean negotiated() {
        return negotiated;
    }

    void send(Object message) {
        output.accept(QmpJson.message(message));
    }

    /** One request, on the command thread. */
    void handle(Object request) {
        if (!(request instanceof Map<?, ?> map)) {
            // QEMU's wording (qapi/qmp-dispatch.c, qmp_dispatch_check_obj), without id as there
            send(errorResponse(QmpError.generic("QMP input must be a JSON object"), null));
            return;
        }
        Object id = map.get("id");
        try {
            send(response(run(map), id));
        } catch (QmpError e) {
            send(errorResponse(e, id));
        } catch (RuntimeException e) {
            // A command that failed unexpectedly: the client is answered, the monitor goes on.
            send(errorResponse(QmpError.generic(e.getClass().getSimpleName() + ": " + e.getMessage()), id));
        }
        monitor.afterResponse(this);
    }

    @SuppressWarnings("unchecked")
    private Object run(Map<?, ?> request) throws QmpError {
        // The members' checks and their wording are QEMU's qmp_dispatch_check_obj (qapi/qmp-dispatch.c).
        Object execute = null;
        Map<String, Object> arguments = Map.of();
        for (Map.Entry<?, ?> e : request.entrySet()) {
            String key = (String) e.getKey();
            Object v = e.getValue();
            switch (key) {
                case "execute" -> {
                    if (!(v instanceof String)) {
                        throw QmpError.generic("QMP input member 'execute' must be a string");
                    }
                    execute = v;
                }
                case "arguments" -> {
                    if (!(v instanceof Map)) {
                        throw QmpError.generic("QMP input member 'arguments' must be an object");
                    }
                    arguments = (Map<String, Object>) v;
                }
                case "id" -> {
                }
                default -> throw QmpError.generic("QMP input member '" + key + "' is unexpected");
            }
        }
        if (execute == null) {
            throw QmpError.generic("QMP input lacks member 'execute'");
        }
        String name = (String) execute;
        if (!negotiated) {
            // QEMU's wording (monitor/qmp.c, monitor_qmp_dispatch: CommandNotFound reworded in negotiation)
            if (!name.equals(QmpMonitor.QMP_CAPABILITIES)) {
                throw new QmpError(QmpError.ErrorClass.CommandNotFound,
                        "Expecting capabilities negotiation with 'qmp_capabilities'");
            }
            monitor.commands().get(name).check(arguments);
            QmpMonitor.checkCapabilities(arguments, true);
            negotiated = true;
            return Map.of();
        }
        QmpCommand command = monitor.commands().get(name);
        if (command == null) {
            // QEMU's wording (qapi/qmp-dispatch.c, do_qmp_dispatch)
            throw new QmpError(QmpError.ErrorClass.CommandNotFound, "The command " + name + " has not been found");
        }
        command.check(arguments);
        return command.handler().run(arguments);
    }

    private static Map<String, Object> response(Object result, Object id) {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("return", result);
        if (id != null) {
            r.put("id", id);
        }
        return r;
    }

    static Map<String, Object> errorResponse(QmpError e, Object id) {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("error", e.body());
        if (id != null) {
            r.put("id", id);
        }
        return r;
    }
}
