package io.jvfio.qmp;

import io.jvfio.JvfioException;
import io.jvfio.migration.MigrationControl;
import io.jvfio.migration.MigrationInfo;
import io.jvfio.migration.MigrationListener;
import io.jvfio.migration.MigrationStatus;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * QEMU's migration commands and event (qapi/migration.json) over a {@link MigrationControl}:
 * {@code migrate} and {@code migrate-incoming} (a {@code uri}, or QEMU's {@code channels} form with one
 * main channel of a {@code unix} socket or a {@code file}), {@code migrate_cancel}, {@code query-migrate},
 * {@code migrate-set-parameters} and {@code query-migrate-parameters} ({@code downtime-limit},
 * {@code max-bandwidth}), and {@code MIGRATION} with each status. The run state follows QEMU's:
 * {@code finish-migrate} while the last round runs, {@code postmigrate} after it completed,
 * {@code inmigrate} while an incoming migration is awaited ({@link RunControl}).
 */
final class MigrationCommands {

    private MigrationCommands() {
    }

    static void register(QmpMonitor monitor, MigrationControl control, RunControl run) {
        List<QmpCommand.Parameter> target = List.of(new QmpCommand.Parameter("uri", "string", true),
                new QmpCommand.Parameter("channels", "array", true));
        monitor.add(new QmpCommand("migrate", List.of(target.get(0), target.get(1),
                new QmpCommand.Parameter("detach", "boolean", true), new QmpCommand.Parameter("resume", "boolean", true)),
                a -> {
                    String uri = uri(a);
                    // While the built-in driver's steps run the launcher holds the run state: the guest program is
                    // mid-step, not in the service loop whose migration step runs across a migration.
                    run.checkNotHeld("migrate");
                    if (Boolean.TRUE.equals(a.get("resume"))) {
                        // QEMU's wording (migration/migration.c, migrate_prepare): jvfio has no postcopy to pause
                        throw QmpError.generic("Cannot resume if there is no paused migration");
                    }
                    if (run.state() == RunControl.State.POSTMIGRATE) {
                        // QEMU's wording (migration/migration.c, migrate_prepare)
                        throw QmpError.generic("Can't migrate the vm that was paused due to previous migration");
                    }
                    try {
                        control.migrate(uri, run.migrationVcpus(monitor));
                    } catch (JvfioException e) {
                        throw QmpError.generic(e.getMessage());
                    }
                    return Map.of();
                }));
        monitor.add(new QmpCommand("migrate-incoming", List.of(target.get(0), target.get(1),
                new QmpCommand.Parameter("exit-on-error", "boolean", true)), a -> {
                    String uri = uri(a);
                    if (Boolean.FALSE.equals(a.get("exit-on-error"))) {
                        throw QmpError.generic("exit-on-error=false is not supported: a jvfio destination whose load "
                                + "fails exits (QEMU's default)");
                    }
                    try {
                        control.migrateIncoming(uri);
                    } catch (JvfioException e) {
                        throw QmpError.generic(e.getMessage());
                    }
                    return Map.of();
                }));
        monitor.add(QmpCommand.of("migrate_cancel", a -> {
            control.cancel();
            return Map.of();
        }));
        monitor.add(QmpCommand.of("query-migrate", a -> info(control.info())));
        monitor.add(new QmpCommand("migrate-set-parameters", List.of(
                new QmpCommand.Parameter("downtime-limit", "integer", true),
                new QmpCommand.Parameter("max-bandwidth", "integer", true)), a -> {
                    // Checked whole before anything is set, as QEMU's migrate_params_check.
                    Long downtime = integer(a.get("downtime-limit"));
                    Long bandwidth = integer(a.get("max-bandwidth"));
                    try {
                        long oldDowntime = control.parameters().downtimeLimitMs();
                        if (downtime != null) {
                            control.parameters().downtimeLimitMs(downtime);
                        }
                        try {
                            if (bandwidth != null) {
                                control.parameters().maxBandwidth(bandwidth);
                            }
                        } catch (JvfioException e) {
                            control.parameters().downtimeLimitMs(oldDowntime);
                            throw e;
                        }
                    } catch (JvfioException e) {
                        throw QmpError.generic(e.getMessage());
                    }
                    return Map.of();
                }));
        monitor.add(QmpCommand.of("query-migrate-parameters", a -> {
            Map<String, Object> p = new LinkedHashMap<>();
            p.put("downtime-limit", control.parameters().downtimeLimitMs());
            p.put("max-bandwidth", control.parameters().maxBandwidth());
            return p;
        }));
        control.addListener(new MigrationListener() {
            @Override
            public void statusChanged(MigrationStatus status) {
                Map<String, Object> data = new LinkedHashMap<>();
                data.put("status", status.qapi());
                monitor.event("MIGRATION", data);
                if (status == MigrationStatus.COMPLETED && run.incomingCompleted()) {
                    // As QEMU's process_incoming_migration_bh with autostart: the destination runs (the launcher
                    // starts its vCPUs once the load is awaited).
                    monitor.event("RESUME", null);
                }
            }
        });
    }

