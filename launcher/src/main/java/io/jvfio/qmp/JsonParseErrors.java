package io.jvfio.qmp;

import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * jackson-core's parse errors in QEMU's words. QEMU's lexer (qobject/json-lexer.c) and streamer
 * (qobject/json-streamer.c, json_message_process_token) report a character that starts no token, and a
 * token the lexer cannot finish (a control character or a 0xFE/0xFF byte in a string, a bad escape, a
 * broken number), as {@code JSON parse error, stray '...'} with the token so far; its parser
 * (qobject/json-parser.c, parse_error) words the syntax errors: {@code expecting value},
 * {@code key is not a string in object}, {@code missing : in object pair}, {@code expected separator in
 * dict}, {@code expected separator in list}, {@code invalid keyword 'x'}, {@code duplicate key},
 * {@code invalid UTF-8 sequence in string}. An error QEMU's grammar has no word for (a number with leading
 * zeroes, which QEMU's lexer takes as two numbers) keeps jackson's words after {@code JSON parse error, }.
 * A character that is not UTF-8 is shown as U+FFFD, as QEMU's JSON writer shows it.
 */
final class JsonParseErrors {

    private static final Pattern UNEXPECTED = Pattern.compile("^(?:Unexpected|Illegal) character \\(.*?code (\\d+)");
    private static final Pattern UNRECOGNIZED = Pattern.compile("^Unrecognized token '([^']*)'");
    private static final Pattern BAD_START_BYTE = Pattern.compile("^Invalid UTF-8 start byte 0x([0-9a-fA-F]+)");

    private JsonParseErrors() {
    }

    /**
     * QEMU's description of the error jackson reported as {@code message}, where {@code data[errorAt]} is
     * the byte it stopped at (bytes before {@code from} are no longer at hand) and {@code inObject} says
     * whether the innermost open container is an object.
     */
    static String describe(String message, byte[] data, int from, int errorAt, boolean inObject) {
        String m = message == null ? "" : message;
        if (m.startsWith("Duplicate field")) {
            return "JSON parse error, duplicate key";
        }
        Matcher token = UNRECOGNIZED.matcher(m);
        if (token.find()) {
            String word = token.group(1);
            int lower = lowercaseRun(word);
            if (lower == word.length()) {
                return "JSON parse error, invalid keyword '" + word + "'";
            }
            return stray(String.valueOf(word.charAt(lower))); // QEMU's keywords are [a-z]+: the next is stray
        }
        if (m.startsWith("Unrecognized character escape")) {
            return stray(partialString(data, from, errorAt));
        }
        if (m.startsWith("Illegal unquoted character")) {
            int at = errorAt;
            while (at + 1 < data.length && (data[at] & 0xff) >= 0x20) {
                at++; // to the control character itself, which QEMU's token ends with
            }
            return stray(partialString(data, from, at));
        }
        Matcher bad = BAD_START_BYTE.matcher(m);
        if (bad.find() && Integer.parseInt(bad.group(1), 16) >= 0xfe) {
            return stray(partialString(data, from, errorAt)); // QEMU's lexer takes 0x20..0xFD in a string
        }
        if (m.startsWith("Invalid UTF-8")) {
            return "JSON parse error, invalid UTF-8 sequence in string";
        }
        if (m.startsWith("Unexpected close marker")) {
            char before = previousNonBlank(data, from, errorAt);
            if (m.contains("no open") || before == ',' || before == '{' || before == '[') {
                return "JSON parse error, expecting value";
            }
            return "JSON parse error, expected separator in " + (inObject ? "dict" : "list");
        }
        Matcher unexpected = UNEXPECTED.matcher(m);
        if (unexpected.find()) {
            int c = Integer.parseInt(unexpected.group(1)) & 0xffff;
            if (m.contains("in numeric value")) {
                return stray(partialNumber(data, from, errorAt));
            }
            if (c > 0xff) {
                c &= 0xff; // jackson sign-extended the byte
            }
            if (!startsToken(c)) {
                return stray(c < 0x80 ? String.valueOf((char) c) : "\uFFFD");
            }
            if (m.contains("was expecting a colon")) {
                return "JSON parse error, missing : in object pair";
            }
            if (m.contains("to separate Object entries")) {
                return "JSON parse error, expected separator in dict";
            }
            if (m.contains("to separate Array entries")) {
                return "JSON parse error, expected separator in list";
            }
            if (m.contains("to start field name")) {
                if (c == '-' || c >= '0' && c <= '9') {
                    return "JSON parse error, key is not a string in object";
                }
                if (c >= 'a' && c <= 'z') {
                    String word = lowercaseAt(data, errorAt);
                    return word.equals("true") || word.equals("false") || word.equals("null")
                            ? "JSON parse error, key is not a string in object"
                            : "JSON parse error, invalid keyword '" + word + "'";
                }
            }
            return "JSON parse error, expecting value";
        }
        return "JSON parse error, " + m;
    }

    /** Whether QEMU's lexer starts a token with byte {@code c} (else it is stray). */
    private static boolean startsToken(int c) {
        return c == '"' || c == '\'' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || "{}[],:".indexOf(c) >= 0
                || c == ' ' || c == '\t' || c == '\n' || c == '\r';
    }

    private static String stray(String token) {
        // QEMU's wording (qobject/json-streamer.c, json_message_process_token)
        return "JSON parse error, stray '" + token + "'";
    }

    private static int lowercaseRun(String s) {
        int i = 0;
        while (i < s.length() && s.charAt(i) >= 'a' && s.charAt(i) <= 'z') {
            i++;
        }
        return i;
    }

    private static String lowercaseAt(byte[] data, int at) {
        int end = at;
        while (end < data.length && data[end] >= 'a' && data[end] <= 'z') {
            end++;
        }
        return new String(data, at, end - at, StandardCharsets.US_ASCII);
    }

    private static char previousNonBlank(byte[] data, int from, int at) {
        for (int i = at - 1; i >= from; i--) {
            if (data[i] != ' ' && data[i] != '\t' && data[i] != '\n' && data[i] != '\r') {
                return (char) data[i];
            }
        }
        return 0;
    }

    /** The string token up to and with the byte QEMU's lexer stopped at: from its opening quote, if at hand. */
    private static String partialString(byte[] data, int from, int at) {
        int start = at;
        for (int i = at - 1; i >= from; i--) {
            if ((data[i] == '"' || data[i] == '\'') && (i == from || data[i - 1] != '\\')) {
                start = i;
                break;
            }
        }
        return text(data, start, Math.min(at + 1, data.length));
    }

    /** The number token up to and with the byte that broke it. */
    private static String partialNumber(byte[] data, int from, int at) {
        int start = at;
        while (start > from && "0123456789+-.eE".indexOf(data[start - 1]) >= 0) {
            start--;
        }
        return text(data, start, Math.min(at + 1, data.length));
    }

    /** Bytes as text, each byte that is not part of UTF-8 as U+FFFD (QEMU's writer does the same). */
    private static String text(byte[] data, int start, int end) {
        return new String(data, start, end - start, StandardCharsets.UTF_8);
    }
}
