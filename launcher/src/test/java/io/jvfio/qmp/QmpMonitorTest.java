package io.jvfio.qmp;

import io.jvfio.machine.VirtualMachine;
import io.jvfio.vfio.devices.EduDevice;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The monitor driven as a management layer drives it, over its UNIX socket, of a machine without KVM
 * (-accel none) with QEMU's edu device written in Java attached in process: the greeting and negotiation,
 * each command, every kind of bad input with QEMU's error class and wording, events reaching every
 * negotiated client, a client leaving mid-command, and fuzzed input, after all of which the machine
 * runs and the other clients are answered.
 */
@Timeout(300)
class QmpMonitorTest {

    @TempDir
    Path dir;
    private Path socket;
    private EduDevice edu;
    private VirtualMachine vm;
    private QmpMonitor monitor;

    @BeforeEach
    void open() {
        socket = dir.resolve("qmp.sock");
        edu = new EduDevice();
        vm = VirtualMachine.builder().memory("64M").accelerator(VirtualMachine.Accelerator.NONE).device("edu", edu)
                .build();
        monitor = QmpMonitor.open(vm, QmpChardev.parse("unix:" + socket + ",server=on,wait=off"), "1.2.3-test",
                null, null);
    }

    @AfterEach
    void close() {
        monitor.close();
        vm.close();
        edu.close();
        assertFalse(Files.exists(socket), "the socket file is removed with the monitor");
    }

