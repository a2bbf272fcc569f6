package io.jvfio.qmp;

import io.jvfio.JvfioException;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A command's failure as QMP answers it: {@code {"error": {"class": ..., "desc": ...}}}. The classes are
 * QEMU's (qapi/error.json, QapiErrorClass); almost everything is a GenericError, as in QEMU, where the
 * other classes survive for the management layers that test them.
 */
final class QmpError extends JvfioException {

    /** QEMU's QapiErrorClass. */
    enum ErrorClass {
        GenericError, CommandNotFound, DeviceNotActive, DeviceNotFound, KVMMissingCap
    }

    private final ErrorClass errorClass;

    QmpError(ErrorClass errorClass, String description) {
        super(description);
        this.errorClass = errorClass;
    }

    static QmpError generic(String description) {
        return new QmpError(ErrorClass.GenericError, description);
    }

    ErrorClass errorClass() {
        return errorClass;
    }

    /** The {@code error} member's value. */
    Map<String, Object> body() {
        Map<String, Object> e = new LinkedHashMap<>();
        e.put("class", errorClass.name());
        e.put("desc", getMessage());
        return e;
    }
}