    private static Long integer(Object v) {
        return v == null ? null : ((QmpJson.Number) v).asLong();
    }

    /** The URI of {@code uri}, or of {@code channels}' one main channel, as QEMU's qmp_migrate takes either. */
    private static String uri(Map<String, Object> a) throws QmpError {
        Object uri = a.get("uri");
        Object channels = a.get("channels");
        // QEMU's wordings (migration/migration.c, qmp_migrate and qemu_start_incoming_migration)
        if ((uri == null) == (channels == null)) {
            throw QmpError.generic("need either 'uri' or 'channels' argument");
        }
        if (uri != null) {
            return (String) uri;
        }
        List<?> list = (List<?>) channels;
        if (list.size() > 1) {
            throw QmpError.generic("Channel list has more than one entries");
        }
        if (list.isEmpty() || !(list.get(0) instanceof Map<?, ?> channel)) {
            throw QmpError.generic("Invalid parameter type for 'channels[0]', expected: object");
        }
        if (!"main".equals(channel.get("channel-type"))) {
            throw QmpError.generic("Parameter 'channel-type' does not accept value '" + channel.get("channel-type")
                    + "' (jvfio has the main channel only)");
        }
        if (!(channel.get("addr") instanceof Map<?, ?> addr)) {
            throw QmpError.generic("Parameter 'channels[0].addr' is missing");
        }
        Object transport = addr.get("transport");
        if ("socket".equals(transport) && "unix".equals(addr.get("type")) && addr.get("path") instanceof String path) {
            return "unix:" + path;
        }
        if ("file".equals(transport) && addr.get("filename") instanceof String file) {
            if (addr.get("offset") instanceof QmpJson.Number n && !"0".equals(n.text())) {
                throw QmpError.generic("a file: migration at an offset is not in jvfio: give offset 0 or none");
            }
            return "file:" + file;
        }
        throw QmpError.generic("jvfio migrates over {\"transport\": \"socket\", \"type\": \"unix\", \"path\": ...} or "
                + "{\"transport\": \"file\", \"filename\": ...}; not " + QmpJson.typeName(addr) + " " + addr);
    }

    /** query-migrate's answer: QEMU's MigrationInfo, {} before any migration. */
    static Map<String, Object> info(MigrationInfo i) {
        Map<String, Object> m = new LinkedHashMap<>();
        if (i.status() == MigrationStatus.NONE) {
            return m; // as QEMU: no migration has happened yet
        }
        m.put("status", i.status().qapi());
        if (i.totalTimeMs() != null) {
            m.put("total-time", i.totalTimeMs());
        }
        if (i.downtimeMs() != null) {
            m.put("downtime", i.downtimeMs());
        }
        if (i.expectedDowntimeMs() != null) {
            m.put("expected-downtime", i.expectedDowntimeMs());
        }
        if (i.setupTimeMs() != null) {
            m.put("setup-time", i.setupTimeMs());
        }
        if (i.ram() != null) {
            MigrationInfo.Ram r = i.ram();
            Map<String, Object> ram = new LinkedHashMap<>();
            ram.put("transferred", r.transferred());
            ram.put("remaining", r.remaining());
            ram.put("total", r.total());
            ram.put("duplicate", r.duplicate());
            ram.put("normal", r.normal());
            ram.put("normal-bytes", r.normalBytes());
            ram.put("dirty-pages-rate", r.dirtyPagesRate());
            ram.put("mbps", r.mbps());
            ram.put("dirty-sync-count", r.dirtySyncCount());
            ram.put("pages-per-second", r.pagesPerSecond());
            m.put("ram", ram);
        }
        if (i.errorDesc() != null) {
            m.put("error-desc", i.errorDesc());
        }
        return m;
    }
}