    @Test
    void greetingAndNegotiation() throws Exception {
        try (QmpTestClient c = QmpTestClient.connect(socket)) {
            assertEquals("{\"QMP\":{\"version\":{\"qemu\":{\"micro\":0,\"minor\":2,\"major\":9},\"package\":"
                    + "\"jvfio 1.2.3-test\"},\"capabilities\":[]}}", c.next().text());
            // Before negotiation, only qmp_capabilities.
            assertEquals("{\"error\":{\"class\":\"CommandNotFound\",\"desc\":\"Expecting capabilities negotiation "
                    + "with 'qmp_capabilities'\"},\"id\":1}", c.execute("{\"execute\":\"query-status\",\"id\":1}")
                    .text());
            assertEquals("{\"error\":{\"class\":\"GenericError\",\"desc\":\"Capability oob not available\"}}",
                    c.execute("{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":[\"oob\"]}}").text());
            assertEquals("{\"return\":{},\"id\":\"neg\"}",
                    c.execute("{\"execute\":\"qmp_capabilities\",\"id\":\"neg\"}").text());
            assertEquals("{\"error\":{\"class\":\"CommandNotFound\",\"desc\":\"Capabilities negotiation is already "
                    + "complete, command ignored\"}}", c.execute("{\"execute\":\"qmp_capabilities\"}").text());
            assertEquals("{\"return\":{\"running\":true,\"status\":\"running\"}}",
                    c.execute("{\"execute\":\"query-status\"}").text());
        }
    }

    @Test
    void idIsEchoedVerbatim() throws Exception {
        try (QmpTestClient c = QmpTestClient.negotiated(socket)) {
            for (String id : List.of("1", "-7", "1.50", "\"x\"", "null", "true", "[1,{\"a\":[]}]",
                    "{\"n\":{\"deep\":\"é\\u2028\"}}")) {
                String answer = c.execute("{\"execute\":\"query-version\",\"id\":" + id + "}").text();
                String sent = new String(QmpJson.message(QmpTestClient.parse(id)), StandardCharsets.UTF_8).strip();
                assertTrue(answer.startsWith("{\"return\":{\"qemu\"") && answer.endsWith(",\"id\":" + sent + "}"),
                        id + " -> " + answer);
            }
            assertTrue(c.execute("{\"execute\":\"query-version\",\"id\":1.50}").text().endsWith(",\"id\":1.50}"),
                    "a number goes back as it was written");
        }
    }

    @Test
    void commands() throws Exception {
        try (QmpTestClient c = QmpTestClient.negotiated(socket)) {
            assertEquals("{\"return\":{\"qemu\":{\"micro\":0,\"minor\":2,\"major\":9},\"package\":\"jvfio 1.2.3-test\"}}",
                    c.execute("{\"execute\":\"query-version\"}").text());
            String names = c.execute("{\"execute\":\"query-commands\"}").text();
            for (String n : List.of("qmp_capabilities", "query-version", "query-commands", "query-status", "stop",
                    "cont", "system_reset", "quit", "query-pci", "x-query-interrupts")) {
                assertTrue(names.contains("{\"name\":\"" + n + "\"}"), n + " in " + names);
            }

            assertEquals("{\"return\":{}}", c.execute("{\"execute\":\"stop\"}").text());
            assertEquals("STOP", c.event().map().get("event"));
            assertEquals("{\"return\":{\"running\":false,\"status\":\"paused\"}}",
                    c.execute("{\"execute\":\"query-status\"}").text());
            assertEquals("{\"return\":{}}", c.execute("{\"execute\":\"stop\"}").text());
            assertTrue(c.quietFor(200), "a stop of a paused machine sends no STOP (as QEMU)");
            assertEquals("{\"return\":{}}", c.execute("{\"execute\":\"cont\"}").text());
            QmpTestClient.Message resume = c.event();
            assertEquals("RESUME", resume.map().get("event"));
            Map<?, ?> ts = (Map<?, ?>) resume.map().get("timestamp");
            long seconds = ((QmpJson.Number) ts.get("seconds")).asLong();
            long micros = ((QmpJson.Number) ts.get("microseconds")).asLong();
            assertTrue(Math.abs(seconds - System.currentTimeMillis() / 1000) < 60 && micros >= 0 && micros < 1_000_000,
                    resume.text());
            assertFalse(resume.map().containsKey("data"), resume.text());
            assertEquals("{\"return\":{\"running\":true,\"status\":\"running\"}}",
                    c.execute("{\"execute\":\"query-status\"}").text());

            assertEquals("{\"return\":{}}", c.execute("{\"execute\":\"system_reset\"}").text());
            QmpTestClient.Message reset = c.event();
            assertEquals("RESET", reset.map().get("event"));
            assertEquals("{\"guest\":false,\"reason\":\"host-qmp-system-reset\"}",
                    reset.text().substring(reset.text().indexOf("\"data\":") + 7, reset.text().length() - 1));

            String pci = c.execute("{\"execute\":\"query-pci\"}").text();
            // The host bridge at 00.0 and edu (1234:11e8, class 00ff) after it, with its BARs.
            assertTrue(pci.startsWith("{\"return\":[{\"bus\":0,\"devices\":[{\"bus\":0,\"slot\":0,\"function\":0,"
                    + "\"class_info\":{\"desc\":\"Host bridge\",\"class\":1536}"), pci);
            assertTrue(pci.contains("\"id\":{\"device\":4584,\"vendor\":4660,"), pci);
            assertTrue(pci.contains("{\"bar\":0,\"type\":\"memory\",\"address\":0,\"size\":1048576,\"prefetch\":false,"
                    + "\"mem_type_64\":false}"), pci);

            String irqs = c.execute("{\"execute\":\"x-query-interrupts\"}").text();
            assertTrue(irqs.startsWith("{\"return\":[{\"qdev_id\":\"\",\"slot\":"), irqs);
        }
    }

    @Test
    void barAddressesAsProgrammed() throws Exception {
        // The guest programs BAR0: query-pci shows the new address.
        io.jvfio.vmm.pci.PciDevFn at = vm.devices().attached().get(0).at();
        vm.bridge().configWrite(at.devfn(), 0x10, 4, 0xfe000000);
        try (QmpTestClient c = QmpTestClient.negotiated(socket)) {
            String pci = c.execute("{\"execute\":\"query-pci\"}").text();
            assertTrue(pci.contains("{\"bar\":0,\"type\":\"memory\",\"address\":" + 0xfe000000L + ","), pci);
        }
    }

    @Test
    void badInputGetsQemusErrors() throws Exception {
        try (QmpTestClient c = QmpTestClient.negotiated(socket)) {
            String g = "{\"error\":{\"class\":\"GenericError\",\"desc\":\"";
            assertEquals(g + "QMP input must be a JSON object\"}}", c.execute("[1,2]").text());
            assertEquals(g + "QMP input must be a JSON object\"}}", c.execute("\"query-status\"").text());
            assertEquals(g + "QMP input lacks member 'execute'\"},\"id\":5}", c.execute("{\"id\":5}").text());
            assertEquals(g + "QMP input member 'execute' must be a string\"}}", c.execute("{\"execute\":1}").text());
            assertEquals(g + "QMP input member 'arguments' must be an object\"}}",
                    c.execute("{\"execute\":\"stop\",\"arguments\":[]}").text());
            assertEquals(g + "QMP input member 'bogus' is unexpected\"}}",
                    c.execute("{\"execute\":\"stop\",\"bogus\":1}").text());
            assertEquals("{\"error\":{\"class\":\"CommandNotFound\",\"desc\":\"The command device_list has not been "
                    + "found\"},\"id\":\"a\"}", c.execute("{\"execute\":\"device_list\",\"id\":\"a\"}").text());
            assertEquals(g + "Parameter 'force' is unexpected\"}}",
                    c.execute("{\"execute\":\"stop\",\"arguments\":{\"force\":true}}").text());
            assertEquals(g + "Invalid parameter type for 'enable', expected: array\"}}",
                    c.execute("{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":\"oob\"}}").text());
            // Malformed JSON: an error, and the next line is read.
            String parse = c.execute("{\"execute\": \"stop\",,}").text();
            assertTrue(parse.startsWith(g + "JSON parse error, "), parse);
            assertEquals("{\"return\":{\"running\":true,\"status\":\"running\"}}",
                    c.execute("{\"execute\":\"query-status\"}").text());
            String bytes = c.execute("\u0001\u00ff garbage").text();
            assertTrue(bytes.startsWith(g + "JSON parse error, "), bytes);
            assertEquals("{\"return\":{\"running\":true,\"status\":\"running\"}}",
                    c.execute("{\"execute\":\"query-status\"}").text());
        }
    }

    @Test
    void missingAndMistypedArguments() {
        QmpCommand c = new QmpCommand("x", List.of(new QmpCommand.Parameter("id", "string", false),
                new QmpCommand.Parameter("n", "integer", true)), a -> Map.of());
        assertError("Parameter 'id' is missing", c, Map.of());
        assertError("Invalid parameter type for 'id', expected: string", c, Map.of("id", new QmpJson.Number("1")));
        assertError("Invalid parameter type for 'n', expected: integer", c, Map.of("id", "a", "n", "1"));
        assertError("Invalid parameter type for 'n', expected: integer", c, Map.of("id", "a",
                "n", new QmpJson.Number("1.5")));
        assertError("Parameter 'm' is unexpected", c, Map.of("id", "a", "m", "1"));
    }

    private static void assertError(String expected, QmpCommand c, Map<String, Object> arguments) {
        try {
            c.check(arguments);
            throw new AssertionError("accepted " + arguments);
        } catch (QmpError e) {
            assertEquals(QmpError.ErrorClass.GenericError, e.errorClass());
            assertEquals(expected, e.getMessage());
        }
    }

    @Test
    void eventsReachEveryNegotiatedClient() throws Exception {
        try (QmpTestClient a = QmpTestClient.negotiated(socket);
             QmpTestClient b = QmpTestClient.negotiated(socket);
             QmpTestClient unnegotiated = QmpTestClient.connect(socket)) {
            unnegotiated.next(); // the greeting
            assertEquals("{\"return\":{}}", a.execute("{\"execute\":\"stop\"}").text());
            assertEquals("STOP", a.event().map().get("event"));
            assertEquals("STOP", b.event().map().get("event"));
            assertEquals("{\"return\":{}}", b.execute("{\"execute\":\"cont\"}").text());
            assertEquals("RESUME", b.event().map().get("event"));
            assertEquals("RESUME", a.event().map().get("event"));
            assertTrue(unnegotiated.quietFor(200), "a client still negotiating gets no events (as QEMU)");
            // Each keeps its own negotiation.
            assertEquals("{\"error\":{\"class\":\"CommandNotFound\",\"desc\":\"Expecting capabilities negotiation "
                    + "with 'qmp_capabilities'\"}}", unnegotiated.execute("{\"execute\":\"stop\"}").text());
        }
    }

    @Test
    void aClientLeavingMidCommandHurtsNobody() throws Exception {
        try (QmpTestClient stays = QmpTestClient.negotiated(socket)) {
            for (int i = 0; i < 20; i++) {
                QmpTestClient leaves = QmpTestClient.negotiated(socket);
                // Commands queued, one half-sent, and the client gone before the answers.
                leaves.send("{\"execute\":\"query-pci\"}\n{\"execute\":\"system_reset\"}\n{\"execute\":\"query-");
                leaves.close();
            }
            assertEquals("{\"return\":{\"running\":true,\"status\":\"running\"}}",
                    stays.execute("{\"execute\":\"query-status\"}").text());
            // The resets of the clients that left reached the one that stayed as events.
            int resets = 0;
            while (!stays.quietFor(300)) {
                resets++;
            }
            assertTrue(resets <= 20, "at most one RESET per client that left: " + resets);
        }
    }

    @Test
    void fuzzedInputNeverStopsTheMachine() throws Exception {
        Random random = new Random(17);
        try (QmpTestClient observer = QmpTestClient.negotiated(socket)) {
            for (int round = 0; round < 30; round++) {
                try (QmpTestClient fuzz = QmpTestClient.negotiated(socket)) {
                    byte[] junk = new byte[random.nextInt(4096) + 1];
                    random.nextBytes(junk);
                    fuzz.sendBytes(junk);
                    fuzz.send("");
                    fuzz.send(List.of("{", "}", "[", "]", "{\"execute\":", "{\"execute\":{}}", "{\"arguments\":1}",
                            "{\"execute\":\"query-status\",\"arguments\":{\"x\":[[[[",
                            "{\"execute\":\"cont\",\"id\":" + "[".repeat(2000) + "}").get(round % 9));
                    // After its garbage the client resets the parser as QEMU's clients do (a 0xFF byte, never
                    // valid JSON; here, with the newline after it, the reader starts afresh), and is answered:
                    // its errors first, in order, then the command.
                    fuzz.sendBytes(new byte[] {(byte) 0xff, '\n'});
                    fuzz.send("{\"execute\":\"query-status\",\"id\":\"after\"}");
                    String answer;
                    int errors = 0;
                    for (answer = fuzz.answer().text(); !answer.contains("\"id\":\"after\""); answer = fuzz.answer()
                            .text()) {
                        assertTrue(answer.startsWith("{\"error\":{\"class\":"), answer);
                        errors++;
                    }
                    assertTrue(errors >= 1, "the 0xFF byte is an error at least");
                    assertTrue(answer.startsWith("{\"return\":{\"running\":true"), answer);
                }
            }
            // A message over the bound: one error, and the connection goes on.
            try (QmpTestClient huge = QmpTestClient.negotiated(socket)) {
                huge.send("{\"execute\":\"query-status\",\"id\":\"" + "x".repeat(2 * QmpJsonReader.MAX_MESSAGE)
                        + "\"}");
                assertEquals("{\"error\":{\"class\":\"GenericError\",\"desc\":\"JSON token size limit exceeded\"}}",
                        huge.answer().text());
                assertEquals("{\"return\":{\"running\":true,\"status\":\"running\"},\"id\":2}",
                        huge.execute("{\"execute\":\"query-status\",\"id\":2}").text());
            }
            try (QmpTestClient deep = QmpTestClient.negotiated(socket)) {
                deep.send("[".repeat(QmpJsonReader.MAX_NESTING + 1) + "]".repeat(QmpJsonReader.MAX_NESTING + 1));
                assertEquals("{\"error\":{\"class\":\"GenericError\",\"desc\":\"JSON nesting depth limit exceeded\"}}",
                        deep.answer().text());
                assertEquals("{\"return\":{\"running\":true,\"status\":\"running\"}}",
                        deep.execute("{\"execute\":\"query-status\"}").text());
            }
            assertEquals("{\"return\":{\"running\":true,\"status\":\"running\"}}",
                    observer.execute("{\"execute\":\"query-status\"}").text());
        }
    }

    /** QEMU's answer to bad input: a GenericError (or CommandNotFound) with {@code desc}, and the id if any. */
    private static String error(String desc) {
        return "{\"error\":{\"class\":\"GenericError\",\"desc\":\"" + desc + "\"}}";
    }

    /**
     * Hand-picked bad input, each with the answer QEMU gives it (its wording checked in qobject/json-lexer.c,
     * json-streamer.c, json-parser.c, qapi/qmp-dispatch.c, qobject-input-visitor.c), sent by four clients at
     * once; then the machine is as it was (run state, query-pci, no event) and a client that sent nothing
     * bad is answered.
     */
    @Test
    void handPickedBadInputGetsQemusAnswersFromSeveralClients() throws Exception {
        String huge = "x".repeat(QmpJsonReader.MAX_MESSAGE + 10);
        Object[][] cases = {
            // malformed JSON: QEMU's parser and lexer words
            {"{\"execute\": \"stop\",,}", error("JSON parse error, expecting value")},
            {"{\"execute\" \"stop\"}", error("JSON parse error, missing : in object pair")},
            {"{\"execute\":\"stop\" \"id\":1}", error("JSON parse error, expected separator in dict")},
            {"[1 2]", error("JSON parse error, expected separator in list")},
            {"{\"execute\":\"stop\"]", error("JSON parse error, expected separator in dict")},
            {"}", error("JSON parse error, expecting value")},
            {"{\"execute\":tru}", error("JSON parse error, invalid keyword 'tru'")},
            {"{1:2}", error("JSON parse error, key is not a string in object")},
            {"{\"execute\":\"stop\",\"execute\":\"cont\"}", error("JSON parse error, duplicate key")},
            {"@", error("JSON parse error, stray '@'")},
            {"{\"execute\":True}", error("JSON parse error, stray 'T'")},
            {"{\"execute\":\"\\q\"}", error("JSON parse error, stray '\\\"\\\\q'")},
            {new byte[] {(byte) 0xff}, error("JSON parse error, stray '\uFFFD'")},
            {new byte[] {'{', '"', 'e', 'x', 'e', 'c', 'u', 't', 'e', '"', ':', '"', (byte) 0xc3, '(', '"', '}'},
                error("JSON parse error, invalid UTF-8 sequence in string")},
            // truncated: the value goes on over the next line, as in QEMU, and is then what it is
            {"{\"execute\":\n{\"execute\":\"query-status\"}}", error("QMP input member 'execute' must be a string")},
            // deep, huge, over the reader's bound
            {"[".repeat(QmpJsonReader.MAX_NESTING + 1), error("JSON nesting depth limit exceeded")},
            {"{\"execute\":\"query-status\",\"id\":\"" + huge + "\"}", error("JSON token size limit exceeded")},
            {"[" + "1,".repeat(QmpJsonReader.MAX_MESSAGE / 2 + 10) + "1]", error("JSON token size limit exceeded")},
            {"{\"execute\":\"query-status\",\"arguments\":{\"n\":" + "9".repeat(100_000) + "}}",
                error("Parameter 'n' is unexpected")},
            // not an object, members of the wrong type, unknown keys and commands
            {"[]", error("QMP input must be a JSON object")},
            {"\"query-status\"", error("QMP input must be a JSON object")},
            {"1e999", error("QMP input must be a JSON object")},
            {"null", error("QMP input must be a JSON object")},
            {"{\"execute\":[\"stop\"],\"id\":3}", error("QMP input member 'execute' must be a string")
                .replace("}}", "},\"id\":3}")},
            {"{\"execute\":\"stop\",\"arguments\":\"now\"}", error("QMP input member 'arguments' must be an object")},
            {"{\"execute\":\"stop\",\"arguments\":{\"now\":true}}", error("Parameter 'now' is unexpected")},
            {"{\"execute\":\"stop\",\"exec-oob\":\"stop\"}", error("QMP input member 'exec-oob' is unexpected")},
            {"{\"exec\":\"stop\"}", error("QMP input member 'exec' is unexpected")},
            {"{\"id\":{\"a\":[1]}}", error("QMP input lacks member 'execute'").replace("}}", "},\"id\":{\"a\":[1]}}")},
            {"{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":[1]}}",
                error("Invalid parameter type for 'enable[0]', expected: string")},
            {"{\"execute\":\"qmp_capabilities\"}", "{\"error\":{\"class\":\"CommandNotFound\",\"desc\":\"Capabilities "
                + "negotiation is already complete, command ignored\"}}"},
            {"{\"execute\":\"Stop\"}", "{\"error\":{\"class\":\"CommandNotFound\",\"desc\":\"The command Stop has not "
                + "been found\"}}"},
            // QEMU takes single-quoted strings
            {"{'execute':'query-status'}", "{\"return\":{\"running\":true,\"status\":\"running\"}}"},
        };
        String pciBefore;
        try (QmpTestClient observer = QmpTestClient.negotiated(socket)) {
            pciBefore = observer.execute("{\"execute\":\"query-pci\"}").text();
            List<java.util.concurrent.Future<?>> clients = new java.util.ArrayList<>();
            java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(4);
            try {
                for (int n = 0; n < 4; n++) {
                    clients.add(pool.submit(() -> {
                        try (QmpTestClient c = QmpTestClient.negotiated(socket)) {
                            for (Object[] k : cases) {
                                byte[] in = k[0] instanceof byte[] b ? b : ((String) k[0]).getBytes(StandardCharsets.UTF_8);
                                c.sendBytes(in);
                                c.send("");
                                String what = k[0] instanceof String t && t.length() < 200 ? t : in.length + " bytes";
                                assertEquals(k[1], c.answer().text(), what);
                            }
                        }
                        return null;
                    }));
                }
                for (java.util.concurrent.Future<?> f : clients) {
                    f.get(120, java.util.concurrent.TimeUnit.SECONDS);
                }
            } finally {
                pool.shutdownNow();
            }
            assertMachineAsItWas(observer, pciBefore);
        }
    }

    /**
     * Seeded random input from several clients at once: commands mutated byte by byte, cut short, spliced
     * with garbage, interleaved with valid lines, and clients that close mid-message. Every answer to bad
     * input is an error in one of QEMU's wordings, every valid line is answered, and the machine is as it was.
     */
    @Test
    void seededRandomInputFromSeveralClients() throws Exception {
        List<String> commands = List.of("{\"execute\":\"query-status\"}", "{\"execute\":\"query-version\",\"id\":7}",
                "{\"execute\":\"query-pci\",\"arguments\":{}}", "{\"execute\":\"x-query-interrupts\",\"id\":[1,{}]}");
        java.util.regex.Pattern qemu = java.util.regex.Pattern.compile("\\{\"error\":\\{\"class\":\"(GenericError|"
                + "CommandNotFound)\",\"desc\":\"(JSON parse error, .*|JSON (token size|nesting depth) limit exceeded"
                + "|QMP input (must be a JSON object|member '.*' (must be a string|must be an object|is unexpected)"
                + "|lacks member 'execute')|Parameter '.*' is unexpected|Invalid parameter type for '.*', expected: .*"
                + "|The command .* has not been found)\"}(,\"id\":.*)?}");
        String pciBefore;
        try (QmpTestClient observer = QmpTestClient.negotiated(socket)) {
            pciBefore = observer.execute("{\"execute\":\"query-pci\"}").text();
            java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(4);
            List<java.util.concurrent.Future<Integer>> clients = new java.util.ArrayList<>();
            try {
                for (int n = 0; n < 4; n++) {
                    long seed = 17_000 + n;
                    clients.add(pool.submit(() -> fuzzOneClient(new Random(seed), commands, qemu)));
                }
                int errors = 0;
                for (java.util.concurrent.Future<Integer> f : clients) {
                    errors += f.get(240, java.util.concurrent.TimeUnit.SECONDS);
                }
                assertTrue(errors > 100, "the random input was mostly bad: " + errors + " errors");
            } finally {
                pool.shutdownNow();
            }
            assertMachineAsItWas(observer, pciBefore);
        }
    }

    /** One client's rounds of random input; returns how many errors it was answered. */
    private Integer fuzzOneClient(Random random, List<String> commands, java.util.regex.Pattern qemu) throws Exception {
        int errors = 0;
        for (int round = 0; round < 60; round++) {
            byte[] cmd = commands.get(random.nextInt(commands.size())).getBytes(StandardCharsets.UTF_8);
            byte[] bad = switch (random.nextInt(4)) {
                case 0 -> { // bytes flipped
                    byte[] b = cmd.clone();
                    for (int i = random.nextInt(3) + 1; i > 0; i--) {
                        b[random.nextInt(b.length)] = (byte) random.nextInt(256);
                    }
                    yield b;
                }
                case 1 -> java.util.Arrays.copyOf(cmd, random.nextInt(cmd.length)); // cut short
                case 2 -> { // garbage spliced in
                    byte[] junk = new byte[random.nextInt(64) + 1];
                    random.nextBytes(junk);
                    int at = random.nextInt(cmd.length);
                    byte[] b = java.util.Arrays.copyOf(cmd, cmd.length + junk.length);
                    System.arraycopy(junk, 0, b, at, junk.length);
                    System.arraycopy(cmd, at, b, at + junk.length, cmd.length - at);
                    yield b;
                }
                default -> { // pure noise
                    byte[] junk = new byte[random.nextInt(512) + 1];
                    random.nextBytes(junk);
                    yield junk;
                }
            };
            if (random.nextInt(10) == 0) {
                // A client that leaves mid-message.
                try (QmpTestClient leaves = QmpTestClient.negotiated(socket)) {
                    leaves.sendBytes(java.util.Arrays.copyOf(cmd, cmd.length / 2));
                }
            }
            try (QmpTestClient c = QmpTestClient.negotiated(socket)) {
                c.sendBytes(bad);
                // The reset QEMU's clients send (0xFF is never valid JSON; the newline ends the line), then a
                // valid line: answered after the errors, whatever came before.
                c.sendBytes(new byte[] {'\n', (byte) 0xff, '\n'});
                c.send("{\"execute\":\"query-status\",\"id\":\"after\"}");
                for (String a = c.answer().text(); !a.equals("{\"return\":{\"running\":true,\"status\":\"running\"},"
                        + "\"id\":\"after\"}"); a = c.answer().text()) {
                    if (a.startsWith("{\"return\":")) {
                        continue; // the mutation left a valid query
                    }
                    assertTrue(qemu.matcher(a).matches(), "not one of QEMU's errors: " + a + " for "
                            + new String(bad, StandardCharsets.ISO_8859_1));
                    errors++;
                }
            }
        }
        return errors;
    }

    /** The run state, the bus, and no event: nothing the bad input did reached the machine. */
    private static void assertMachineAsItWas(QmpTestClient observer, String pciBefore) throws Exception {
        assertEquals("{\"return\":{\"running\":true,\"status\":\"running\"}}",
                observer.execute("{\"execute\":\"query-status\"}").text());
        assertEquals(pciBefore, observer.execute("{\"execute\":\"query-pci\"}").text());
        assertTrue(observer.quietFor(100), "no event (STOP, RESET, SHUTDOWN) came of the bad input");
    }

    @Test
    void valuesMaySpanPiecesAndShareLines() throws Exception {
        try (QmpTestClient c = QmpTestClient.negotiated(socket)) {
            byte[] two = "{\"execute\":\"query-status\",\"id\":1}{\"execute\":\n\"query-status\",\"id\":2}\n"
                    .getBytes(StandardCharsets.UTF_8);
            for (byte b : two) {
                c.sendBytes(new byte[] {b});
            }
            assertTrue(c.answer().text().endsWith("\"id\":1}"));
            assertTrue(c.answer().text().endsWith("\"id\":2}"));
        }
    }

    @Test
    void stdioIsOneClient() throws Exception {
        java.io.PipedOutputStream toMonitor = new java.io.PipedOutputStream();
        java.io.PipedInputStream in = new java.io.PipedInputStream(toMonitor);
        java.io.PipedInputStream fromMonitor = new java.io.PipedInputStream(1 << 16);
        java.io.PipedOutputStream out = new java.io.PipedOutputStream(fromMonitor);
        try (QmpMonitor stdio = QmpMonitor.open(vm, QmpChardev.parse("stdio"), "1.2.3-test", in, out)) {
            java.io.BufferedReader lines = new java.io.BufferedReader(new java.io.InputStreamReader(fromMonitor,
                    StandardCharsets.UTF_8));
            assertTrue(lines.readLine().startsWith("{\"QMP\":{\"version\""));
            toMonitor.write("{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"stop\",\"id\":7}\n"
                    .getBytes(StandardCharsets.UTF_8));
            toMonitor.flush();
            assertEquals("{\"return\":{}}", lines.readLine()); // readLine takes CR LF as one line end
            assertTrue(lines.readLine().contains("\"event\":\"STOP\""));
            assertEquals("{\"return\":{},\"id\":7}", lines.readLine());
            toMonitor.close();
        }
    }
}
