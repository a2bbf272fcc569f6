package io.jvfio.qmp;

import java.io.IOException;
import java.io.InputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * A management layer's side of the monitor, as a test drives it: a raw UNIX socket, JSON a line out, each
 * message in read as its own line (QEMU's monitor ends each with CR LF) and kept as its text and its value.
 */
public final class QmpTestClient implements AutoCloseable {

    /** One message from the monitor. */
    public record Message(String text, Object value) {
        @SuppressWarnings("unchecked")
        public Map<String, Object> map() {
            return (Map<String, Object>) value;
        }

        public boolean isEvent() {
            return map().containsKey("event");
        }
    }

    static final Duration TIMEOUT = Duration.ofSeconds(30);

    private final SocketChannel channel;
    private final BlockingQueue<Message> incoming = new ArrayBlockingQueue<>(10_000);
    private final Deque<Message> events = new ArrayDeque<>();
    private final Thread reader;

    private QmpTestClient(SocketChannel channel) {
        this.channel = channel;
        reader = new Thread(this::readLines, "qmp-test-client");
        reader.setDaemon(true);
        reader.start();
    }

    public static QmpTestClient connect(Path socket) throws IOException {
        SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        ch.connect(UnixDomainSocketAddress.of(socket));
        return new QmpTestClient(ch);
    }

    /** Connects, checks the greeting, and negotiates. */
    public static QmpTestClient negotiated(Path socket) throws Exception {
        QmpTestClient c = connect(socket);
        Message greeting = c.next();
        assertNotNull(greeting.map().get("QMP"), greeting.text());
        assertEquals("{\"return\":{}}", c.execute("{\"execute\":\"qmp_capabilities\"}").text());
        return c;
    }

    private void readLines() {
        try (InputStream in = Channels.newInputStream(channel)) {
            StringBuilder line = new StringBuilder();
            java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
            for (int b = in.read(); b >= 0; b = in.read()) {
                bytes.write(b);
                if (b == '\n') {
                    String text = bytes.toString(StandardCharsets.UTF_8);
                    bytes.reset();
                    if (!text.endsWith("\r\n")) {
                        throw new AssertionError("a QMP message not ended by CR LF: " + text);
                    }
                    text = text.substring(0, text.length() - 2);
                    incoming.put(new Message(text, parse(text)));
                }
            }
            assert line.length() == 0;
        } catch (IOException | InterruptedException e) {
            // closed
        }
    }

    static Object parse(String text) {
        List<Object> values = new ArrayList<>();
        List<String> errors = new ArrayList<>();
        QmpJsonReader r = new QmpJsonReader(new QmpJsonReader.Sink() {
            @Override
            public void value(Object value) {
                values.add(value);
            }

            @Override
            public void error(String description) {
                errors.add(description);
            }
        });
        byte[] b = (text + "\n").getBytes(StandardCharsets.UTF_8);
        r.feed(b, 0, b.length);
        if (values.size() != 1 || !errors.isEmpty()) {
            throw new AssertionError("not one JSON value: " + text + " " + errors);
        }
        return values.get(0);
    }

    public void send(String text) throws IOException {
        sendBytes((text + "\n").getBytes(StandardCharsets.UTF_8));
    }

    void sendBytes(byte[] bytes) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(bytes);
        while (b.hasRemaining()) {
            channel.write(b);
        }
    }

    /** The next message (event or not), within the timeout. */
    public Message next() throws InterruptedException {
        Message m = incoming.poll(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        if (m == null) {
            fail("no message from the monitor within " + TIMEOUT.toSeconds() + " s");
        }
        return m;
    }

    /** The next answer (not an event; events met on the way are kept for {@link #event}). */
    public Message answer() throws InterruptedException {
        for (;;) {
            Message m = next();
            if (m.isEvent()) {
                events.add(m);
            } else {
                return m;
            }
        }
    }

    public Message execute(String request) throws Exception {
        send(request);
        return answer();
    }

    /** The next event, kept or still to come. */
    public Message event() throws InterruptedException {
        if (!events.isEmpty()) {
            return events.poll();
        }
        Message m = next();
        if (!m.isEvent()) {
            fail("an answer where an event was expected: " + m.text());
        }
        return m;
    }

    /** Whether nothing more has come within {@code millis}; a message that came is taken. */
    boolean quietFor(long millis) throws InterruptedException {
        if (events.poll() != null) {
            return false; // an event kept from before: taken
        }
        return incoming.poll(millis, TimeUnit.MILLISECONDS) == null;
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
